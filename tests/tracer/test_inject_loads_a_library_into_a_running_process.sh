#!/usr/bin/env bash
# timeout: 180
# The injector behind `attach --inject` (tracer/inject.c), on a live
# multi-threaded target: the library is loaded by the target's own dlopen on
# a thread at a safe point (main thread asleep in nanosleep; main parked in
# pthread_join, so another thread is picked; every thread busy, so a moment
# outside libc is found), its constructor runs in the target, and the
# target's output is the same as a run without injection (registers, vector
# state and the interrupted nanosleep all restored: no early wake). 30
# injections in one run change nothing either; a second load reports the
# library as already there; a missing library is an error with dlerror's
# reason; a target under a seccomp filter is refused.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
need_root
INJ=$TESTBIN/tracer/inject_lib
TGT=$TESTBIN/tracer/inject_target
LIB=$(cd "$TESTBIN/tracer" && pwd)/libinject_probe.so
need_file "$INJ"
need_file "$TGT"
need_file "$LIB"

# wait_ready FILE: the target printed "ready" (or a bound of 10 s)
wait_ready() {
    for _ in $(seq 100); do grep -q '^ready$' "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "target never got ready"
}

# wait_status PID REGEX: a line of /proc/PID/status matches (bound 10 s)
wait_status() {
    for _ in $(seq 200); do grep -Eq "$2" "/proc/$1/status" 2>/dev/null && return 0; sleep 0.05; done
    fail "pid $1: no status line '$2' in 10 s"
}

for mode in sleep join busy; do
    "$TGT" 3 2 "$mode" >"$T/base.$mode"
    grep -v '^ready$' "$T/base.$mode" >"$T/base.$mode.s"
    assert_contains "$T/base.$mode.s" '^ok$'
    assert_not_contains "$T/base.$mode.s" 'early wake'

    # runs until $T/stop.$mode exists (made after the injections): a slow
    # injection (ASan, a loaded machine) never finds the target gone
    INJECT_TARGET_STOP_FILE=$T/stop.$mode "$TGT" 3 0 "$mode" >"$T/out.$mode" &
    pid=$!
    if [ "$mode" = sleep ]; then # its 3 workers started, the main thread asleep
        wait_status $pid '^Threads:[[:space:]]+4$'
        wait_status $pid '^State:[[:space:]]+S'
    else
        wait_ready "$T/out.$mode"
    fi
    rm -f "/tmp/leakaudit-inject-probe.$pid"
    "$INJ" "$pid" "$LIB" >"$T/inj.$mode" 2>&1 || { cat "$T/inj.$mode"; fail "[$mode] injection failed"; }
    grep -q "libinject_probe.so" "/proc/$pid/maps" || fail "[$mode] library not mapped"
    read -r line <"/tmp/leakaudit-inject-probe.$pid" || fail "[$mode] constructor did not run"
    tid=$(sed -n 's/.* tid=\([0-9]*\) .*/\1/p' "$T/inj.$mode")
    [ "$line" = "loaded pid=$pid tid=$tid" ] || fail "[$mode] constructor ran as '$line', injector says tid $tid"
    if [ "$mode" = join ]; then
        [ "$tid" != "$pid" ] || fail "[join] injected on the main thread parked in pthread_join"
    fi
    # again: dlopen of a loaded library, the constructor does not run twice
    "$INJ" "$pid" "$LIB" >"$T/inj2.$mode" 2>&1 || fail "[$mode] second injection failed: $(cat "$T/inj2.$mode")"
    assert_contains "$T/inj2.$mode" 'already=1'
    touch "$T/stop.$mode"
    wait "$pid" || fail "[$mode] target exited with $?"
    [ "$(wc -l <"/tmp/leakaudit-inject-probe.$pid")" = 1 ] || fail "[$mode] constructor ran twice"
    rm -f "/tmp/leakaudit-inject-probe.$pid"
    grep -v '^ready$' "$T/out.$mode" >"$T/out.$mode.s"
    diff "$T/base.$mode.s" "$T/out.$mode.s" || fail "[$mode] output changed by the injection"
    ok "[$mode] loaded on thread $tid at a safe point, constructor ran there, output unchanged"
done

# 30 calls into one busy run (each one a full save / call / restore)
INJECT_TARGET_STOP_FILE=$T/stop.many "$TGT" 3 0 busy >"$T/many" &
pid=$!
wait_ready "$T/many"
for i in $(seq 30); do
    "$INJ" "$pid" "$LIB" >>"$T/many.inj" 2>&1 || { tail -2 "$T/many.inj"; fail "injection $i failed"; }
done
"$INJ" "$pid" /nonexistent/libnothere.so >"$T/missing" 2>&1 && fail "a missing library was not an error"
assert_contains "$T/missing" 'dlopen in pid [0-9]* failed: /nonexistent/libnothere.so: cannot open shared object file'
touch "$T/stop.many"
wait "$pid" || fail "target exited with $? after 30 injections"
rm -f "/tmp/leakaudit-inject-probe.$pid"
grep -v '^ready$' "$T/many" >"$T/many.s"
"$TGT" 3 1 busy | grep -v '^ready$' >"$T/many.base"
diff "$T/many.base" "$T/many.s" || fail "output changed by 30 injections"
ok "30 injections into a busy target: output unchanged; a missing library names dlerror's reason"

INJECT_TARGET_STOP_FILE=$T/stop.seccomp "$TGT" 1 0 seccomp >/dev/null &
pid=$!
wait_status $pid '^Seccomp:[[:space:]]+2$' # its filter is installed
"$INJ" "$pid" "$LIB" >"$T/sc" 2>&1 && fail "a seccomp-filtered target was injected"
assert_contains "$T/sc" 'runs under a seccomp filter'
touch "$T/stop.seccomp"
wait "$pid"
grep -q libinject_probe "/proc/$pid/maps" 2>/dev/null && fail "library mapped into the seccomp target"
ok "a target under a seccomp filter is refused with the reason"
