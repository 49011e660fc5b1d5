#!/usr/bin/env bash
# A program that keeps mapping new memfds (4 MiB each, grow_memfd) and POSIX
# shm objects (2 MiB each, grow_shm): the report's first line says shared
# memory grew, at grow_memfd (the larger one), and the breakdown gives each
# creating stack its exact resident bytes.
source "$(dirname "$0")/../lib.sh"
PROG=$TESTBIN/memory/shm_grow
need_file "$PROG"
need_file "$SHIM"
"$LEAKAUDIT" run -q -o "$T/out" -- "$PROG"
"$LEAKAUDIT" report "$T/out" >"$T/r.txt"
"$LEAKAUDIT" report --format json "$T/out" >"$T/r.json"
head -1 "$T/r.txt" | grep '^memory: RSS +.*: shared memory (memfd/shm) at grow_memfd (+30.0 MiB)' >/dev/null ||
    { head -30 "$T/r.txt"; fail "first line does not blame shared memory at grow_memfd"; }
ok "$(head -1 "$T/r.txt")"
python3 - "$T/r.json" <<'PY' || fail "JSON shared-memory rows"
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
def function0(frames): # the function the first return address is in (inlined frames come first)
    return [f for f in frames if f["index"] == 0 and not f["inlined"]][0]["function"]
assert m["verdict"]["component"] == "shmem", m["verdict"]
assert function0(m["verdict"]["stack"]) == "grow_memfd", m["verdict"]["stack"]
by = {}
for r in m["stacks"]:
    if r["component"] == "shmem":
        by[function0(r["frames"])] = r["bytes"]
# 5 steps: 5 x 4 MiB memfds, 5 x 2 MiB shm objects, every page touched
assert by.get("grow_memfd") == 5 * 4 << 20, by
assert by.get("grow_shm") == 5 * 2 << 20, by
assert m["snapshots"][-1]["components"]["shmem"] >= 30 << 20
print("ok - shmem by stack:", by)
PY
