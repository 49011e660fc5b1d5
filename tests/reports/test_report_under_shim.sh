#!/usr/bin/env bash
# End to end with the real capture: a small service run under the shim
# (`leakaudit run`, one snapshot per round on SIGUSR2) is reported with the
# planted leak on top at its exact file:line with verdict leak (text and
# JSON), its bounded cache as plateau; the clean variant has no leak and
# passes --fail-on-leak.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
SVC=$TESTBIN/reports/leaky_service
need_file "$SVC"
need_file "$SHIM"
SRC=$ROOT/tests/reports/leaky_service.c
LEAK_LINE=$(grep -n 'SERVICE-LEAK-SITE' "$SRC" | cut -d: -f1)
CACHE_LINE=$(grep -n 'SERVICE-CACHE-SITE' "$SRC" | cut -d: -f1)

"$LEAKAUDIT" run -q -i 0 -o "$T/leaky" -- "$SVC" 16
"$LEAKAUDIT" run -q -i 0 -o "$T/clean" -- "$SVC" 16 clean
n=$(ls "$T/leaky"/*.snap | wc -l)
[ "$n" -ge 8 ] || fail "expected a snapshot per round, got $n"

"$LEAKAUDIT" report "$T/leaky" >"$T/leaky.txt"
assert_contains "$T/leaky.txt" '^#1 LEAK '
first=$(grep -m1 -E '^ +#0 ' "$T/leaky.txt")
re="decode_frame +[^ ]*leaky_service\\.c:$LEAK_LINE "
[[ "$first" =~ $re ]] || fail "top frame is not decode_frame at leaky_service.c:$LEAK_LINE: $first"
assert_contains "$T/leaky.txt" 'source: +shim'

"$LEAKAUDIT" report -f json "$T/leaky" | python3 -c '
import json, sys
r = json.load(sys.stdin)
leak_line, cache_line = int(sys.argv[1]), int(sys.argv[2])
s = r["heap"]["stacks"]
top = s[0]
assert top["verdict"] == "leak", top["verdict"]
f = top["frames"][0]
assert f["function"] == "decode_frame" and f["file"].endswith("leaky_service.c") and f["line"] == leak_line, f
assert top["live_bytes"] == top["live_count"] * 65536, top
cache = [x for x in s if x["frames"] and x["frames"][0]["function"] == "cache_put"]
assert cache and cache[0]["verdict"] == "plateau" and cache[0]["frames"][0]["line"] == cache_line, cache
assert not any(x["verdict"] == "leak" for x in s[1:]), [x["verdict"] for x in s]
' "$LEAK_LINE" "$CACHE_LINE" || fail "json verdicts under the shim"
ok "shim series: decode_frame at leaky_service.c:$LEAK_LINE is a leak, the cache a plateau"

"$LEAKAUDIT" report "$T/clean" >"$T/clean.txt"
assert_not_contains "$T/clean.txt" '^#[0-9]+ LEAK'
"$LEAKAUDIT" report --fail-on-leak "$T/clean" >/dev/null || fail "clean service fails --fail-on-leak"
set +e
"$LEAKAUDIT" report --fail-on-leak "$T/leaky" >/dev/null 2>&1
rc=$?
set -e
assert_eq "$rc" 3 "--fail-on-leak on the leaky service"
ok "clean service has no leak; --fail-on-leak gates"
