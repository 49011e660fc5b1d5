#!/usr/bin/env bash
# ~100 MB of 256-byte blocks, 99 % freed in a pattern that defeats trimming
# (every 100th block kept): under glibc, jemalloc, tcmalloc and mimalloc the
# report's first line blames allocator retention, the live heap is ~1 MiB at
# the allocating function, the allocator's own retained figure is large, and
# nothing is called a leak.
source "$(dirname "$0")/../lib.sh"
PROG=$TESTBIN/memory/fragment
need_file "$PROG"
need_file "$SHIM"
MIB=1048576
for a in glibc jemalloc tcmalloc mimalloc; do
    "$LEAKAUDIT" run -q -a "$a" -o "$T/$a" -- "$PROG"
    "$LEAKAUDIT" report "$T/$a" >"$T/$a.txt"
    "$LEAKAUDIT" report --format json "$T/$a" >"$T/$a.json"
    head -1 "$T/$a.txt" | grep '^memory: RSS +.*allocator retention (fragmentation): live heap flat' >/dev/null ||
        { head -20 "$T/$a.txt"; fail "[$a] the first line does not blame allocator retention"; }
    python3 - "$T/$a.json" "$a" <<'PY' || fail "[$a] JSON memory verdict"
import json, sys
d = json.load(open(sys.argv[1]))
a, mib = sys.argv[2], 1 << 20
m = d["memory"]
v = m["verdict"]
assert v["grows"] and v["component"] == "allocator_retained", v
last = m["snapshots"][-1]
comp = last["components"]
# ~1 MiB live: 4096 kept blocks of 256 bytes (plus the program's few others)
assert 0.9 * mib <= last["live_heap_bytes"] <= 2 * mib, ("live heap", last["live_heap_bytes"])
assert comp["allocator_retained"] >= 20 * mib, ("retained", comp["allocator_retained"])
assert last["allocator_resident_bytes"] > 20 * mib, ("allocator resident", last)
assert not last["allocator_estimated"]
assert m["unaccounted_pct"] <= 5.0, m["unaccounted_pct"]
total = sum(v for k, v in comp.items() if k != "kernel")
assert abs(total - last["rss_bytes"]) <= 0.05 * last["rss_bytes"], (total, last["rss_bytes"])
print("ok - [%s] retained %.1f MiB, live heap %.2f MiB, RSS %.1f MiB, allocator holds %.1f MiB" % (
    a, comp["allocator_retained"] / mib, last["live_heap_bytes"] / mib, last["rss_bytes"] / mib,
    last["allocator_resident_bytes"] / mib))
PY
    # not a leak: the kept blocks' stack is not called a leak, --fail-on-leak passes
    "$LEAKAUDIT" report --fail-on-leak "$T/$a" >/dev/null ||
        fail "[$a] --fail-on-leak calls fragmentation a leak"
    grep -m1 'allocator says' "$T/$a.txt"
done
