#!/usr/bin/env bash
# timeout: 120
# Reports show the reachability classes per stack in every format, list lost
# stacks first and still-reachable ones separately (never as leaks), and
# --fail-on-leak fails on definitely/indirectly lost blocks at exit but not
# on a program whose outstanding blocks are all still reachable.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_reach.sh"

"$LEAKAUDIT" run -q -o "$T/out" -- "$REACH_CASES"
"$LEAKAUDIT" report -n 0 "$T/out" >"$T/text"
assert_contains "$T/text" 'LEAK SUMMARY'
# 72 + 64 + 64 (self) + 104 (dead local) + 32 MiB (case_big), reach_cases.c
assert_contains "$T/text" 'definitely lost +32.0 MiB in 6 blocks'
assert_contains "$T/text" 'indirectly lost +256 B in 4 blocks'
assert_contains "$T/text" 'still reachable +[0-9.]+ K?i?B in [0-9]+ blocks \(not leaks\)'
# the first stack listed is lost, and case_global is below the still-reachable header
first=$(grep -m1 -A2 '^#1 ' "$T/text")
echo "$first" | grep -Eq 'definitely lost|indirectly lost' || fail "#1 is not a lost stack: $first"
awk '/^STILL REACHABLE/{s=1} s && /case_global/{found=1} END{exit !found}' "$T/text" ||
    fail "case_global is not in the still-reachable list"
awk '/^STILL REACHABLE/{s=1} s && /case_cleared/{found=1} END{exit found}' "$T/text" ||
    fail "a lost stack is listed as still reachable"
ok "text: summary, lost first, still reachable separate"

"$LEAKAUDIT" report -f json -n 0 -o "$T/r.json" "$T/out"
python3 "$ROOT/tests/reports/validate_json_schema.py" "$ROOT/docs/report-json.schema.json" "$T/r.json" ||
    fail "JSON does not match the schema"
python3 - "$T/r.json" <<'PY' || fail "JSON reachability is wrong"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["reachability"]["final"] is True, j["reachability"]
assert j["reachability"]["totals"]["definitely_lost"] == {"bytes": 33554800, "blocks": 6}
rows = j["heap"]["stacks"]
def fn(r):
    return [f["function"] for f in r["frames"]]
glob = [r for r in rows if "case_global" in fn(r)][0]
assert glob["reachability"]["still_reachable"]["blocks"] == 1 and glob["leak"] is False
lost = [r for r in rows if "case_cleared" in fn(r)][0]
assert lost["reachability"]["definitely_lost"] == {"bytes": 72, "blocks": 1} and lost["leak"]
PY
ok "json: per-stack classes, schema-valid"

"$LEAKAUDIT" report -f collapsed -o "$T/c.txt" "$T/out"
assert_contains "$T/c.txt" '^\[definitely lost\];.*case_cleared;alloc_block 72$'
assert_contains "$T/c.txt" '^\[still reachable\];.*case_global;alloc_block 64$'
"$LEAKAUDIT" report -f prometheus -o "$T/p.txt" "$T/out"
assert_contains "$T/p.txt" 'leakaudit_heap_reachability_bytes\{.*reach="definitely_lost"\} 33554800'
"$LEAKAUDIT" report -f html -o "$T/h.html" "$T/out"
assert_contains "$T/h.html" 'definitely lost 32.0 MiB in 6 blocks'
"$LEAKAUDIT" report -f pprof -o "$T/p.pb.gz" "$T/out"
zcat "$T/p.pb.gz" | grep -a definitely_lost >/dev/null || fail "pprof has no reachability labels"
ok "collapsed, prometheus, html, pprof carry the classes"

rc=0
"$LEAKAUDIT" report --fail-on-leak "$T/out" >/dev/null 2>"$T/err" || rc=$?
assert_eq "$rc" 3 "--fail-on-leak should fail on lost blocks at exit"
"$LEAKAUDIT" run -q -o "$T/reachable" -- "$REACH_CASES" reachable
rc=0
"$LEAKAUDIT" report --fail-on-leak "$T/reachable" >"$T/reachable.txt" 2>"$T/err" || rc=$?
assert_eq "$rc" 0 "--fail-on-leak failed on still-reachable blocks: $(cat "$T/err")"
assert_contains "$T/reachable.txt" 'definitely lost +0 B in 0 blocks'
ok "--fail-on-leak: lost fails, still reachable passes"
