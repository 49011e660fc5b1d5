#!/usr/bin/env bash
# Heaptrack's per-stack figures from the shim, in every format: a burst of
# 64 x 16 KiB held at once and freed between snapshots shows its 1 MiB peak
# (no snapshot saw it live); blocks freed before their thread allocated again
# count as temporary (500 in scratch(); in a pair freed first-then-second
# only the second); under glibc and jemalloc. Text, JSON, HTML, collapsed,
# pprof (go tool pprof -sample_index=peak_space / temporary_objects),
# Prometheus and diff carry them.
# timeout: 180
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
P=$TESTBIN/reports/peak_temp
need_file "$P"
need_file "$SHIM"

for a in glibc jemalloc; do
    rm -rf "$T/o"
    "$LEAKAUDIT" run -q -a "$a" -o "$T/o" -- "$P" >"$T/out" || fail "[$a] run failed"
    assert_contains "$T/out" '^done$'
    "$LEAKAUDIT" report -f json --top 0 "$T/o" >"$T/r.json"
    python3 - "$T/r.json" "$a" <<'PY' || fail "[$a] JSON figures wrong"
import json, sys
r = json.load(open(sys.argv[1]))
rows = {}
for x in r["heap"]["stacks"]:
    if x["frames"]:
        rows.setdefault(x["frames"][0]["function"], x)
def want(fn, key, v):
    got = rows[fn].get(key)
    assert got == v, f"{sys.argv[2]}: {fn} {key} = {got}, want {v}: {rows[fn]}"
want("burst", "peak_bytes", 64 * 16384)
want("burst", "live_bytes", 0)
want("scratch", "temporary_count", 500)
want("scratch", "temporary_bytes", 500 * 100)
want("pair_first", "temporary_count", 0)
want("pair_second", "temporary_count", 200)
want("keep", "live_bytes", 10000)
want("keep", "peak_bytes", 10000)
want("keep", "temporary_count", 0)
PY
    ok "[$a] JSON: burst peak 1 MiB with nothing live; 500 temporary in scratch; pair: 0 and 200"
done

"$LEAKAUDIT" report --top 0 "$T/o" >"$T/r.txt"
grep -A1 '^#' "$T/r.txt" | grep 'peak 1.0 MiB' >/dev/null || fail "text: no 'peak 1.0 MiB' row: $(cat "$T/r.txt")"
assert_contains "$T/r.txt" '; 500 temporary'
ok "text: peak and temporary count on the stack's line"

"$LEAKAUDIT" report -f collapsed "$T/o" >"$T/c.txt"
assert_contains "$T/c.txt" '^\[heap peak\];.*;burst 1048576$'
assert_contains "$T/c.txt" '^\[temporary allocations\];.*;scratch 500$'
assert_not_contains "$T/c.txt" '^\[temporary allocations\];.*;pair_first '
ok "collapsed: [heap peak] and [temporary allocations] towers"

"$LEAKAUDIT" report -f html -o "$T/r.html" "$T/o"
assert_contains "$T/r.html" '500 temporary'
"$LEAKAUDIT" report -f prometheus "$T/o" >"$T/p.txt"
assert_contains "$T/p.txt" '^leakaudit_stack_heap_temporary_allocations_total\{.*\} 500$'
assert_contains "$T/p.txt" '^leakaudit_stack_heap_peak_bytes\{.*\} 1048576$'
ok "HTML and Prometheus carry them"

# diff: the peak of each row next to before -> after (10 vs 30 blocks kept)
rm -rf "$T/o2"
"$LEAKAUDIT" run -q -o "$T/o2" -- "$P" 30 >/dev/null
a=$(ls "$T/o"/*.snap | tail -1) b=$(ls "$T/o2"/*.snap | tail -1)
"$LEAKAUDIT" diff "$a" "$b" >"$T/d.txt" || fail "diff failed"
grep -A1 -E '^  #1 \+19.5 KiB \(\+20 allocations\): 9.8 KiB -> 29.3 KiB \(peak 29.3 KiB\)$' "$T/d.txt" | grep keep >/dev/null ||
    fail "diff text: no keep row with its peak: $(cat "$T/d.txt")"
"$LEAKAUDIT" diff -f json "$a" "$b" | python3 -c '
import json, sys
g = json.load(sys.stdin)["heap"]["grew"][0]
assert g["peak"] == 30000 and g["after"] == 30000 and g["frames"][0]["function"] == "keep", g' ||
    fail "diff JSON: no peak"
ok "diff: text and JSON show the row's peak"

if command -v go >/dev/null; then
    export HOME=$T/home GOCACHE=$T/gocache GOPATH=$T/gopath GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
    mkdir -p "$HOME"
    "$LEAKAUDIT" report -f pprof -o "$T/p.pb.gz" "$T/o"
    go tool pprof -top -sample_index=peak_space "$T/p.pb.gz" >"$T/peak.txt" 2>&1 || { cat "$T/peak.txt"; fail "pprof peak_space"; }
    first=$(grep -m1 -E '^ +[0-9.]+[kMG]?B ' "$T/peak.txt")
    [[ "$first" == *burst ]] || fail "pprof peak_space: top is not burst: $first"
    go tool pprof -top -sample_index=temporary_objects "$T/p.pb.gz" >"$T/tmp.txt" 2>&1 || fail "pprof temporary_objects"
    first=$(grep -m1 -E '^ +[0-9]+ ' "$T/tmp.txt")
    [[ "$first" == *scratch ]] || fail "pprof temporary_objects: top is not scratch: $first"
    ok "pprof: -sample_index=peak_space tops burst, temporary_objects tops scratch"
else
    skip "go not installed (pprof check)"
fi
