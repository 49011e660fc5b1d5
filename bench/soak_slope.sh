#!/usr/bin/env bash
# Is the shim's cost flat over time? A `leakaudit soak --both` of inferd with
# every defect off (glibc), with light loopback HTTP load, then:
#   - the RSS slope (MiB/h) of the shim run and of the bare run, and their
#     difference (issue 19 asks for within 1 MiB/h);
#   - the shim run's snapshot sizes, stack-table size and the shim's own
#     memory over time (from each snapshot's losses section), and whether
#     the snapshot size stays flat after the first 5 minutes.
#
# usage: bench/soak_slope.sh [-m MINUTES] [-P] [-A] [OUTDIR]
#   -m MINUTES  per run (default 60)
#   -A          only analyse the results already in OUTDIR (no new soak)
#   -P          run the bare and the shim run side by side (two soaks, one
#               --without-shim and one --with-shim, same duration; half the
#               wall time. inferd needs well under a core, so they do not
#               disturb each other's RSS) instead of one `soak --both`
# OUTDIR defaults to build/soak-slope. The binaries are copied there first,
# so rebuilding while it runs changes nothing. Not a timed test.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
minutes=60 parallel=0 analyse_only=0
while getopts "m:PAh" opt; do
    case $opt in
    m) minutes=$OPTARG ;;
    P) parallel=1 ;;
    A) analyse_only=1 ;;
    *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
out=${1:-$BUILD/soak-slope}
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); if (s < 60) exit 1; print s }') ||
    { echo "soak_slope: -m $minutes: at least one minute" >&2; exit 2; }
# The soak itself (skipped with -A).
run_soaks() {
    rm -rf "$out"
    mkdir -p -m 0700 "$out/inst"
    out=$(cd "$out" && pwd)
    cp -r "$BUILD/bin" "$BUILD/lib" "$out/inst/"
    LA=$out/inst/bin/leakaudit
    INFERD=$out/inst/bin/inferd
    DUMP=$BUILD/tests/common/snapdump
    cp "$DUMP" "$out/inst/snapdump"
    DUMP=$out/inst/snapdump
    mkdir -p "$BUILD/clips"
    [ -f "$BUILD/clips/counter.mp4" ] || scripts/make-clip --seconds 10 "$BUILD/clips/counter.mp4" >/dev/null
    scripts/inferd-config "$out/inferd.json" "$BUILD/clips/counter.mp4"
    free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    }
    # The HTTP load: what a client of the service does, a few requests a second.
    load='while :; do for p in /streams/1/detections?limit=5 /streams/2/snapshot.jpg /healthz; do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT$p"; done; sleep 0.3; done'

    # soak_one NAME SHIM-OPTION: one soak into $out/NAME
    soak_one() {
        local name=$1 shim=$2 port extra=()
        port=$(free_port)
        [ "$shim" = --without-shim ] || extra=(--shim-interval 10s)
        PORT=$port "$LA" soak -a glibc "$shim" "${extra[@]}" -d "${seconds}s" --grace 20s -i 5s \
            --warmup 10 --load "$load" --metrics-url "http://127.0.0.1:$port/metrics" \
            --drops-metric inferd_frames_dropped_total -q -o "$out/$name" \
            -- "$INFERD" -c "$out/inferd.json" -p "$port" -d $((seconds + 600)) >"$out/$name.table" 2>"$out/$name.log"
    }
    echo "soak_slope: $minutes min per run, started $(date -u +%FT%TZ), results in $out" >&2
    if [ "$parallel" = 1 ]; then
        soak_one bare --without-shim &
        p1=$!
        sleep 2
        soak_one shim --with-shim &
        p2=$!
        wait $p1 || { echo "soak_slope: the bare soak failed: $(tail -3 "$out/bare.log")" >&2; exit 1; }
        wait $p2 || { echo "soak_slope: the shim soak failed: $(tail -3 "$out/shim.log")" >&2; exit 1; }
    else
        soak_one both --both || { echo "soak_slope: soak failed: $(tail -3 "$out/both.log")" >&2; exit 1; }
    fi
}
[ "$analyse_only" = 1 ] || run_soaks
out=$(cd "$out" && pwd)
DUMP=$out/inst/snapdump
tsvs=()
for t in "$out"/bare/summary.tsv "$out"/shim/summary.tsv "$out"/both/summary.tsv; do
    [ ! -f "$t" ] || tsvs+=("$t")
done
[ ${#tsvs[@]} -gt 0 ] || { echo "soak_slope: no summary.tsv in $out" >&2; exit 1; }

echo "== RSS slope (leakaudit soak, after its warm-up)"
awk -F'\t' 'FNR > 1 { printf "%-28s shim=%-3s samples=%-5s peak=%6.1f MiB final=%6.1f MiB slope=%+8.3f MiB/h\n",
        $1, $3, $4, $5 / 1048576, $6 / 1048576, $7 / 1048576;
        if ($3 == "yes") s = $7; else b = $7 }
    END { printf "shim slope - bare slope = %+.3f MiB/h (%s)\n", (s - b) / 1048576,
        ((s - b) / 1048576 <= 1 && (s - b) / 1048576 >= -1) ? "within 1 MiB/h" : "NOT within 1 MiB/h" }' "${tsvs[@]}"

snapdir=$(find "$out" -maxdepth 3 -type d -name '*.snapshots' | grep -i shim | head -1)
[ -n "$snapdir" ] || snapdir=$(find "$out" -maxdepth 3 -type d -name '*.snapshots' | head -1)
echo "== the shim run's snapshots ($snapdir)"
echo "   (interval snapshots; the signal and exit ones at the end also hold a reachability scan)"
printf '%8s %12s %10s %10s %14s %9s\n' minute snapshot_B stacks retired shim_mem_B trigger
t0="" at5="" max_after5=0 min_after5=""
rm -f "$out/snapshots.txt"
for f in $(ls "$snapdir"/*.snap | sort -V); do
    t=$(stat -c %Y "$f")
    [ -n "$t0" ] || t0=$t
    sz=$(stat -c %s "$f")
    "$DUMP" "$f" >"$out/dump.txt" 2>/dev/null || continue
    loss() { sed -n "s/^loss $1=//p" "$out/dump.txt"; }
    trig=$(sed -n 's/^header .*trigger=\([a-z]*\).*/\1/p' "$out/dump.txt")
    m=$(((t - t0) / 60))
    printf '%8d %12d %10s %10s %14s %9s\n' "$m" "$sz" "$(loss stacks_in_table)" "$(loss stacks_retired)" \
        "$(loss shim_memory_bytes)" "$trig" >>"$out/snapshots.txt"
    if [ $((t - t0)) -ge 300 ] && [ "$trig" = interval ]; then
        [ -n "$at5" ] || at5=$sz
        [ "$sz" -le "$max_after5" ] || max_after5=$sz
        [ -n "$min_after5" ] && [ "$sz" -ge "$min_after5" ] || min_after5=$sz
    fi
done
rm -f "$out/dump.txt"
# one line a minute (the first snapshot of each minute) and the last ones
awk '!seen[$1]++' "$out/snapshots.txt"
grep -v ' interval$' "$out/snapshots.txt" || true
if [ -n "$at5" ]; then
    awk -v a="$at5" -v m="$max_after5" -v l="$min_after5" 'BEGIN {
        printf "interval snapshots after 5 min: %d .. %d B (at 5 min %d B; %+.2f %% .. %+.2f %%)\n",
            l, m, a, (l - a) * 100 / a, (m - a) * 100 / a }'
fi
