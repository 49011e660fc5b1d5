#!/usr/bin/env bash
# Overhead of the shim on the malloc-heavy microbenchmark (bench/mallocbench.c,
# the mix of shared/PEER-BASELINES.md), measured in one run next to peers:
# bare glibc, a hook that only forwards (the floor of any LD_PRELOAD shim),
# shim full, shim sampled, heaptrack, valgrind memcheck.
# Prints ns per call and the ratio to bare; medians of ROUNDS interleaved
# rounds (default 3). Not a test: numbers, not pass/fail.
#   bench/shim.sh [CALLS]     (default 2,000,000 allocation calls)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CALLS=${1:-2000000}
ROUNDS=${ROUNDS:-3}
B=$BUILD/bench
mkdir -p "$B"
gcc -O2 -g -fno-omit-frame-pointer -o "$B/mallocbench" bench/mallocbench.c
gcc -O2 -shared -fPIC -o "$B/forward_hook.so" bench/forward_hook.c -ldl
SHIM=$BUILD/lib/libleakaudit.so
[ -f "$SHIM" ] || { echo "build the shim first: make" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# Peers get fewer calls (they are 10-40x slower); ns/call is per call anyway.
SLOW_CALLS=$((CALLS / 10))
declare -A cmd calls
cmd[bare]="$B/mallocbench"; calls[bare]=$CALLS
cmd[shim-full]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$T/full LEAKAUDIT_INTERVAL=0 $B/mallocbench"
calls[shim-full]=$CALLS
cmd[shim-sampled]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$T/sampled LEAKAUDIT_MODE=sampled LEAKAUDIT_INTERVAL=0 $B/mallocbench"
calls[shim-sampled]=$CALLS
cmd[forward-hook]="env LD_PRELOAD=$B/forward_hook.so $B/mallocbench"; calls[forward-hook]=$CALLS
order=(bare forward-hook shim-full shim-sampled)
if command -v heaptrack >/dev/null; then
    cmd[heaptrack]="heaptrack -o $T/ht $B/mallocbench"; calls[heaptrack]=$SLOW_CALLS
    order+=(heaptrack)
fi
if command -v valgrind >/dev/null; then
    cmd[valgrind]="valgrind -q --leak-check=full $B/mallocbench"; calls[valgrind]=$SLOW_CALLS
    order+=(valgrind)
fi

declare -A samples
for r in $(seq 1 "$ROUNDS"); do
    for name in "${order[@]}"; do
        out=$(${cmd[$name]} "${calls[$name]}" 2>/dev/null | grep ns_per_call)
        ns=${out##*ns_per_call=}
        samples[$name]="${samples[$name]:-} $ns"
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bare=$(echo "${samples[bare]}" | median)
full=$(echo "${samples[shim-full]}" | median)
printf '\nmalloc-heavy microbenchmark, %d calls (peers: %d), median of %d rounds\n' "$CALLS" "$SLOW_CALLS" "$ROUNDS"
printf '%-14s %10s %10s %12s\n' config ns/call "vs bare" "vs shim-full"
for name in "${order[@]}"; do
    m=$(echo "${samples[$name]}" | median)
    printf '%-14s %10.1f %9.2fx %11.2fx\n' "$name" "$m" "$(echo "$m / $bare" | bc -l)" \
        "$(echo "$m / $full" | bc -l)"
done
echo
echo "targets: shim-full <= 3x bare and faster than heaptrack; shim-sampled <= 1.10x bare"
