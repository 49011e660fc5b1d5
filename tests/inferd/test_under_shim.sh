#!/usr/bin/env bash
# inferd under the leak-auditing shim (leakaudit run): with every defect off
# a full run, HTTP traffic and reconnects included, ends with zero
# outstanding heap bytes and zero fds whose stack passes through inferd or
# libvendorsim (blocks the C library and the loader keep on the program's
# behalf -- a cached thread's TLS vector, a dlopen'ed library's link map --
# are theirs, not inferd's: their allocation site is in libc or ld.so);
# with defects 2, 3 and 4 on, the report names each planted
# site (vendorsim_run_dup_input_fd, inferd_decode_packet ->
# inferd_frame_alloc, inferd_reconnect_take_info_ref).
# check: no
# timeout: 150
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"
need_file "$SHIM"
need_file "$LEAKAUDIT"
need_file "$VENDORSIM"
need_cmd python3

inferd_clip "$T/counter.mp4" --seconds 3
config() { # config OUT 'defects'
    cat >"$1" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 2,
  "backend": {"kind": "vendorsim", "plugin": "$VENDORSIM", "recycle_context_every": 40},
  "clips": {"counter": "$T/counter.mp4"},
  "stream_defaults": {"corrupt_every_n_packets": 6},
  "defects": {$2},
  "streams": [{"source": "counter"}, {"source": "counter"}]
}
JSON
}

# run_under_shim NAME [DONE]: inferd under the shim for ~7 s with traffic and
# three reconnects, then until DONE (a command; may read $pid, leakaudit run's
# pid) holds (60 s at most), then the JSON report in $T/NAME.json.
run_under_shim() {
    local name=$1 pf=$T/$1.port
    "$LEAKAUDIT" run -q -i 2 -o "$T/$name" -- "$INFERD" -c "$T/$name.cfg" --port-file "$pf" \
        >"$T/$name.out" 2>"$T/$name.err" &
    local pid=$!
    on_exit "kill -KILL $pid 2>/dev/null"
    wait_until 30 test -s "$pf" || { cat "$T/$name.err"; fail "$name: inferd did not start"; }
    URL=http://127.0.0.1:$(cat "$pf")
    local i
    for i in 1 2 3; do
        sleep 1.5
        curl -sf "$URL/metrics" >/dev/null
        curl -sf "$URL/streams/1/detections" >/dev/null
        curl -sf "$URL/streams/2/snapshot.jpg" >/dev/null || true
        curl -sf -XPOST "$URL/streams/$i/reconnect" >/dev/null || true
    done
    curl -sf -XPOST "$URL/streams" -d '{"source": "counter"}' >/dev/null
    sleep 1
    curl -sf -XDELETE "$URL/streams/3" >/dev/null
    sleep 1
    wait_until 60 "${2:-true}" || echo "$name: still not done after 60 s"
    # leakaudit run forwards SIGTERM to inferd.
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    assert_eq "$rc" 0 "$name: inferd under the shim exited with $rc"
    "$LEAKAUDIT" report -f json --top 0 "$T/$name" >"$T/$name.json" ||
        fail "$name: leakaudit report failed"
}

# 1. Every defect off: nothing of inferd's is left.
config "$T/clean.cfg" ''
run_under_shim clean
python3 - "$T/clean.json" <<'PY' || fail "inferd left heap blocks or fds behind"
import json, sys
r = json.load(open(sys.argv[1]))
ours = ("/inferd", "libvendorsim")
system = ("/libc.so", "/ld-linux")
def mine(s):
    return any(f.get("module") and any(o in f["module"] for o in ours) for f in s["frames"])
def system_site(s):
    # the allocating function, past the allocator's entry points, is libc's
    # or the loader's own (right stacks reach inferd through pthread_create
    # and dlopen: the blocks are still the system's)
    for f in s["frames"]:
        mod = f.get("module") or ""
        if "libleakaudit" in mod or f.get("function") in ("malloc", "calloc", "realloc",
                                                          "strdup", "__strdup"):
            continue
        return any(m in mod for m in system)
    return False
heap = [s for s in r["heap"]["stacks"] if s["live_bytes"] > 0 and mine(s) and not system_site(s)]
fds = [s for s in r["fds"]["stacks"] if s["open"] > 0 and (mine(s) or "pre-existing" not in s["origins"])]
for s in heap + fds:
    print("left behind:", {k: s.get(k) for k in ("live_bytes", "open", "targets")},
          [f["function"] for f in s["frames"]][:8])
snaps = r["snapshots"]
assert len(snaps) >= 2, "expected periodic snapshots plus the exit one"
assert snaps[-1]["trigger"] == "exit", snaps[-1]
assert not heap and not fds
print(f"ok - zero outstanding heap bytes and fds from inferd after {len(snaps)} snapshots "
      f"({snaps[-1]['live_bytes']} bytes live in libraries' static state)")
PY

# 2. Defects 2, 3 and 4: found at their planted sites.
config "$T/leaky.cfg" '"dup_input_fd": true, "decode_error_leak": true, "reconnect_ref_leak": true'
# what the report is then asked to show has happened: >= 20 fds dup()ed, >= 5
# frame buffers leaked, both reconnects done (each leaks an info reference)
leaky_done() {
    local ipid
    ipid=$(cat /proc/"$pid"/task/*/children 2>/dev/null | awk '{print $1}')
    [ -n "$ipid" ] && [ "$(ls /proc/"$ipid"/fd | wc -l)" -ge 40 ] &&
        [ "$(metric inferd_frames_live)" -ge 5 ] &&
        [ "$(curl -sf "$URL/metrics" | awk '/^inferd_reconnects_total/ {n += $2} END {print n + 0}')" -ge 2 ]
}
run_under_shim leaky leaky_done
python3 - "$T/leaky.json" <<'PY' || fail "a planted defect was not found at its site"
import json, sys
r = json.load(open(sys.argv[1]))
def funcs(s):
    return [f["function"] or "" for f in s["frames"]]
def site(s, fn):
    for f in s["frames"]:
        if f["function"] == fn:
            return f"{f['file']}:{f['line']}"
    return None
dup = [s for s in r["fds"]["stacks"] if s["open"] > 0 and "vendorsim_run_dup_input_fd" in funcs(s)]
assert dup and dup[0]["open"] >= 20, "defect 2: no dup()ed fds attributed to vendorsim_run_dup_input_fd"
print(f"ok - defect 2: {dup[0]['open']} fds from dup() in vendorsim_run_dup_input_fd "
      f"({site(dup[0], 'vendorsim_run_dup_input_fd')}), kinds {dup[0]['kinds']}")
frames = [s for s in r["heap"]["stacks"] if s["live_bytes"] > 0
          and "inferd_frame_alloc" in funcs(s) and "inferd_decode_packet" in funcs(s)]
assert frames, "defect 3: no live frame buffers from inferd_decode_packet"
top = max(frames, key=lambda s: s["live_bytes"])
assert top["live_count"] >= 5, top["live_count"]
print(f"ok - defect 3: {top['live_bytes']} bytes in {top['live_count']} frame buffers from "
      f"inferd_frame_alloc <- inferd_decode_packet ({site(top, 'inferd_decode_packet')}), "
      f"verdict {top['verdict']}")
refs = [s for s in r["heap"]["stacks"] if s["live_bytes"] > 0
        and "inferd_reconnect_take_info_ref" in funcs(s)]
assert refs and sum(s["live_count"] for s in refs) >= 3, "defect 4: no leaked info handles"
print(f"ok - defect 4: {sum(s['live_count'] for s in refs)} info handles from "
      f"inferd_reconnect_take_info_ref ({site(refs[0], 'inferd_reconnect_take_info_ref')})")
PY
