#!/usr/bin/env bash
# timeout: 240
# attach --inject walks glibc's heap at the attach (allocshim/prior_heap.c):
# a block leaked before the attach is "definitely lost" at the first scan,
# in the row "allocated before attach"; a block allocated before and freed
# after the attach is recognised (heap_free_before_attach stays 0) and not
# reported; blocks of a second arena (a thread's) and one served by mmap are
# found; chunks in the tcache and fastbins are not listed; the only block
# definitely lost is the program's own 777-byte leak. Under jemalloc
# (not walked) the report says the older heap was not enumerated.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
need_root
P=$TESTBIN/tracer/inject_prior
need_file "$P"
need_file "$SHIM"

wait_line() { # FILE LINE
    for _ in $(seq 200); do grep -qx "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "no '$2' from the target: $(cat "$1")"
}
wait_snaps() { # DIR N
    for _ in $(seq 300); do
        [ "$(ls "$1"/*.snap 2>/dev/null | wc -l)" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "fewer than $2 snapshots in $1"
}

run() { # LABEL PRELOAD
    local label=$1 lib=$2
    if [ -n "$lib" ]; then LD_PRELOAD=$lib "$P" >"$T/out.$label" & else "$P" >"$T/out.$label" & fi
    local pid=$!
    wait_line "$T/out.$label" ready
    "$LEAKAUDIT" attach --inject -q -p "$pid" -o "$T/o.$label" -i 1s -d 60 --reachability=always &
    local att=$!
    wait_snaps "$T/o.$label" 2 # the first scan is in
    cp -r "$T/o.$label" "$T/first.$label"
    kill -USR1 "$pid"
    wait_line "$T/out.$label" freed
    local n
    n=$(ls "$T/o.$label"/*.snap | wc -l)
    wait_snaps "$T/o.$label" $((n + 2)) # the free is in a snapshot
    kill -INT "$att"
    wait "$att" || fail "[$label] attach --inject failed"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    "$LEAKAUDIT" report -f json --top 0 "$T/first.$label" >"$T/first.$label.json" || fail "[$label] report failed"
    "$LEAKAUDIT" report -f json --top 0 "$T/o.$label" >"$T/last.$label.json" || fail "[$label] report failed"
}

run glibc ""
python3 - "$T/first.glibc.json" "$T/last.glibc.json" <<'PY' || fail "[glibc] the heap from before the attach is wrong"
import json, sys
first, last = (json.load(open(f)) for f in sys.argv[1:3])
def before(r):
    rows = [x for x in r["heap"]["stacks"] if x.get("before_attach")]
    assert len(rows) == 1, [x.get("frames") for x in r["heap"]["stacks"]]
    return rows[0]
losses = {l["name"]: l["value"] for l in last["coverage"]["losses"]}
assert losses.get("heap_before_attach_not_enumerated", 0) == 0, losses
blocks = losses["heap_before_attach_blocks"]
# 5000 + 3000 + 777 + 1 MiB + 100 x 200 and glibc's own (stdout's buffer,
# each arena's tcache): no more than a few dozen more, and none of the 40
# freed 48-byte chunks
assert 104 <= blocks <= 150, blocks
b0, b1 = before(first), before(last)
lost0 = b0["reachability"]["definitely_lost"]
# pre_lost's 777 bytes (792 usable), and nothing else: glibc's own
# allocations are reachable, and so is the DTV of the shim's snapshot
# thread, calloc'ed by the loader during the injection; possibly lost:
# the segment of _dl_find_object's table our dlopen added (docs/inject.md)
assert lost0["blocks"] == 1 and lost0["bytes"] == 792, lost0
assert before(last)["reachability"]["definitely_lost"] == lost0, before(last)["reachability"]
assert b0["live_bytes"] >= 5000 + 3000 + 777 + (1 << 20) + 100 * 200, b0["live_bytes"]
# pre_freed (3000 bytes, 3000 usable) is gone, its free recognised
assert b0["live_bytes"] - b1["live_bytes"] == 3000, (b0["live_bytes"], b1["live_bytes"])
assert b0["live_count"] - b1["live_count"] == 1, (b0["live_count"], b1["live_count"])
assert losses.get("heap_free_before_attach", 0) == 0, losses
print("before attach:", blocks, "blocks;", b0["live_bytes"], "->", b1["live_bytes"], "B live; lost", lost0)
PY
ok "[glibc] blocks from before the attach: old leak definitely lost at the first scan, freed block recognised, second arena and mmap'd block found, tcache/fastbin chunks left out"
assert_contains <("$LEAKAUDIT" report "$T/first.glibc") 'no stack: allocated before attach'
# in pprof too: one location "[no stack]", as in collapsed stacks (a sample
# without locations is invisible in go tool pprof's views)
if command -v go >/dev/null; then
    "$LEAKAUDIT" report -f pprof -o "$T/first.pb.gz" "$T/first.glibc" || fail "pprof report failed"
    go tool pprof -top "$T/first.pb.gz" >"$T/top.txt" 2>&1 || { cat "$T/top.txt"; fail "go tool pprof"; }
    assert_contains "$T/top.txt" '\[no stack\]'
    ok "pprof shows the blocks from before the attach as [no stack]"
elif [ "${LEAKAUDIT_REQUIRE_ALL:-0}" = 1 ]; then
    fail "go is not installed (make deps)"
fi

J=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$J" ] || skip "jemalloc not installed ($J)"
run jemalloc "$J"
python3 - "$T/last.jemalloc.json" <<'PY' || fail "[jemalloc] the report does not say the older heap was not walked"
import json, sys
r = json.load(open(sys.argv[1]))
losses = {l["name"]: l["value"] for l in r["coverage"]["losses"]}
assert losses.get("heap_before_attach_not_enumerated") == 1, losses
assert losses.get("heap_free_before_attach", 0) >= 1, losses
assert not any(x.get("before_attach") for x in r["heap"]["stacks"])
PY
ok "[jemalloc] not walked, and the report says so"
