#!/usr/bin/env bash
# timeout: 60
# The snapshot signal scans a running program: the snapshot it writes has
# the same classes as at exit, and the program (whose threads were parked
# for the scan) keeps running and exits normally afterwards. Switched off,
# or in sampled mode, there is no reachability section.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_reach.sh"
need_cmd python3
need_cmd addr2line
expected_cases >"$T/expected.txt"

LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$T/out LEAKAUDIT_INTERVAL=0 "$REACH_CASES" hold >"$T/fifo.log" 2>&1 &
pid=$!
on_exit "kill -9 $pid 2>/dev/null"
wait_until 30 grep -q ready "$T/fifo.log" || true
assert_contains "$T/fifo.log" ready
kill -USR2 "$pid"
have_snap() { ls "$T/out"/*.snap >/dev/null 2>&1; }
wait_until 60 have_snap || true
snap=$(last_snapshot "$T/out")
assert_contains <("$REACHDUMP" "$snap") '^info '
classify_snapshot "$snap" "$REACH_CASES" >"$T/signal.txt"
diff -u "$T/expected.txt" "$T/signal.txt" || fail "signal snapshot classes differ"
kill -0 "$pid" || fail "the program died during the scan"
kill -TERM "$pid"
wait "$pid" || fail "the program did not exit normally after the scan (status $?)"
[ "$(ls "$T/out"/*.snap | wc -l)" -eq 2 ] || fail "expected a signal and an exit snapshot"
classify_snapshot "$(last_snapshot "$T/out")" "$REACH_CASES" >"$T/exit.txt"
diff -u "$T/expected.txt" "$T/exit.txt" || fail "exit snapshot classes differ after a signal scan"
ok "signal scan while running, program resumed and exited normally"

LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$T/off LEAKAUDIT_REACHABILITY=off "$REACH_CASES"
assert_contains <("$REACHDUMP" "$(last_snapshot "$T/off")") '^no-reachability$'
"$LEAKAUDIT" run -q --reachability off -o "$T/off2" -- "$REACH_CASES"
assert_contains <("$REACHDUMP" "$(last_snapshot "$T/off2")") '^no-reachability$'
LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$T/sampled LEAKAUDIT_MODE=sampled "$REACH_CASES"
assert_contains <("$REACHDUMP" "$(last_snapshot "$T/sampled")") '^no-reachability$'
ok "no section when switched off or sampled"
