#!/usr/bin/env bash
# A bounded loopback load test: wrk against /metrics and
# /streams/1/detections for 8 s each while two streams run. No crash, no
# non-2xx answer, no socket error; the latency is printed, not judged (a
# request is a timeout only after 30 s, not wrk's 2 s: the machine may be
# busy with other tests).
# timeout: 90
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"
need_cmd wrk

inferd_clip "$T/counter.mp4" --seconds 4
cat >"$T/c.json" <<JSON
{
  "http": {"port": 0, "threads": 2}, "log_level": "warn",
  "clips": {"counter": "$T/counter.mp4"},
  "streams": [{"source": "counter"}, {"source": "counter"}]
}
JSON
inferd_start "$T/c.json"
busy() { [ "$(metric inferd_frames_inferred_total 'stream="1"')" -ge 5 ]; }
wait_until 30 busy || fail "streams are not running"

for path in /metrics /streams/1/detections; do
    wrk -t 2 -c 8 -d 8s --timeout 30s --latency "$URL$path" >"$T/wrk.txt" 2>&1 || fail "wrk failed on $path"
    echo "--- wrk -t 2 -c 8 -d 8s $path"
    sed -n '/Latency/,/Transfer/p' "$T/wrk.txt"
    assert_not_contains "$T/wrk.txt" "Non-2xx"
    assert_not_contains "$T/wrk.txt" "Socket errors"
    requests=$(awk '/requests in/ {print $1}' "$T/wrk.txt")
    [ "${requests:-0}" -ge 100 ] || fail "$path: only ${requests:-0} requests answered"
    kill -0 "$INFERD_PID" || fail "inferd died under load"
    ok "$path: $requests requests, all 2xx"
done
# The streams kept running during the load.
[ "$(metric inferd_stream_up 'stream="2"')" = 1 ] || fail "stream 2 went down"
inferd_stop TERM
assert_eq "$INFERD_RC" 0
