#!/usr/bin/env bash
# timeout: 180
# A process that runs exec is a new program: new allocator, new libraries,
# the old heap gone. (1) Attached while it execs -- a program started
# through `env LD_PRELOAD=jemalloc`, attached at once -- attach ends up on
# the program it runs now, with its allocator and its leaks, every time.
# (2) Exec after the attach ends the attach as an exit would, with a final
# snapshot and a line that says so, instead of watching a program it has
# no probes or tables for.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
CXX_TARGET=$TESTBIN/tracer/target_cxx
need_file "$CXX_TARGET"
need_file "$JEMALLOC"

# (1) three times: bash execs env 50 ms after it starts, env execs the
# target with jemalloc preloaded, and attach starts at once: it reads bash's
# allocator, and the exec lands while it loads its probes (without the
# re-attach, the header said glibc and the leaks were missing).
retried=0
for i in 1 2 3; do
    GO=$T/r$i.go
    COUNTERS=$T/r$i.counters
    bash -c 'sleep 0.05; exec env LD_PRELOAD="$1" "$2" leak "$3" "$4" 200' \
        x "$JEMALLOC" "$CXX_TARGET" "$GO" "$COUNTERS" &
    TPID=$!
    on_exit "kill $TPID 2>/dev/null"
    attach_and_plant "$T/r$i" --no-fds
    grep -q "ran exec while we attached" "$T/attach.log" && retried=$((retried + 1))
    "$DUMP" "$T/r$i" >"$T/r$i.d"
    assert_contains "$T/r$i.d" "^header .*allocator=jemalloc"
    expect_heap "$T/r$i.d" leak_new "$(counter new_bytes)" "$(counter new_count)" "[run $i] "
    expect_heap "$T/r$i.d" leak_heap "$(counter leaked_bytes)" "$(counter leaked_count)" \
        "[run $i] "
    kill "$TPID" 2>/dev/null
    wait "$TPID" 2>/dev/null || true
done
ok "attached while running exec: jemalloc and the leaks, 3 of 3 ($retried attached again)"

# start_waiting_bash NAME: bash that waits for $T/NAME.go, then execs the
# C++ target (glibc); pid in TPID.
start_waiting_bash() {
    GO=$T/$1.go
    COUNTERS=$T/$1.counters
    bash -c 'while [ ! -e "$1" ]; do sleep 0.05; done; exec "$2" leak "$1.2" "$3" 200' \
        x "$GO" "$CXX_TARGET" "$COUNTERS" &
    TPID=$!
    on_exit "kill $TPID 2>/dev/null"
    wait_mapped "$TPID" 'libc\.so'
}

# exec_and_wait_for_attach_end LOG APID: lets bash exec, then waits for
# the attach to end by itself, with exit 0.
exec_and_wait_for_attach_end() {
    touch "$GO"
    wait_until 30 sh -c "! kill -0 $2 2>/dev/null" ||
        { cat "$1"; fail "attach still runs 30 s after the exec"; }
    wait "$2" || { cat "$1"; fail "attach exited with $? after the exec"; }
}

# (2) exec after the attach: bash waits for a file, then becomes the target.
start_waiting_bash x
log=$T/x.log
"$LEAKAUDIT" attach -p "$TPID" -o "$T/x" -d 60 -i 200ms -v --no-fds 2>"$log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_attached "$log" "$apid"
assert_contains "$log" "uprobes in .*libc\.so.* \(glibc\)"
exec_and_wait_for_attach_end "$log" "$apid"
assert_contains "$log" "pid $TPID ran exec: the program attached to has ended"
assert_contains "$log" "detached from pid $TPID \(exit\)"
snapshots_at_least "$T/x" 1 || fail "no snapshot written"
ok "exec after the attach: the attach ends with a final snapshot and says why"

# (3) the same with --inject: the shim goes with the program that exec'd;
# attach says so and ends, and never loads it into the new program.
start_waiting_bash j
log=$T/j.log
"$LEAKAUDIT" attach --inject -p "$TPID" -o "$T/j" -d 60 -i 200ms 2>"$log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_until 30 grep -q "injected into pid $TPID" "$log" || { cat "$log"; fail "not injected"; }
wait_until 10 snapshots_at_least "$T/j" 1 || { cat "$log"; fail "no snapshot from bash"; }
exec_and_wait_for_attach_end "$log" "$apid"
assert_contains "$log" "pid $TPID ran exec: the program injected into has ended"
kill -0 "$TPID" 2>/dev/null || fail "the new program died"
grep -q libleakaudit "/proc/$TPID/maps" && fail "the shim was loaded into the new program"
ok "exec after attach --inject: the attach ends, the new program runs without the shim"
