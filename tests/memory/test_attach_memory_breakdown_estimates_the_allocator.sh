#!/usr/bin/env bash
# timeout: 90
# eBPF attach mode writes the memory breakdown too: the allocator cannot be
# asked from outside, so its retained part is flagged estimated (in the
# snapshot and in the report); the components still add up to the target's
# RSS within 5 %, and the live heap holds the leak the target planted.
# (A BPF test: run it under flock /tmp/leakaudit-bpf.lock.)
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../tracer/lib_tracer.sh"
start_target leak "$LEAKER" leak
attach_and_plant "$T/leak"
"$DUMP" "$T/leak" >"$T/d"
grep -q '^meminfo ' "$T/d" || fail "no memory section in the attach snapshot"
python3 - "$T/d" "$(counter leaked_bytes)" <<'PY' || fail "attach memory breakdown"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
info = dict(re.findall(r"(\w+)=(\d+)", [l for l in lines if l.startswith("meminfo ")][0]))
flags = int(info["flags"])
assert flags & 4, ("allocator part not flagged estimated", flags)  # SNAP_MEMI_ALLOC_ESTIMATED
assert not flags & 2, ("allocator stats claimed under attach", flags)
comps = {}
for l in lines:
    if l.startswith("mem "):
        f = dict(re.findall(r"(\w+)=(-?\d+)", l))
        key = re.search(r"component=(\w+)", l).group(1)
        comps[key] = comps.get(key, 0) + int(f["rss"])
        if key == "allocator_retained":
            assert int(f["flags"]) & 1, ("retained entry not estimated", l)
rss = int(info["rss"])
total = sum(comps.values())
assert abs(total - rss) <= 0.05 * rss, (total, rss, comps)
assert comps.get("heap_live", 0) >= int(sys.argv[2]) * 0.95, (comps, sys.argv[2])
print("ok - attach breakdown: rss %d, components %d, %s" % (rss, total, comps))
PY
"$LEAKAUDIT" report "$T/leak" >"$T/r.txt"
assert_contains "$T/r.txt" 'allocator retained .*\(estimated\)' "report does not say the allocator part is estimated"
assert_contains "$T/r.txt" 'allocator not asked \(eBPF attach\)'
ok "the report says the allocator part is estimated"
