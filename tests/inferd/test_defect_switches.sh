#!/usr/bin/env bash
# Each planted defect switch does its thing, observably, with a baseline run
# (every switch off) that does not: 2 dup_input_fd makes /proc/PID/fd climb,
# 3 decode_error_leak makes live frame buffers and RSS climb, 4
# reconnect_ref_leak adds a reference per reconnect, 5 use_after_destroy
# completes jobs on destroyed contexts, 1 heap_overflow makes glibc abort
# later, elsewhere.
# check: no
# timeout: 300
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"
need_file "$VENDORSIM"

inferd_clip "$T/counter.mp4" --seconds 4
config() { # config OUT 'defects' [stream_defaults members] [extra top-level members]
    local sd='"corrupt_every_n_packets": 5'
    [ -z "${3:-}" ] || sd=$3
    cat >"$1" <<JSON
{
  "http": {"port": 0}, "log_level": "error", "workers": 2,
  "backend": {"kind": "vendorsim", "plugin": "$VENDORSIM", "recycle_context_every": 25},
  "clips": {"counter": "$T/counter.mp4"},
  "stream_defaults": {$sd},
  "defects": {$2},
  ${4:-}
  "streams": [{"source": "counter"}]
}
JSON
}
fds() { ls /proc/"$INFERD_PID"/fd | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/"$INFERD_PID"/status; }

# observe NAME DEFECTS [DONE]: run with the given defects, poke 5 reconnects
# 0.8 s apart, wait until inferd has done all 5 and DONE (a command, may read
# $fd0) holds (60 s at most: the assertions then tell what is missing), and
# record fds, frames_live, info refs and use-after-destroy counts.
observe() {
    config "$T/$1.json" "$2"
    inferd_start "$T/$1.json"
    running() { [ "$(metric inferd_frames_inferred_total 'stream="1"')" -ge 5 ]; }
    wait_until 30 running || fail "$1: no frames"
    local fd0 t0=$SECONDS
    fd0=$(fds)
    for i in 1 2 3 4 5; do
        http POST /streams/1/reconnect >/dev/null
        sleep 0.8
    done
    reconnected() { [ "$(metric inferd_reconnects_total 'stream="1"')" -ge 5 ]; }
    wait_until 60 reconnected || echo "$1: reconnects not all done in 60 s"
    wait_until 60 "${3:-true}" || echo "$1: not all defects observable in 60 s"
    eval "${1}_secs=$((SECONDS - t0))"
    eval "${1}_fd_growth=$(($(fds) - fd0))"
    eval "${1}_live=$(metric inferd_frames_live)"
    eval "${1}_refs=$(metric inferd_stream_info_refs 'stream="1"')"
    eval "${1}_uad=$(metric inferd_backend_stat 'use_after_destroy')"
    eval "${1}_errors=$(metric inferd_decode_errors_total 'stream="1"')"
    eval "${1}_reconnects=$(metric inferd_reconnects_total 'stream="1"')"
    inferd_stop TERM
    eval "${1}_rc=$INFERD_RC"
}

observe base ''
echo "baseline: fd growth $base_fd_growth, frames live $base_live, info refs $base_refs," \
    "use-after-destroy $base_uad, decode errors $base_errors, exit $base_rc"
assert_eq "$base_rc" 0 "baseline run did not exit cleanly"
[ "$base_errors" -ge 5 ] || fail "the corrupt-packet injector did not produce decode errors"
[ "$base_fd_growth" -le 2 ] || fail "baseline fds grew by $base_fd_growth"
[ "$base_live" -le 16 ] || fail "baseline has $base_live live frames"
assert_eq "$base_refs" 2 "baseline info refs"
assert_eq "$base_uad" 0 "baseline use-after-destroy"

# every defect observable: the conditions asserted below
leaky_done() {
    [ $(($(fds) - fd0)) -ge 50 ] && [ "$(metric inferd_backend_stat 'use_after_destroy')" -ge 1 ] &&
        [ "$(metric inferd_stream_info_refs 'stream="1"')" -ge 7 ] &&
        [ "$(metric inferd_frames_live)" -ge $((base_live + $(metric inferd_decode_errors_total 'stream="1"') - 2)) ]
}
observe leaky '"dup_input_fd": true, "decode_error_leak": true, "reconnect_ref_leak": true,
               "use_after_destroy": true' leaky_done
echo "defects 2-5: fd growth $leaky_fd_growth, frames live $leaky_live, info refs $leaky_refs," \
    "use-after-destroy $leaky_uad, decode errors $leaky_errors, reconnects $leaky_reconnects"
[ "$leaky_fd_growth" -ge 50 ] || fail "defect 2: fds grew by only $leaky_fd_growth"
ok "defect 2 (dup_input_fd): +$leaky_fd_growth fds in $leaky_secs s"
[ "$leaky_live" -ge $((base_live + leaky_errors - 2)) ] ||
    fail "defect 3: $leaky_live live frames for $leaky_errors decode errors"
ok "defect 3 (decode_error_leak): $leaky_live frame buffers live after $leaky_errors decode errors"
[ "$leaky_refs" -ge $((2 + leaky_reconnects)) ] ||
    fail "defect 4: $leaky_refs refs after $leaky_reconnects reconnects"
ok "defect 4 (reconnect_ref_leak): $leaky_refs references after $leaky_reconnects reconnects"
[ "$leaky_uad" -ge 1 ] || fail "defect 5: no job completed on a destroyed context"
ok "defect 5 (use_after_destroy): $leaky_uad completions on destroyed contexts"

# Defect 3 alone, more corruption: RSS climbs with the leaked 75 KiB frames.
config "$T/rss.json" '"decode_error_leak": true' '"corrupt_every_n_packets": 2, "realtime": false' \
    '"drop_policy": "block",'
inferd_start "$T/rss.json"
decoding() { [ "$(metric inferd_decode_errors_total 'stream="1"')" -ge 1 ]; }
wait_until 30 decoding || fail "defect 3: no decode errors"
r0=$(rss_kb)
t0=$SECONDS
grown() { [ $(($(rss_kb) - r0)) -ge 20000 ]; }
wait_until 60 grown || true
r1=$(rss_kb)
inferd_stop TERM
echo "defect 3: RSS $r0 KiB -> $r1 KiB in $((SECONDS - t0)) s"
[ $((r1 - r0)) -ge 20000 ] || fail "defect 3: RSS grew by only $((r1 - r0)) KiB"
ok "defect 3: RSS +$((r1 - r0)) KiB in $((SECONDS - t0)) s"

# Defect 1: the vendor thread's overflow is detected by glibc later, elsewhere.
config "$T/overflow.json" '"heap_overflow": true'
rc=0
timeout -s KILL 60 "$INFERD" -c "$T/overflow.json" --duration 3 2>"$T/overflow.err" || rc=$?
echo "defect 1: exit $rc, $(tail -1 "$T/overflow.err")"
assert_eq "$rc" 134 "defect 1: expected an abort (134)"
assert_contains "$T/overflow.err" "(corrupted|invalid|free\(\)|malloc\(\))"
ok "defect 1 (heap_overflow): glibc aborted: $(tail -1 "$T/overflow.err")"
