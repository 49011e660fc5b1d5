# Shared by the mallocbench-based benchmarks (bench/shim.sh, bench/guard.sh):
# builds the microbenchmark, runs configurations interleaved for ROUNDS
# rounds and prints medians with ratios. Source it, fill cmd[NAME] and
# calls[NAME], list names in order=(...), then call bench_run REF1 REF2.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
B=$BUILD/bench
mkdir -p "$B"
gcc -O2 -g -fno-omit-frame-pointer -o "$B/mallocbench" bench/mallocbench.c
SHIM=$BUILD/lib/libleakaudit.so
[ -f "$SHIM" ] || { echo "build the shim first: make" >&2; exit 1; }
BT=$(mktemp -d)
trap 'rm -rf "$BT"' EXIT
declare -A cmd calls samples
order=()

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# bench_run REF1 REF2: the two configurations the ratio columns divide by.
# A ratio is the median over rounds of the configuration's time divided by the
# reference's time in the same round (the VM this runs on has slow phases
# lasting seconds; a round's configurations run back to back, so a ratio
# compares runs made in the same phase). ns/call is the median over rounds.
bench_run() {
    local ref1=$1 ref2=$2 r name out ns m
    declare -A ratio1 ratio2
    for r in $(seq 1 "$ROUNDS"); do
        declare -A this=()
        for name in "${order[@]}"; do
            out=$(${cmd[$name]} "${calls[$name]}" 2>/dev/null | grep ns_per_call)
            ns=${out##*ns_per_call=}
            samples[$name]="${samples[$name]:-} $ns"
            this[$name]=$ns
        done
        for name in "${order[@]}"; do
            ratio1[$name]="${ratio1[$name]:-} $(echo "${this[$name]} / ${this[$ref1]}" | bc -l)"
            ratio2[$name]="${ratio2[$name]:-} $(echo "${this[$name]} / ${this[$ref2]}" | bc -l)"
        done
    done
    printf '%-20s %10s %10s %14s\n' config ns/call "vs $ref1" "vs $ref2"
    for name in "${order[@]}"; do
        m=$(echo "${samples[$name]}" | median)
        printf '%-20s %10.1f %9.2fx %13.2fx\n' "$name" "$m" "$(echo "${ratio1[$name]}" | median)" \
            "$(echo "${ratio2[$name]}" | median)"
    done
}
