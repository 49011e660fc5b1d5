#!/usr/bin/env bash
# timeout: 120
# `attach --inject` into ffmpeg the moment it is started, while its dynamic
# linker maps and relocates ~100 libraries. Until the loader is done, no
# stop is a safe point: libc may be mapped but not yet executable or
# relocated, or the thread may be running an IFUNC resolver the loader
# called (pc outside every runtime library, libc not ready). The tracer
# waits for the loader's r_debug to say RT_CONSISTENT. Every attach must
# inject, never report a fault, and leave ffmpeg's run and exit status as
# they were. (Without the loader rules: 34 of 40 such attaches faulted;
# with the system-call rule alone, 2 of 80.)
# lane: bpf
source "$(dirname "$0")/../lib.sh"
need_root
need_cmd ffmpeg

for i in $(seq 8); do
    # -re: half a second of frames in real time, so ffmpeg outlives the attach
    ffmpeg -hide_banner -loglevel error -re -f lavfi -i nullsrc=s=64x64 -t 0.5 -f null - </dev/null &
    fpid=$!
    rc=0
    "$LEAKAUDIT" attach --inject -p $fpid -d 200ms -o "$T/o$i" 2>"$T/err" || rc=$?
    frc=0
    wait $fpid || frc=$?
    ! grep -q 'faulted' "$T/err" || { cat "$T/err"; fail "try $i: the injected call faulted in the starting ffmpeg"; }
    [ $rc -eq 0 ] || { cat "$T/err"; fail "try $i: attach --inject exit $rc"; }
    assert_contains "$T/err" "injected into pid $fpid"
    [ $frc -eq 0 ] || fail "try $i: ffmpeg exit $frc with the attach"
done
ok "8 attaches to ffmpeg as it starts: each injected after the loader, no fault, ffmpeg exit 0"
