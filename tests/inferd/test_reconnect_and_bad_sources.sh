#!/usr/bin/env bash
# Streams that fail are retried with backoff and never take inferd down: a
# forced reconnect resumes decoding, a missing file and a garbage file back
# off with the error in GET /streams/{id}, a truncated stream decodes what is
# there and goes on, corrupt packets are counted as decode errors.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"

inferd_clip "$T/counter.mp4" --seconds 3
inferd_clip "$T/cut.ts" --seconds 3 --truncate 50
inferd_clip "$T/cut.mp4" --seconds 3 --truncate 50
inferd_clip "$T/garbage.mp4" --garbage
cat >"$T/c.json" <<JSON
{
  "http": {"port": 0}, "log_level": "error",
  "reconnect": {"initial_ms": 50, "max_ms": 400},
  "clips": {"counter": "$T/counter.mp4", "missing": "$T/does-not-exist.mp4",
            "garbage": "$T/garbage.mp4", "cut_ts": "$T/cut.ts", "cut_mp4": "$T/cut.mp4"},
  "streams": [
    {"source": "counter"},
    {"source": "missing"},
    {"source": "garbage"},
    {"source": "cut_ts", "loop": false, "realtime": false},
    {"source": "cut_mp4"},
    {"source": "counter", "corrupt_every_n_packets": 7}
  ]
}
JSON
inferd_start "$T/c.json"

# 1: a forced reconnect is counted and decoding resumes.
running() { [ "$(metric inferd_stream_up 'stream="1"')" = 1 ]; }
wait_until 30 running || fail "stream 1 never connected"
before=$(metric inferd_frames_decoded_total 'stream="1"')
[ "$(http POST /streams/1/reconnect)" = 202 ] || fail "reconnect refused"
reconnected() { [ "$(metric inferd_reconnects_total 'stream="1"')" -ge 1 ]; }
wait_until 30 reconnected || fail "the reconnect was not counted"
resumed() { [ "$(metric inferd_frames_decoded_total 'stream="1"')" -gt $((before + 10)) ]; }
wait_until 30 resumed || fail "decoding did not resume after the reconnect"
ok "forced reconnect resumes decoding"

# 2, 3, 5: missing, garbage and moov-less files keep backing off, with a reason.
for id in 2 3 5; do
    retried() { [ "$(metric inferd_reconnects_total "stream=\"$id\"")" -ge 2 ]; }
    wait_until 30 retried || fail "stream $id is not being retried"
    [ "$(metric inferd_frames_decoded_total "stream=\"$id\"")" = 0 ] || fail "stream $id decoded?"
    http GET /streams/$id >/dev/null
    assert_contains "$T/body" '"state":"(backoff|starting)"'
    assert_contains "$T/body" '"last_error":"(open|stream info|video stream)[^"]+'
done
ok "missing / garbage / truncated mp4 back off with an error: $(cat "$T/body")"

# 4: a truncated transport stream decodes its first half, then is replayed.
cut_replayed() { [ "$(metric inferd_reconnects_total 'stream="4"')" -ge 2 ]; }
wait_until 30 cut_replayed || fail "the truncated stream was not replayed"
n=$(metric inferd_frames_decoded_total 'stream="4"')
[ "$n" -ge 20 ] || fail "the truncated stream decoded only $n frames"
ok "truncated .ts decoded $n frames over $(metric inferd_reconnects_total 'stream="4"') reconnects"

# 6: corrupt packets are rejected by the decoder and counted.
corrupt() { [ "$(metric inferd_decode_errors_total 'stream="6"')" -ge 3 ]; }
wait_until 30 corrupt || fail "corrupt packets were not counted as decode errors"
[ "$(metric inferd_packets_corrupted_total 'stream="6"')" -ge 3 ] || fail "injector idle"
ok "corrupt packets: $(metric inferd_decode_errors_total 'stream="6"') decode errors"

[ "$(http GET /healthz)" = 200 ] || fail "inferd is not healthy"
inferd_stop TERM
assert_eq "$INFERD_RC" 0
