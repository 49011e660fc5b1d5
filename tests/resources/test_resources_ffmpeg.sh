#!/usr/bin/env bash
# timeout: 120
# The real-library case: a pipeline on FFmpeg's libavutil whose error path
# (every 8th packet) leaks an AVFrame and an AVBufferRef. With the ffmpeg
# preset -- nothing else named -- both are found at process_packet() as
# growing leaks under the shim, and found again by attaching to the
# running pipeline.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
APP=$RES/ffmpeg_app
need_file "$APP"

LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -q -i 100ms -o "$T/s" --track-resource preset:ffmpeg \
    -- "$APP" 400 3000 >"$T/out"
assert_eq "$(cat "$T/out")" "errors=50" "the program's own output"
"$RESDUMP" "$T/s" >"$T/d"
assert_eq "$(res_at "$T/d" avframe process_packet)" "50 400 350 0 " "AVFrames"
assert_eq "$(res_at "$T/d" avbuffer process_packet)" "50 400 350 0 " "AVBufferRefs"
assert_eq "$(res_at "$T/d" avbuffer main)" "0 1 1 0 " "the shared buffer, released"
"$LEAKAUDIT" report "$T/s" >"$T/text"
for kind in avframe avbuffer; do
    sed -n "/^RESOURCE $kind:/,/^RESOURCE\|^WARNINGS/p" "$T/text" >"$T/$kind"
    assert_contains "$T/$kind" "^RESOURCE $kind: 50 outstanding .*\(1 leak"
    grep -A4 '^#1 leak' "$T/$kind" | grep process_packet >/dev/null || fail "$kind leak not at process_packet"
done
ok "shim: 50 AVFrames and 50 AVBufferRefs leaked at process_packet, verdict leak"

if [ "${LEAKAUDIT_ARCH:-}" = arm64 ]; then
    echo "NOTE: attach not tried under qemu-aarch64 (BPF cannot load there: docs/architectures.md)"
    exit 0
fi
need_root
"$APP" 30000 2000 >/dev/null & # 60 s at most: killed once the attach is done
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_mapped $tpid 'libavutil' 'libc\.so'
"$LEAKAUDIT" attach -p $tpid -o "$T/a" --no-heap --no-fds -d 2 -v \
    --track-resource preset:ffmpeg 2>"$T/log" || { cat "$T/log"; fail "attach failed"; }
kill $tpid 2>/dev/null || true
"$RESDUMP" "$T/a" >"$T/ad"
for kind in avframe avbuffer; do
    read -r live created destroyed _ < <(res_at "$T/ad" $kind process_packet)
    [ "$created" -ge 80 ] || fail "attach: only $created $kind creates seen"
    # one in 8 leaks: live is created/8, give or take the packet in flight
    [ $((live * 8)) -ge $((created - 16)) ] && [ $((live * 8)) -le $((created + 16)) ] ||
        fail "attach: $kind live=$live of created=$created"
    ok "attach: $live of $created ${kind}s outstanding at process_packet"
done
