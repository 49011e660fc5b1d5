#!/usr/bin/env bash
# timeout: 400
# 100 attach --inject / detach cycles on a running inferd under HTTP load:
# no request fails, inferd never dies, every cycle writes its snapshot, and
# after the last detach inferd holds no more threads or fds than before the
# first attach and no mapping per cycle (the dormant library and the shim's
# tables are mapped once); it still answers and ends cleanly on SIGTERM.
# check: no
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../inferd/lib_inferd.sh"
need_root
need_file "$SHIM"
CYCLES=${INJECT_CYCLES:-100}

inferd_clip "$T/counter.mp4" --seconds 3
cat >"$T/inferd.cfg" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 2,
  "clips": {"counter": "$T/counter.mp4"},
  "streams": [{"source": "counter"}, {"source": "counter"}]
}
JSON
inferd_start "$T/inferd.cfg"
# both streams running (their threads started) before the baseline counts
running() {
    [ "$(metric inferd_frames_inferred_total 'stream="1"')" -ge 5 ] &&
        [ "$(metric inferd_frames_inferred_total 'stream="2"')" -ge 5 ]
}
wait_until 30 running || fail "inferd's streams did not both infer frames in 30 s"

# HTTP load until $T/stop exists: one line per request, the status code
( while [ ! -e "$T/stop" ]; do
      curl -s -o /dev/null -w '%{http_code}\n' "$URL/metrics"
      curl -s -o /dev/null -w '%{http_code}\n' "$URL/streams/1/detections?limit=3"
      sleep 0.02
  done >"$T/codes" ) &
loadpid=$!

count() { ls "/proc/$INFERD_PID/$1" | wc -l; }
maps() { wc -l <"/proc/$INFERD_PID/maps"; }
threads0=$(count task) fds0=$(count fd)

for i in $(seq "$CYCLES"); do
    "$LEAKAUDIT" attach --inject -q -p "$INFERD_PID" -o "$T/c$i" -i detach -d 200ms 2>"$T/err" ||
        { cat "$T/err"; fail "cycle $i: attach --inject failed"; }
    kill -0 "$INFERD_PID" 2>/dev/null || fail "cycle $i: inferd died"
    ls "$T/c$i"/*.snap >/dev/null 2>&1 || fail "cycle $i: no snapshot"
    [ "$i" = 1 ] && maps1=$(maps)
done
mapsN=$(maps)
touch "$T/stop"
wait "$loadpid" || true

total=$(wc -l <"$T/codes")
bad=$(grep -vc '^200$' "$T/codes" || true)
[ "$total" -ge 50 ] || fail "only $total requests made during the cycles"
[ "$bad" = 0 ] || fail "$bad of $total requests failed: $(grep -v '^200$' "$T/codes" | sort | uniq -c)"
ok "$CYCLES attach/detach cycles under load: $total requests, none failed, a snapshot per cycle"

grep -q libleakaudit "/proc/$INFERD_PID/maps" || fail "the library is not mapped (expected dormant)"
# the library's thread ends and its fds close after the detach returns
threads_back() { [ "$(count task)" -le "$threads0" ]; }
fds_back() { [ "$(count fd)" -le "$fds0" ]; }
wait_until 30 threads_back || fail "threads: $threads0 before, $(count task) 30 s after the last detach"
wait_until 30 fds_back || fail "fds: $fds0 before, $(count fd) after: $(ls -l "/proc/$INFERD_PID/fd")"
# one mapping per cycle would be +$CYCLES
[ $((mapsN - maps1)) -le 10 ] || fail "mappings grew from $maps1 (cycle 1) to $mapsN (cycle $CYCLES)"
ok "after the last detach: threads $(count task) (before $threads0), fds $(count fd) (before $fds0), mappings $maps1 -> $mapsN from cycle 1 to $CYCLES"

[ "$(http GET /metrics)" = 200 ] || fail "inferd does not answer after the cycles"
inferd_stop TERM
[ "$INFERD_RC" = 0 ] || fail "inferd exited with $INFERD_RC after SIGTERM"
ok "inferd answers, then ends cleanly on SIGTERM"
