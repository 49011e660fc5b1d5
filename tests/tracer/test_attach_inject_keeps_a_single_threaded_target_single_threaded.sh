#!/usr/bin/env bash
# timeout: 240
# A single-threaded program stays single-threaded under the shim: glibc's
# malloc is lock-free only while a process has one thread (a thread of ours
# cost bench/mallocbench ~4 % of every call), so neither `attach --inject`
# nor `run` starts the snapshot thread in it -- and its snapshots still come
# every interval: from its own allocations (the leaker allocates 20 times a
# second; each poll sets the next from that rate, where every 256th
# allocation meant one snapshot in ~13 s) and, once it stops allocating
# (`sleep`), from the attaching process asking it at a safe point. A
# multi-threaded target gets the thread at once.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
need_root
LEAKER=$TESTBIN/tracer/inject_leaker
TGT=$TESTBIN/tracer/inject_target
need_file "$LEAKER"
need_file "$TGT"

threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
has_our_thread() { grep -qx leakaudit /proc/"$1"/task/*/comm 2>/dev/null; }

# attached_stays_single PID DIR N WHAT: attach --inject every 500 ms, N
# snapshots within 60 s, the target still one thread, detach cleanly
attached_stays_single() {
    local pid=$1 dir=$2 n=$3 what=$4 la
    "$LEAKAUDIT" attach --inject -p "$pid" -i 500ms -d 120 -o "$dir" 2>"$dir.log" &
    la=$!
    wait_until 60 snapshots_at_least "$dir" "$n" || fail "$what: fewer than $n snapshots in 60 s"
    [ "$(threads "$pid")" = 1 ] || fail "$what has $(threads "$pid") threads under attach --inject"
    kill -INT $la
    wait $la || fail "attach --inject on $what exited $?"
    assert_contains "$dir.log" '^leakaudit: injected into pid .*\(single-threaded: no thread of ours'
}

# 1. an idle program (coreutils sleep): snapshots only because attach asks
sleep 300 &
sp=$!
wait_mapped $sp 'libc\.so'
attached_stays_single $sp "$T/idle" 5 "idle sleep (every 500 ms asked)"
kill -0 $sp || fail "sleep did not survive the attach"
# without -o, the snapshots go where `attach` says they do by default
mkdir -p "$T/cwd"
(cd "$T/cwd" && "$LEAKAUDIT" attach --inject -p $sp -i 500ms -d 2) >"$T/cwd.out" 2>"$T/cwd.log" ||
    fail "attach --inject without -o exited $?: $(cat "$T/cwd.log")"
def=$(ls -d "$T"/cwd/leakaudit-$sp-* 2>/dev/null | head -1)
[ -n "$def" ] || fail "attach --inject without -o: no leakaudit-$sp-<time> directory"
snapshots_at_least "$def" 1 || fail "attach --inject without -o: no snapshot in $def"
kill $sp
wait $sp 2>/dev/null || true

# 2. a single-threaded program that allocates: polled from its own calls
mkdir -p "$T/ctl"
INJECT_LEAKER_CONTROL=$T/ctl "$LEAKER" >"$T/leaker.out" &
lp=$!
wait_until 30 grep -q '^ready$' "$T/leaker.out" || fail "leaker not ready"
attached_stays_single $lp "$T/alloc" 6 "the allocating leaker"
touch "$T/ctl/stop"
wait $lp || fail "the leaker exited $?"
assert_contains "$T/leaker.out" '^done '

# 3. the same program under `run`: no thread either, snapshots on time
rm -rf "$T/ctl" && mkdir -p "$T/ctl"
INJECT_LEAKER_CONTROL=$T/ctl "$LEAKAUDIT" run -q -i 300ms -o "$T/run" -- "$LEAKER" >"$T/run.out" &
rp=$!
wait_until 30 grep -q '^ready$' "$T/run.out" || fail "leaker under run not ready"
lpid=$(pgrep -f -n "^$LEAKER\$" || true)
[ -n "$lpid" ] || lpid=$rp
wait_until 60 snapshots_at_least "$T/run" 6 ||
    fail "single-threaded program under run: fewer than 6 snapshots in 60 s at 300 ms"
[ "$(threads $lpid)" = 1 ] || fail "the leaker has $(threads $lpid) threads under run"
touch "$T/ctl/stop"
wait $rp || fail "leakaudit run exited $?"

# 4. a multi-threaded target: the thread, started at the attach
rm -f "$T/stop"
INJECT_TARGET_STOP_FILE=$T/stop "$TGT" 2 600 sleep >"$T/tgt.out" &
tp=$!
wait_until 30 grep -Eq '^Threads:[[:space:]]+3$' /proc/$tp/status || fail "target's workers not started"
"$LEAKAUDIT" attach --inject -p $tp -i 500ms -d 120 -o "$T/mt" 2>"$T/mt.log" &
la=$!
wait_until 60 snapshots_at_least "$T/mt" 2 || fail "multi-threaded target: no snapshots"
has_our_thread $tp || fail "multi-threaded target: no leakaudit thread"
kill -INT $la
wait $la || fail "attach --inject on the multi-threaded target exited $?"
assert_not_contains "$T/mt.log" 'single-threaded'
touch "$T/stop"
wait $tp || fail "the multi-threaded target exited $?"
