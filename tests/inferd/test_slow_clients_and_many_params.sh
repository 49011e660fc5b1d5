#!/usr/bin/env bash
# Slow clients cannot take the API down: 200 connections from one client
# (127.0.0.2) that each trickle a header line per second are capped per
# client and dropped at the header deadline however many bytes they send,
# while a legitimate request (127.0.0.1) is answered. A request with 1,000
# query parameters gets its 431.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"
need_cmd python3
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
    skip "cannot bind 127.0.0.2 on the loopback"

inferd_clip "$T/counter.mp4" --seconds 2
inferd_config "$T/counter.mp4" '' "$T/c.json"
inferd_start "$T/c.json"
port=${URL##*:}
# the header deadline (inferd/http.c HTTP_HEADER_DEADLINE_S) plus slack
deadline=10

python3 "$ROOT/tests/inferd/slow_clients.py" "$port" 200 127.0.0.2 40 "$T/ready" >"$T/slow.out" &
SLOW=$!
on_exit "kill $SLOW 2>/dev/null"
for _ in $(seq 300); do [ -e "$T/ready" ] && break; sleep 0.1; done
[ -e "$T/ready" ] || fail "the slow clients did not connect"
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "$URL/healthz") || true
[ "$code" = 200 ] || fail "healthz while 200 slow clients trickle: got '$code'"
assert_contains "$T/body" '"status":"ok"'
ok "a legitimate request is answered while 200 slow clients trickle headers"

wait $SLOW || fail "slow_clients.py failed"
cat "$T/slow.out"
read -r accepted refused closed still longest < <(sed 's/[a-z_]*=//g' "$T/slow.out")
[ "$still" = 0 ] || fail "$still slow connections were still open after 40 s"
[ "$refused" -gt 0 ] || fail "one client got all of its 200 connections"
awk -v l="$longest" -v d="$deadline" 'BEGIN { exit !(l <= d + 5) }' ||
    fail "a trickling connection stayed open ${longest}s, past the ${deadline}s header deadline"
ok "one client is capped ($accepted accepted, $refused refused); trickling does not extend the header deadline"

params=$(python3 -c 'print("&".join("p%d=%d" % (i, i) for i in range(1000)))')
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "$URL/healthz?$params") || true
[ "$code" = 431 ] || fail "1,000 query parameters: got '$code', expected 431"
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "$URL/streams/1/detections?limit=1") || true
[ "$code" = 200 ] || [ "$code" = 404 ] || fail "after the 431: got '$code'"
ok "1,000 query parameters get 431"
inferd_stop
