#!/usr/bin/env bash
# Snapshots come every --interval and on SIGUSR2, in single-threaded programs
# (taken from the allocation path, so glibc keeps its single-thread fast path)
# and in multi-threaded ones (the shim's thread); the series shows the leak
# growing.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
for s in loop loopmt; do
    "$LEAKAUDIT" run -q -i 1 -o "$T/$s" -- "$PLANTED" "$s" 8 &
    pid=$!
    # a periodic snapshot first (the program runs 8 s at -i 1: time to spare
    # for the signal on a slow machine), then the signal
    for _ in $(seq 600); do ls "$T/$s"/*.snap >/dev/null 2>&1 && break; sleep 0.05; done
    ls "$T/$s"/*.snap >/dev/null 2>&1 || fail "[$s] no periodic snapshot in 30 s"
    kill -USR2 "$(pgrep -P $pid -f "planted $s" | sed -n 1p)"
    wait $pid
    n=$(ls "$T/$s"/*.snap | wc -l)
    [ "$n" -ge 4 ] || fail "[$s] expected >= 4 snapshots (3 periodic, 1 signal, 1 exit), got $n"
    sig=0; prev=0; grew=0
    for f in "$T/$s"/*.snap; do
        "$SNAPDUMP" "$f" >"$T/d"
        grep -q 'trigger=signal' "$T/d" && sig=1
        b=$(site "$T/d" heap decode_frame); b=${b%% *}
        [ "$b" -gt "$prev" ] && grew=$((grew + 1))
        prev=$b
    done
    [ $sig = 1 ] || fail "[$s] no snapshot taken on SIGUSR2"
    [ $grew -ge 3 ] || fail "[$s] the leak did not grow across the series"
    last=$(ls "$T/$s"/*.snap | tail -1)
    "$SNAPDUMP" "$last" >"$T/last"
    grep -q "trigger=exit" "$T/last" || fail "[$s] last snapshot is not the exit one"
    ok "[$s] $n snapshots, signal one included, leak growing"
done
if [ "$(grep -c . /proc/self/status)" -gt 0 ]; then
    # single-threaded programs stay single-threaded under the shim: no
    # thread of the shim's ("leakaudit"), and natively one thread (qemu-user
    # runs a thread of its own in some programs: make test-arm64)
    "$LEAKAUDIT" run -q -i 1 -o "$T/st" -- "$PLANTED" loop 6 &
    p=""
    for _ in $(seq 200); do # the program, with the shim loaded and running
        p=$(pgrep -f "planted loop 6" | tail -1) && [ -n "$p" ] &&
            grep -q libleakaudit "/proc/$p/maps" 2>/dev/null && break
        sleep 0.05
    done
    [ -n "$p" ] || fail "planted loop 6 did not start in 10 s"
    threads=$(awk '/^Threads:/ {print $2}' /proc/$p/status)
    names=$(cat /proc/$p/task/*/comm | tr '\n' ' ')
    wait
    [[ " $names" != *" leakaudit "* ]] || fail "the shim started its thread in a single-threaded program"
    [ "${LEAKAUDIT_ARCH:-}" = arm64 ] || [ "$threads" = 1 ] ||
        fail "single-threaded program has $threads threads under the shim"
    ok "single-threaded program keeps one thread of its own ($names)"
fi
