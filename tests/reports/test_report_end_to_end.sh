#!/usr/bin/env bash
# `leakaudit report` on generated snapshot series whose stacks are real return
# addresses of gen_series (built with -g): the planted leak is named with its
# exact file:line and verdict leak (text and JSON), the bounded cache is a
# plateau (with its inlined frame), churn is stable, freed memory is freed,
# fds/mmaps/corruption/losses are reported, and --fail-on-leak gates CI.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
need_file "$LEAKAUDIT"
SRC=$ROOT/tests/reports/gen_series.c
line_of() { grep -n "/\* $1 \*/" "$SRC" | cut -d: -f1; }
LEAK_LINE=$(line_of LEAK-SITE)
CALLER_LINE=$(line_of LEAK-CALLER)
INLINE_LINE=$(line_of INLINE-SITE)
CACHE_LINE=$(line_of CACHE-CALL)

"$GEN" mixed "$T/mixed" >/dev/null
"$GEN" clean "$T/clean" >/dev/null

# --- text: the top heap entry is the planted leak, exact file:line
"$LEAKAUDIT" report "$T/mixed" >"$T/mixed.txt"
first_frame=$(grep -m1 -E '^ +#0 ' "$T/mixed.txt")
re="leaky_decode_frame +[^ ]*gen_series\\.c:$LEAK_LINE "
[[ "$first_frame" =~ $re ]] ||
    fail "top frame is not leaky_decode_frame at gen_series.c:$LEAK_LINE: $first_frame"
assert_contains "$T/mixed.txt" '^#1 LEAK '
assert_contains "$T/mixed.txt" "process_image +[^ ]*gen_series\.c:$CALLER_LINE "
ok "text names the planted leak at gen_series.c:$LEAK_LINE"

# --- coverage: every non-zero loss counter, prominently; zero ones not
assert_contains "$T/mixed.txt" '^!! +dropped_events = 7$'
assert_contains "$T/mixed.txt" '^!! +fd_unattributed = 3$'
assert_not_contains "$T/mixed.txt" 'stack_table_full'
assert_contains "$T/mixed.txt" 'source: +shim'
ok "losses shown"

# --- JSON: same answer, machine-readable
"$LEAKAUDIT" report --format json "$T/mixed" >"$T/mixed.json"
python3 - "$T/mixed.json" "$LEAK_LINE" "$INLINE_LINE" "$CACHE_LINE" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
leak_line, inline_line, cache_line = map(int, sys.argv[2:5])
def check(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)
heap = r["heap"]["stacks"]
top = heap[0]
check(top["verdict"] == "leak", "top verdict %s" % top["verdict"])
f0 = top["frames"][0]
check(f0["function"] == "leaky_decode_frame", "top function %s" % f0["function"])
check(f0["file"].endswith("gen_series.c") and f0["line"] == leak_line, "top file:line %s:%s" % (f0["file"], f0["line"]))
check(top["growth_per_min"] > 1e6 * 0.99 and top["confidence"] > 0.9, "rate/confidence")
by_fn = {s["frames"][0]["function"]: s for s in heap}
p = by_fn["cache_slot_alloc"]
check(p["verdict"] == "plateau", "cache verdict %s" % p["verdict"])
check(p["frames"][0]["inlined"] and p["frames"][0]["line"] == inline_line, "inlined frame")
check(p["frames"][1]["function"] == "cache_insert" and p["frames"][1]["line"] == cache_line, "inline caller")
check(by_fn["per_frame_scratch"]["verdict"] == "stable", "churn is stable")
check(by_fn["startup_table"]["verdict"] == "freed", "freed")
fo = by_fn["folded_site"]
check(fo["folded_frames"] == 2, "allocator frames folded: %s" % fo["folded_frames"])
fds = r["fds"]["stacks"]
check(fds[0]["verdict"] == "leak" and fds[0]["frames"][0]["function"] == "dup_buffer_fd", "fd leak")
check(fds[0]["kinds"] == {"dmabuf": 24} and fds[0]["origins"] == {"dup": 24}, "fd kind/origin")
check(fds[0]["targets"] == ["/dmabuf:camera-buf"] and fds[0]["oldest_age_s"] == 660, "fd target/age")
un = [s for s in fds if not s["attributed"]]
check(len(un) == 1 and un[0]["kinds"] == {"socket": 3}, "unattributed fds separate")
check(r["mmaps"]["stacks"][0]["frames"][0]["function"] == "map_frame_buffer", "mmap stack")
c = r["corruption"]
check(len(c) == 1 and c[0]["kind"] == "heap-buffer-overflow" and c[0]["bytes_seen"] == "deadbeef", "corruption")
check(c[0]["access_stack"][0]["function"] == "vendor_runtime_write", "writer stack")
check(c[0]["alloc_stack"][0]["function"] == "alloc_jpeg_block", "alloc stack")
losses = {l["name"]: l["value"] for l in r["coverage"]["losses"]}
check(losses.get("dropped_events") == 7, "losses in json")
PY
ok "json: leak, plateau (inlined), stable, freed, folded, fds, mmaps, corruption"

# --- --no-fold keeps the shim/allocator frames
"$LEAKAUDIT" report --no-fold --filter-function folded_site --format json "$T/mixed" >"$T/nofold.json"
python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))["heap"]["stacks"]
assert len(s)==1 and s[0]["folded_frames"]==0, s
assert s[0]["frames"][0]["module"].endswith("libleakaudit.so"), s[0]["frames"][0]
' "$T/nofold.json" || fail "--no-fold"
ok "--no-fold and --filter-function"

# --- clean program: no leak, and --fail-on-leak passes; mixed fails with 3
"$LEAKAUDIT" report "$T/clean" >"$T/clean.txt"
assert_not_contains "$T/clean.txt" '^#[0-9]+ LEAK'
assert_contains "$T/clean.txt" '\(0 leak, 1 plateau'
"$LEAKAUDIT" report --fail-on-leak "$T/clean" >/dev/null || fail "--fail-on-leak on a clean series"
set +e
"$LEAKAUDIT" report --fail-on-leak "$T/mixed" >/dev/null 2>"$T/err"
rc=$?
set -e
assert_eq "$rc" 3 "--fail-on-leak exit status"
assert_contains "$T/err" 'verdict leak'
ok "clean has no leak; --fail-on-leak exits 3 only on a leak"

# --- options: --top, --min-bytes, --filter-module, -o 0600
"$LEAKAUDIT" report --top 1 -f json "$T/mixed" | python3 -c '
import json,sys; r=json.load(sys.stdin); assert r["heap"]["stacks_shown"]==1 and r["heap"]["stacks_total"]==5, r["heap"]["stacks_shown"]'
"$LEAKAUDIT" report --min-bytes 2M -f json "$T/mixed" | python3 -c '
import json,sys; r=json.load(sys.stdin); assert [s["frames"][0]["function"] for s in r["heap"]["stacks"]]==["leaky_decode_frame"]'
"$LEAKAUDIT" report --filter-module no-such-module "$T/mixed" >"$T/fm.txt"
assert_contains "$T/fm.txt" '^showing 0 of 5 stacks'
assert_not_contains "$T/fm.txt" '^#1 (LEAK|STABLE|PLATEAU)'
umask 022
"$LEAKAUDIT" report -o "$T/out.txt" "$T/mixed"
assert_eq "$(stat -c %a "$T/out.txt")" 600 "report file mode"
ok "--top, --min-bytes, --filter-module, -o creates 0600"

# --- tracer + sampled: coverage caveats are spelled out
"$GEN" mixed "$T/tr" --tracer --sampled >/dev/null
"$LEAKAUDIT" report "$T/tr" >"$T/tr.txt"
assert_contains "$T/tr.txt" 'tracer: only allocations made after 2023-11-14 22:12:50 UTC'
assert_contains "$T/tr.txt" 'estimates'
assert_contains "$T/tr.txt" '\(est\.\)'
"$LEAKAUDIT" report -f json "$T/tr" | python3 -c '
import json,sys; r=json.load(sys.stdin); assert r["series"]["source"]=="tracer" and r["series"]["estimates"] is True'
ok "tracer and sampled caveats"

# --- a single snapshot: no trend verdicts
"$GEN" mixed "$T/one" --snaps 1 >/dev/null
"$LEAKAUDIT" report -f json "$T/one" | python3 -c '
import json,sys; r=json.load(sys.stdin); v={s["verdict"] for s in r["heap"]["stacks"]}; assert v=={"unknown"}, v'
ok "single snapshot gives verdict unknown"

# --- several series in one directory
"$GEN" multi "$T/multi" >/dev/null
"$LEAKAUDIT" report "$T/multi" >"$T/multi.txt"
assert_contains "$T/multi.txt" '^leakaudit report: series beta \(pid 200'
assert_contains "$T/multi.txt" 'other series in the input \(pick with --series NAME\): alpha'
"$LEAKAUDIT" report --series alpha "$T/multi" | grep '^leakaudit report: series alpha (pid 100' >/dev/null || fail "--series alpha"
"$LEAKAUDIT" report --pid 100 "$T/multi" | grep 'series alpha' >/dev/null || fail "--pid 100"
set +e
"$LEAKAUDIT" report --series nope "$T/multi" >/dev/null 2>"$T/err"
rc=$?
set -e
assert_eq "$rc" 1
assert_contains "$T/err" '^leakaudit report: no series nope in the input; it holds: alpha beta$'
ok "series selection"

# --- diff: the leak grew most
first=$(ls "$T/mixed"/*.snap | sed -n 1p)
last=$(ls "$T/mixed"/*.snap | tail -1)
"$LEAKAUDIT" diff "$first" "$last" >"$T/diff.txt"
assert_contains "$T/diff.txt" '^  grew:'
grep -A2 -m1 '^  #1 ' "$T/diff.txt" | grep "leaky_decode_frame .*gen_series.c:$LEAK_LINE" >/dev/null ||
    { cat "$T/diff.txt"; fail "diff: leak is not the top grower"; }
assert_contains "$T/diff.txt" 'shrank:'
"$LEAKAUDIT" diff -f json "$first" "$T/mixed" | python3 -c '
import json,sys; r=json.load(sys.stdin); g=r["heap"]["grew"][0]
assert g["frames"][0]["function"]=="leaky_decode_frame" and g["delta"]==11*1048576, g
assert r["fds"]["grew"][0]["delta"]==22, r["fds"]'
ok "diff names what grew"
