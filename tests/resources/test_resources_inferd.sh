#!/usr/bin/env bash
# check: no
# timeout: 150
# inferd's defect 4 (reconnect_ref_leak, docs/inferd.md) found as a resource
# leak with nothing but the ffmpeg preset: each reconnect's av_buffer_ref on
# the stream's shared info is never unreferenced, so the avbuffer rows grow
# by one per reconnect at inferd_reconnect_take_info_ref() with a leak
# verdict; with the defect off the same stack has nothing outstanding.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
source "$ROOT/tests/inferd/lib_inferd.sh"
need_file "$VENDORSIM"
need_cmd python3

inferd_clip "$T/counter.mp4" --seconds 2
config() { # config OUT 'defects'
    cat >"$1" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 1,
  "backend": {"kind": "vendorsim", "plugin": "$VENDORSIM"},
  "clips": {"counter": "$T/counter.mp4"},
  "defects": {$2},
  "streams": [{"source": "counter"}]
}
JSON
}

# run NAME: inferd under the shim with the ffmpeg preset, snapshots every
# second, reconnected about three times a second until it has written 8
# snapshots and reconnected at least 10 times, then stopped right after one
# more reconnect; the JSON report in $T/NAME.json. The reconnects go on to the end
# on purpose: a series whose last three points are flat is a plateau by the
# report's rules (docs/report.md), and stopping the reconnects one snapshot
# interval before the end gave [1,2,3,5,6,7,7,7] -> "plateau" in 1 of 3 runs.
run() {
    local name=$1 pf=$T/$1.port
    "$LEAKAUDIT" run -q -i 1 -o "$T/$name" --track-resource preset:ffmpeg -- \
        "$INFERD" -c "$T/$name.cfg" --port-file "$pf" >"$T/$name.out" 2>"$T/$name.err" &
    local pid=$!
    on_exit "kill -KILL $pid 2>/dev/null"
    wait_until 30 test -s "$pf" || { cat "$T/$name.err"; fail "$name: inferd did not start"; }
    URL=http://127.0.0.1:$(cat "$pf")
    local n=0 end=$((SECONDS + 90))
    reconnected() { [ "$(metric inferd_reconnects_total)" -ge "$n" ]; }
    reconnect_once() {
        n=$((n + 1))
        curl -sf -XPOST "$URL/streams/1/reconnect" >/dev/null || fail "$name: reconnect $n"
        # inferd reconnects asynchronously: wait until it has done this one
        wait_until 30 reconnected || fail "$name: inferd did not do reconnect $n in 30 s"
        sleep 0.3
    }
    while [ "$n" -lt 10 ] || ! snapshots_at_least "$T/$name" 8; do
        [ $SECONDS -lt $end ] || fail "$name: $n reconnects and not 8 snapshots in 90 s"
        reconnect_once
    done
    reconnect_once # after the last periodic snapshot: the one at exit has one more
    reconnects=$(metric inferd_reconnects_total)
    kill -TERM "$pid"
    wait "$pid" || fail "$name: inferd under the shim exited with $?"
    "$LEAKAUDIT" report -f json --top 0 "$T/$name" >"$T/$name.json" || fail "$name: report"
}

config "$T/leaky.cfg" '"reconnect_ref_leak": true'
run leaky
python3 - "$T/leaky.json" "$reconnects" <<'PY' || fail "defect 4 not found as a resource leak"
import json, sys
r = json.load(open(sys.argv[1]))
reconnects = int(float(sys.argv[2]))
rows = [s for s in r["resources"]["stacks"]
        if s["kind"] == "avbuffer" and s["frames"]
        and s["frames"][0]["function"] == "inferd_reconnect_take_info_ref"]
assert rows, [(s["kind"], s["frames"][0]["function"]) for s in r["resources"]["stacks"]]
live = sum(s["outstanding"] for s in rows)
verdicts = {s["verdict"] for s in rows}
print(f"ok - {live} AVBufferRefs outstanding at inferd_reconnect_take_info_ref after "
      f"{reconnects} reconnects, verdict {sorted(verdicts)}, values {rows[0]['values']}")
assert live >= reconnects >= 10, (live, reconnects)
assert "leak" in verdicts, verdicts
PY

config "$T/clean.cfg" ''
run clean
python3 - "$T/clean.json" <<'PY' || fail "defect off: references left at the reconnect path"
import json, sys
r = json.load(open(sys.argv[1]))
rows = [s for s in r["resources"]["stacks"] if s["frames"]
        and s["frames"][0]["function"] == "inferd_reconnect_take_info_ref"]
assert rows, "the reconnect path's references were not tracked at all"
assert all(s["outstanding"] == 0 for s in rows), [(s["outstanding"], s["verdict"]) for s in rows]
assert all(s["verdict"] != "leak" for s in rows)
print(f"ok - defect off: {sum(s['created'] for s in rows)} references taken and all released")
PY
