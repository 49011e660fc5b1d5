#!/usr/bin/env bash
# Report benchmark (DESIGN.md target: 1,000,000 live allocations in 20,000
# stacks symbolized and reported in < 5 s on one core).
#
# 1. gen_series writes a 30-snapshot series: 1,000,000 live allocations in
#    20,000 distinct stacks whose frames are real return addresses of
#    gen_series (built with -g), growing linearly over the series.
# 2. The same binary makes the same 1,000,000 malloc() calls along the same
#    20,000 call chains under heaptrack (30 rounds), for heaptrack_print.
# 3. Each analyzer runs pinned to one core (taskset -c 0); the median of
#    RUNS runs is printed in a table.
#
# Usage: bench/report.sh [--stacks N] [--allocs N] [--snaps N] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=20000 ALLOCS=1000000 SNAPS=30 RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
    --stacks) STACKS=$2; shift 2 ;;
    --allocs) ALLOCS=$2; shift 2 ;;
    --snaps) SNAPS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--stacks N] [--allocs N] [--snaps N] [--runs N]" >&2; exit 2 ;;
    esac
done
BUILD=${BUILD:-build}
make -s "$BUILD/bin/leakaudit" "$BUILD/tests/reports/gen_series" >/dev/null
LA=$PWD/$BUILD/bin/leakaudit
GEN=$PWD/$BUILD/tests/reports/gen_series
W=$(mktemp -d /tmp/leakaudit-bench-report.XXXXXX)
trap 'rm -rf "$W"' EXIT

"$GEN" bench "$W/series" --stacks "$STACKS" --allocs "$ALLOCS" --snaps "$SNAPS"
series_bytes=$(du -sb "$W/series" | cut -f1)

have_heaptrack=0
if command -v heaptrack >/dev/null && command -v heaptrack_print >/dev/null; then
    (cd "$W" && heaptrack -o "$W/ht" "$GEN" heaptrack-workload --stacks "$STACKS" \
        --allocs "$ALLOCS" --snaps "$SNAPS" >"$W/heaptrack.log" 2>&1) && have_heaptrack=1
    ht_file=$(ls "$W"/ht.* 2>/dev/null | head -1)
    [ -n "$ht_file" ] || have_heaptrack=0
fi

# median wall seconds of RUNS runs of "$@" (stdout to a file)
median() {
    local out=$1
    shift
    local times=()
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s.%N)
        taskset -c 0 "$@" >"$out" 2>"$out.err"
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p"
}

row() { printf '%-52s %9.3f s  %s\n' "$1" "$2" "$3"; }

echo
echo "input: $ALLOCS live allocations in $STACKS stacks, $SNAPS snapshots" \
    "($((series_bytes / 1024 / 1024)) MiB of snapshots); one core; median of $RUNS"
printf '%-52s %11s  %s\n' "analyzer" "wall" "output"
printf '%s\n' "-----------------------------------------------------------------------------------"
t=$(median "$W/r.txt" "$LA" report "$W/series")
row "leakaudit report (text, top 10)" "$t" "$(wc -c <"$W/r.txt") bytes"
t=$(median "$W/r.json" "$LA" report -f json --top 0 "$W/series")
row "leakaudit report -f json --top 0 (all stacks)" "$t" "$(wc -c <"$W/r.json") bytes"
t=$(median "$W/r.pb" "$LA" report -f pprof "$W/series")
row "leakaudit report -f pprof (all stacks)" "$t" "$(wc -c <"$W/r.pb") bytes"
t=$(median "$W/r.html" "$LA" report -f html --top 100 "$W/series")
row "leakaudit report -f html --top 100" "$t" "$(wc -c <"$W/r.html") bytes"
t=$(median "$W/r.col" "$LA" report -f collapsed "$W/series")
row "leakaudit report -f collapsed (all stacks)" "$t" "$(wc -l <"$W/r.col") stacks"
if [ $have_heaptrack = 1 ]; then
    ht_bytes=$(stat -c %s "$ht_file")
    t=$(median "$W/h.txt" heaptrack_print -f "$ht_file")
    row "heaptrack_print (default)" "$t" "$(wc -c <"$W/h.txt") bytes; input $((ht_bytes / 1024)) KiB"
    t=$(median "$W/h2.txt" heaptrack_print -f "$ht_file" -l 1 -F "$W/h.flame")
    row "heaptrack_print --print-leaks --print-flamegraph" "$t" "$(wc -c <"$W/h2.txt") bytes"
else
    echo "heaptrack not available: no comparison (make deps)"
fi
leaks=$(grep -c '^#[0-9]* LEAK' "$W/r.txt" || true)
echo
echo "sanity: text report lists $leaks leak stacks in its top 10; target < 5 s per report"
