#!/usr/bin/env bash
# timeout: 90
# Every reason not to attach is one line on stderr with a non-zero exit and
# nothing of ours left loaded: no such pid, a bad pid, a missing -p, a
# process that exits while the tracer attaches (eBPF and --inject). --help
# works.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"

expect_error() { # EXIT-CODE REGEX ARGS...
    local want=$1 re=$2 rc=0
    shift 2
    "$LEAKAUDIT" attach "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want" ] || { cat "$T/err"; fail "attach $*: exit $rc, expected $want"; }
    [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err"; fail "attach $*: not one line"; }
    assert_contains "$T/err" "^leakaudit attach( --inject)?: .*$re"
    ok "attach $*: $(cat "$T/err")"
}

"$LEAKAUDIT" attach --help >"$T/help"
assert_contains "$T/help" '--duration'
expect_error 1 'no such process' -p 999999999
expect_error 1 'no such process: 999999999' --inject -p 999999999
expect_error 2 'bad pid' -p abc
expect_error 2 'required' -o "$T/x"
expect_error 2 'bad mode' -p 1 -m fast

# A process that exits during the attach: a clean error, never a crash.
for i in $(seq 5); do
    sleep 0.03 &
    spid=$!
    rc=0
    "$LEAKAUDIT" attach -p $spid -d 1 -o "$T/gone$i" 2>"$T/err" || rc=$?
    wait $spid 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err"; fail "exit mid-attach: not one line"; }
        assert_contains "$T/err" 'no such process|exited while attaching|no allocator'
    fi
    [ -z "$(our_bpf_left)" ] || fail "left behind after the target exited: $(our_bpf_left)"
done
ok "target exiting mid-attach: clean"
# 20 tries over 1-9 ms: the attach lands in every phase of sleep's short
# life, exec and exit included (a use-after-free on the exec path, and a
# fallback message for a process whose root had gone, were found so).
for i in $(seq 20); do
    sleep 0.00$((i % 9 + 1)) &
    spid=$!
    rc=0
    "$LEAKAUDIT" attach --inject -p $spid -d 1 -o "$T/igone$i" 2>"$T/err" || rc=$?
    wait $spid 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err"; fail "exit mid-inject: not one line"; }
        assert_contains "$T/err" 'no such process|exited while attaching'
    fi
done
ok "target exiting mid-attach --inject: one clear line"

# A process already ptrace'd (a debugger, strace; here python3 with
# PTRACE_SEIZE) can have no other tracer: --inject says who holds it; the
# eBPF attach works, and says its reachability scan is skipped.
sleep 120 &
spid=$!
on_exit "kill $spid 2>/dev/null"
python3 -c 'import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(0x4206, int(sys.argv[1]), None, None) != 0:
    sys.exit("PTRACE_SEIZE failed: errno %d" % ctypes.get_errno())
print("seized", flush=True)
time.sleep(120)' $spid >"$T/seize" &
tracer=$!
on_exit "kill $tracer 2>/dev/null"
wait_until 10 grep -q seized "$T/seize" || fail "python3 could not seize the target"
expect_error 1 "pid $spid is traced by pid $tracer \\(python3" --inject -p $spid -o "$T/tr"
"$LEAKAUDIT" attach -p $spid -d 1 -o "$T/tr2" --no-progress 2>"$T/err" ||
    { cat "$T/err"; fail "eBPF attach to a traced process failed"; }
assert_contains "$T/err" "pid $spid is traced by pid $tracer .*reachability scan .* is skipped"
assert_contains "$T/err" "reachability: skipped: pid $spid is traced by pid $tracer"
"$LEAKAUDIT" report "$T/tr2" >"$T/rep" 2>&1
assert_contains "$T/rep" "note: reachability_skipped = 1"
ok "a process traced by another: --inject refuses and names the tracer; eBPF attach says the scan is skipped"

# A process audited already (here: started under `leakaudit run`) is refused
# after the output directory was made; a refused attach leaves no empty
# directory of its own behind (the default one, in the working directory).
mkdir -p "$T/cwd"
"$LEAKAUDIT" run -q -o "$T/run" -- sleep 120 &
rp=$!
on_exit "kill $rp 2>/dev/null"
wait_until 20 pgrep -P $rp -x sleep >/dev/null || wait_until 20 grep -q sleep /proc/$rp/comm ||
    fail "sleep under run did not start"
sp=$(pgrep -P $rp -x sleep || echo $rp)
wait_mapped $sp 'libleakaudit'
rc=0
(cd "$T/cwd" && "$LEAKAUDIT" attach --inject -p $sp -d 1) >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] || { cat "$T/err"; fail "attach --inject to an audited process: exit $rc, expected 1"; }
assert_contains "$T/err" 'already audited'
[ -z "$(ls -A "$T/cwd")" ] || fail "a refused attach left $(ls "$T/cwd") behind"
kill $rp 2>/dev/null
ok "a process audited already: --inject refuses, and leaves no empty directory behind"

# A stopped process (SIGSTOP, ^Z) never reaches a safe point and would have
# to be resumed to run the injected call: --inject says so at once.
sleep 120 &
zpid=$!
on_exit "kill -KILL $zpid 2>/dev/null"
kill -STOP $zpid
wait_until 10 grep -q '^State:[[:space:]]*T' /proc/$zpid/status || fail "sleep did not stop"
expect_error 1 "pid $zpid is stopped \\(SIGSTOP or a job-control stop\\).*kill -CONT $zpid" --inject -p $zpid -o "$T/stopped"
grep -q '^State:[[:space:]]*T' /proc/$zpid/status || fail "the stopped target was resumed"
ok "a stopped process: --inject refuses at once and leaves it stopped"

# Attaching the moment a program starts: only the program and the dynamic
# linker are mapped, libc is not yet. The tracer waits for the allocator
# (up to 2 s) instead of failing with "no allocator found"; past that, one
# clear line. exec_held holds the program right after its exec.
HELD=$TESTBIN/tracer/exec_held
need_file "$HELD"
held() { # HOLD_MS: starts a held target_leaker, its pid in HPID
    rm -f "$T/hpid"
    "$HELD" "$1" "$T/hpid" "$LEAKER" clean "$T/never" "$T/counters" &
    HOLDER=$!
    on_exit "kill $HOLDER 2>/dev/null"
    wait_until 30 test -s "$T/hpid" || fail "exec_held did not start its program in 30 s"
    HPID=$(cat "$T/hpid")
    on_exit "kill $HPID 2>/dev/null"
    grep -q 'libc\.so' /proc/$HPID/maps && fail "held target already has libc mapped"
    true
}
held 700
"$LEAKAUDIT" attach -p "$HPID" -o "$T/young" -d 2 2>"$T/err" || { cat "$T/err"; fail "attach right after exec failed"; }
"$DUMP" "$T/young" >"$T/d"
assert_contains "$T/d" 'allocator=glibc'
assert_contains "$T/d" '^heap .*total_count=[1-9]'
kill "$HPID"; wait "$HOLDER" 2>/dev/null || true
ok "attach right after exec waits for the allocator"

# held far longer than the tracer's 2 s (a slow, sanitized tracer still gives
# up before the program goes on), then killed with its holder
held 60000
expect_error 1 'no allocator found.*none appeared within 2 s' -p "$HPID" -o "$T/young2" -d 1
[ -z "$(our_bpf_left)" ] || fail "left behind: $(our_bpf_left)"
# SIGKILL both: a TERM to the stopped program would wait for the hold to end
kill -KILL "$HPID" "$HOLDER"; wait "$HOLDER" 2>/dev/null || true

# Detaching because the target exited writes a final snapshot.
# The target is killed once the tracer says it attached (a condition, not a
# fixed delay: the attach takes longer in the sanitizer build).
"$LEAKER" clean "$T/never" "$T/counters" &
TPID=$!
on_exit "kill $TPID 2>/dev/null"
"$LEAKAUDIT" attach -p $TPID -o "$T/exit" -d 60 -v 2>"$T/err" &
APID=$!
on_exit "kill $APID 2>/dev/null"
wait_attached "$T/err" "$APID"
kill $TPID
rc=0
wait $APID || rc=$?
[ $rc = 0 ] || { cat "$T/err"; fail "attach failed (exit $rc)"; }
"$DUMP" "$T/exit" >"$T/d"
assert_contains "$T/d" 'trigger=exit'
assert_contains "$T/d" '^header .*exe=.*/target_leaker$' # not the shell it was forked from
[ -z "$(our_bpf_left)" ] || fail "left behind after target exit"
ok "target exit ends the session with a final snapshot"
