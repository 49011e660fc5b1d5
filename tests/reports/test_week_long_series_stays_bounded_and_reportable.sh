#!/usr/bin/env bash
# timeout: 900
# A week of snapshots at the default interval (10 s) and the default
# retention: the series stays under the default disk bound (1 GiB), keeps
# the first snapshot and the peak, and `leakaudit report` on it needs at most
# 500 MB (its time is printed, not asserted: this box is shared). Two runs:
# every snapshot written and retired as the shim does (small snapshots), and
# the worst case -- 2.7 MB snapshots, bounded by disk -- with the retention
# decided on the files' sizes and only the survivors written (--sim).
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
need_file /usr/bin/time
ONE_GIB=$((1 << 30))
MAX_RSS_KB=$((500 * 1024))

check_series() { # DIR WHAT
    local dir=$1 what=$2 bytes n
    bytes=$(du -sb --apparent-size "$dir" | cut -f1)
    n=$(ls "$dir" | wc -l)
    echo "# $what: $n snapshots kept, $bytes bytes"
    [ "$bytes" -le "$ONE_GIB" ] || fail "$what: $bytes bytes on disk, over the 1 GiB default bound"
    [ -e "$dir/week.000000.snap" ] || fail "$what: the first snapshot was not kept"
    [ -e "$dir/week.$PEAK.snap" ] || fail "$what: the peak snapshot ($PEAK) was not kept"
    /usr/bin/time -v "$LEAKAUDIT" report "$dir" >"$T/report.txt" 2>"$T/time.txt" ||
        { cat "$T/time.txt"; fail "$what: report failed"; }
    local rss wall
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/time.txt")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$T/time.txt")
    echo "# $what: report took $wall, max RSS $((rss / 1024)) MB"
    [ "$rss" -le "$MAX_RSS_KB" ] || fail "$what: report used $((rss / 1024)) MB, over 500 MB"
    assert_contains "$T/report.txt" "over 167h59m"
    assert_contains "$T/report.txt" "#1 LEAK"
}

"$GEN" week "$T/all" --stacks 200 >"$T/gen.txt"
cat "$T/gen.txt"
PEAK=$(sed -n 's/.*peak #\([0-9]*\).*/\1/p' "$T/gen.txt")
PEAK=$(printf '%06d' "$PEAK")
assert_contains "$T/gen.txt" "60480 snapshots written"
check_series "$T/all" "every snapshot written, 28 KB each"
ok "a week of small snapshots: thinned, bounded, reportable"
rm -rf "$T/all"

"$GEN" week "$T/big" --stacks 20000 --sim >"$T/gen.txt"
cat "$T/gen.txt"
check_series "$T/big" "2.7 MB snapshots (disk-bound)"
ok "a week of large snapshots: within 1 GiB, reportable in under 500 MB"
