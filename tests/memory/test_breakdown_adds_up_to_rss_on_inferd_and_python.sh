#!/usr/bin/env bash
# check: no (a sanitized inferd cannot run under the preloaded shim: ASan must come first)
# timeout: 150
# On real programs -- inferd serving two streams with HTTP traffic, and the
# distro's python3 building and dropping objects -- every snapshot's memory
# breakdown, measured mapping by mapping from smaps, adds up to the RSS and
# PSS that smaps_rollup reports for the whole process within 5 %
# (tests/memory/check_adds_up.py).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../inferd/lib_inferd.sh"
need_file "$SHIM"
need_file "$VENDORSIM"
need_cmd python3
need_file /usr/bin/python3
CHECK=$(dirname "$0")/check_adds_up.py
# check_series LABEL DIR: every snapshot in DIR dumped, then checked.
check_series() {
    local n=0 f
    for f in "$2"/*.snap; do
        n=$((n + 1))
        "$SNAPDUMP" "$f" >"$T/$1.$n.dump"
    done
    python3 "$CHECK" "$1" "$T/$1".*.dump
}

inferd_clip "$T/counter.mp4" --seconds 3
cat >"$T/inferd.cfg" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 2,
  "backend": {"kind": "vendorsim", "plugin": "$VENDORSIM"},
  "clips": {"counter": "$T/counter.mp4"},
  "streams": [{"source": "counter"}, {"source": "counter"}]
}
JSON
pf=$T/port
"$LEAKAUDIT" run -q -i 1 -o "$T/inferd" -- "$INFERD" -c "$T/inferd.cfg" --port-file "$pf" \
    >"$T/inferd.out" 2>"$T/inferd.err" &
pid=$!
on_exit "kill -KILL $pid 2>/dev/null"
wait_until 30 test -s "$pf" || { cat "$T/inferd.err"; fail "inferd did not start"; }
URL=http://127.0.0.1:$(cat "$pf")
for i in 1 2 3; do
    curl -sf "$URL/metrics" >/dev/null
    curl -sf "$URL/streams/1/detections" >/dev/null || true
    wait_until 10 snapshots_at_least "$T/inferd" $((i + 1)) || fail "no snapshot $i of inferd"
done
kill -TERM "$pid"
wait "$pid" || true
check_series inferd "$T/inferd"

"$LEAKAUDIT" run -q -i 1 -o "$T/py" -- /usr/bin/python3 -c '
import time
keep = []
deadline = time.monotonic() + 3.5
while time.monotonic() < deadline:
    keep.append([str(i) * 10 for i in range(2000)])
    if len(keep) > 50:
        del keep[:25]
    time.sleep(0.01)
'
check_series python3 "$T/py"
