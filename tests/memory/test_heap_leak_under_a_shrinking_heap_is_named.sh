#!/usr/bin/env bash
# The RSS verdict names a heap leak even when, first to last snapshot, the
# live heap shrank and the allocator's retention grew more than the leak
# (a service freeing its start-up buffers while an error path leaks): 16 MB
# of small blocks mostly freed, then leak_site leaks 4 MiB. The first line
# says "heap leak at leak_site", with the retention after it; JSON says
# component heap_live at leak_site. (Before: "allocator retention".)
source "$(dirname "$0")/../lib.sh"
PROG=$TESTBIN/memory/leak_after_shrink
need_file "$PROG"
need_file "$SHIM"
"$LEAKAUDIT" run -q -o "$T/o" -- "$PROG" || fail "run failed"
"$LEAKAUDIT" report "$T/o" >"$T/r.txt" || fail "report failed"
head -1 "$T/r.txt" | grep '^memory: RSS +.*: heap leak at leak_site (+4.0 MiB); allocator retention +' >/dev/null ||
    { head -3 "$T/r.txt"; fail "the first line does not name the leak"; }
ok "$(head -1 "$T/r.txt")"
"$LEAKAUDIT" report --format json "$T/o" | python3 -c '
import json, sys
v = json.load(sys.stdin)["memory"]["verdict"]
assert v["grows"] and v["component"] == "heap_live", v
assert v["component_growth_bytes"] == 4 << 20, v
assert v["stack"][0]["function"] == "leak_site", v["stack"][0]
' || fail "JSON verdict"
ok "JSON: component heap_live, 4 MiB, at leak_site"
