#!/usr/bin/env bash
# timeout: 120
# `attach --inject` into ffmpeg the moment it is started, while its dynamic
# linker maps and relocates ~100 libraries. The loader makes those system
# calls itself, and a thread blocked in one is not at a safe point: libc may
# be mapped but not yet executable or relocated, so dlopen would fault (34
# of 40 such attaches did before the loader's own system calls were ruled
# out). Every attach must inject (after the loader is done), never report a
# fault, and leave ffmpeg's run and exit status as they were.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
need_root
need_cmd ffmpeg

for i in $(seq 8); do
    ffmpeg -hide_banner -loglevel error -f lavfi -i nullsrc=s=64x64 -t 0.3 -f null - </dev/null &
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
