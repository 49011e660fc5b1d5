#!/usr/bin/env bash
# Every HTTP endpoint of inferd, and its error cases: 400 with a message for
# bad JSON and bad fields, 403 for sources outside the allow-list (no request
# reaches the filesystem), 404 for unknown paths and streams, 405 with Allow
# for wrong methods, 413 for oversized bodies.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"

inferd_clip "$T/counter.mp4" --seconds 4
cat >"$T/c.json" <<JSON
{
  "http": {"port": 0, "max_body_bytes": 1024}, "log_level": "warn",
  "clips": {"counter": "$T/counter.mp4"},
  "allow_urls": ["http://127.0.0.1:9/"],
  "streams": [{"source": "counter"}]
}
JSON
inferd_start "$T/c.json"

expect() { # expect STATUS METHOD PATH [curl args] -- body regex optional via $BODY_RE
    local want=$1
    shift
    local got
    got=$(http "$@")
    [ "$got" = "$want" ] || { cat "$T/body"; fail "$1 $2: expected $want, got $got"; }
    if [ -n "${BODY_RE:-}" ]; then assert_contains "$T/body" "$BODY_RE"; fi
    BODY_RE=
    ok "$1 $2 -> $want"
}

BODY_RE='"status":"ok"' expect 200 GET /healthz
expect 200 GET /metrics
for m in inferd_frames_decoded_total inferd_frames_inferred_total inferd_frames_dropped_total \
    inferd_queue_depth inferd_latency_ms_bucket process_resident_memory_bytes process_open_fds; do
    assert_contains "$T/body" "^$m"
done
BODY_RE='"streams":\[\{"id":1' expect 200 GET /streams
BODY_RE='"source":"counter"' expect 200 GET /streams/1
decoded() { [ "$(metric inferd_frames_inferred_total 'stream="1"')" -ge 10 ]; }
wait_until 30 decoded || fail "stream 1 produced no results"
BODY_RE='"detections":\[\{' expect 200 GET '/streams/1/detections?limit=3'
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["detections"]) == 3' \
    "$T/body" || fail "limit=3 did not give 3 detections"
snap() { [ "$(http GET /streams/1/snapshot.jpg)" = 200 ]; }
wait_until 30 snap || fail "no snapshot"
head -c 2 "$T/body" | od -An -tx1 | grep "ff d8" >/dev/null || fail "snapshot is not a JPEG"
BODY_RE='"reconnecting"' expect 202 POST /streams/1/reconnect

# Adding and removing streams.
BODY_RE='"id":2' expect 201 POST /streams -d '{"source": "counter", "name": "second", "loop": false}'
BODY_RE='"name":"second"' expect 200 GET /streams/2
BODY_RE='"deleted"' expect 200 DELETE /streams/2
expect 404 GET /streams/2
expect 404 DELETE /streams/2

# Bad requests.
BODY_RE='"error":"bad JSON' expect 400 POST /streams -d '{"source": '
BODY_RE='"error":"body: expected' expect 400 POST /streams
BODY_RE='must be a JSON object' expect 400 POST /streams -d '[1, 2]'
BODY_RE='source: is required' expect 400 POST /streams -d '{"name": "x"}'
BODY_RE='colour: unknown field' expect 400 POST /streams -d '{"source": "counter", "colour": 1}'
BODY_RE='loop: must be true or false' expect 400 POST /streams -d '{"source": "counter", "loop": 1}'
BODY_RE='bad JSON' expect 400 POST /streams -d '{"source": "counter", "source": "counter"}'
BODY_RE='limit: must be' expect 400 GET '/streams/1/detections?limit=0'
BODY_RE='limit: must be' expect 400 GET '/streams/1/detections?limit=abc'
# Nothing from a request reaches the filesystem or an arbitrary URL.
BODY_RE='neither a configured clip' expect 403 POST /streams -d '{"source": "/etc/passwd"}'
BODY_RE='neither a configured clip' expect 403 POST /streams -d "{\"source\": \"$T/counter.mp4\"}"
BODY_RE='neither a configured clip' expect 403 POST /streams -d '{"source": "file:///etc/passwd"}'
BODY_RE='neither a configured clip' expect 403 POST /streams -d '{"source": "http://10.0.0.1/x"}'
# Oversized bodies: declared, and chunked without a length.
head -c 5000 /dev/zero | tr '\0' ' ' >"$T/big"
BODY_RE='too large' expect 413 POST /streams --data-binary @"$T/big"
BODY_RE='too large' expect 413 POST /streams -H 'Transfer-Encoding: chunked' --data-binary @"$T/big"

# Unknown resources and wrong methods.
expect 404 GET /nope
expect 404 GET /streams/999
expect 404 GET /streams/abc
expect 404 GET /streams/1/nope
expect 404 GET /streams/0
expect 404 GET /streams/12345678901234567890
expect 405 PUT /streams
expect 405 DELETE /healthz
expect 405 POST /metrics
expect 405 GET /streams/1/reconnect
expect 405 POST /streams/1/detections
expect 405 PATCH /streams/1
http DELETE /streams -D "$T/headers" >/dev/null
assert_contains "$T/headers" "^Allow: GET, HEAD, POST"

# Still healthy, and the errors were counted.
expect 200 GET /healthz
[ "$(metric inferd_http_errors_total)" -ge 20 ] || fail "errors were not counted"
inferd_stop TERM
assert_eq "$INFERD_RC" 0
