#!/usr/bin/env bash
# timeout: 90
# Attached to a running inferd (the video-inference daemon) with defect 2
# (every vendor run dup()s its input memfd) and defect 3 (a decode error
# leaks the packet's frame buffer) switched on, the tracer finds both at
# their planted functions: open fds created by dup in
# vendorsim_run_dup_input_fd (libvendorsim.so), and live frame buffers
# allocated under inferd_frame_alloc <- inferd_decode_packet. inferd keeps
# running and answers HTTP after the detach.
# check: no
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
source "$(dirname "$0")/../inferd/lib_inferd.sh"
need_file "$VENDORSIM"

inferd_clip "$T/counter.mp4" --seconds 3
cat >"$T/inferd.cfg" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 2,
  "backend": {"kind": "vendorsim", "plugin": "$VENDORSIM"},
  "clips": {"counter": "$T/counter.mp4"},
  "stream_defaults": {"corrupt_every_n_packets": 6},
  "defects": {"dup_input_fd": true, "decode_error_leak": true},
  "streams": [{"source": "counter"}, {"source": "counter"}]
}
JSON
inferd_start "$T/inferd.cfg"
# attach to a running pipeline (not one still starting its streams)
busy() { [ "$(metric inferd_frames_inferred_total 'stream="1"')" -ge 5 ]; }
wait_until 30 busy || fail "inferd inferred no frames"
"$LEAKAUDIT" attach -p "$INFERD_PID" -o "$T/a" -d 5 -v 2>"$T/attach.log" ||
    { cat "$T/attach.log"; fail "attach failed"; }
kill -0 "$INFERD_PID" || fail "inferd died while attached"
[ "$(http GET /metrics)" = 200 ] || fail "inferd does not answer after the detach"
"$DUMP" "$T/a" >"$T/d"
# inferd (FFmpeg inside) has thousands of distinct stacks: some land in a
# taken bucket of the BPF stack map and keep only their caller; that loss is
# counted (stack_collision) and shown here. fds created by a syscall already
# in flight when the tracepoints went live are fd_unattributed (information,
# docs/attach.md). Every other loss counter must be zero.
grep -E '^loss (stack_collision|fd_unattributed)' "$T/d" || true
no_drops <(grep -v -E '^loss (stack_collision|fd_unattributed)=' "$T/d")

# frames_with REGEX FUNC: dump lines matching REGEX having FUNC in any of
# their frames.
frames_with() {
    local re=$1 func=$2 line frames f
    while IFS= read -r line; do
        frames=${line##*frames=}
        for f in ${frames//,/ }; do
            if [ "$(func_of "$f")" = "$func" ]; then
                echo "$line"
                break
            fi
        done
    done < <(grep -E "$re" "$T/d")
}

dups=$(frames_with '^fd .*origin=dup .*target=/memfd:inferd-dmabuf' vendorsim_run_dup_input_fd |
    grep -c . || true)
[ "$dups" -ge 10 ] || { grep '^fd ' "$T/d" | head; fail "defect 2: $dups dup()ed memfds at vendorsim_run_dup_input_fd"; }
ok "defect 2: $dups open fds dup()ed in vendorsim_run_dup_input_fd"

frames_with '^heap .*live_count=[1-9]' inferd_frame_alloc >"$T/frames" || true
leaked=$(grep -c 'frames=.*' "$T/frames" || true)
[ "$leaked" -ge 1 ] || { grep '^heap ' "$T/d" | head; fail "defect 3: no live frame buffers from inferd_frame_alloc"; }
count=$(sed -n 's/.*live_count=\([0-9]*\).*/\1/p' "$T/frames" | paste -sd+ | bc)
[ "$count" -ge 3 ] || fail "defect 3: only $count live frame buffers"
while IFS= read -r line; do
    in_decode=0
    frames=${line##*frames=}
    for f in ${frames//,/ }; do
        [ "$(func_of "$f")" = inferd_decode_packet ] && in_decode=1
    done
    [ $in_decode = 1 ] || fail "defect 3: a leaked frame buffer stack misses inferd_decode_packet: $line"
done <"$T/frames"
ok "defect 3: $count live frame buffers from inferd_frame_alloc <- inferd_decode_packet"
inferd_stop
