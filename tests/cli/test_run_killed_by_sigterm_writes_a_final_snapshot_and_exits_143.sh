#!/usr/bin/env bash
# timeout: 120
# A service stopped with SIGTERM (systemctl stop, kill) under `leakaudit run`:
# the shim writes a final snapshot with its reachability scan before the
# program dies of the signal, `leakaudit run` prints a symbolized leak
# summary and exits 128+15. The program cannot tell the shim's handler from
# the default disposition, and a program with its own handler keeps it.
source "$(dirname "$0")/../lib.sh"
DOOMED=$TESTBIN/cli/doomed
need_file "$DOOMED"

# wait_ready FILE PID: until the program wrote its pid (fails if run ended)
wait_ready() {
    local i
    for i in $(seq 600); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || fail "leakaudit run ended before the program was ready"
        sleep 0.05
    done
    fail "the program never became ready"
}
# wait_gone PID: until the process ended (a signal that did not kill fails)
wait_gone() {
    local i
    for i in $(seq 400); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    fail "the program did not die of the signal"
}
# default_signals CMD...: CMD with SIGINT/SIGQUIT at SIG_DFL (a background
# job of a non-interactive shell starts with them ignored)
default_signals() {
    python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

"$LEAKAUDIT" run -o "$T/out" -- "$DOOMED" "$T/ready" >"$T/stdout" 2>"$T/err" &
run_pid=$!
wait_ready "$T/ready" $run_pid
kill -TERM "$(cat "$T/ready")"
wait_gone $run_pid
rc=0
wait $run_pid || rc=$?
assert_eq "$rc" 143 "leakaudit run should exit 143 (SIGTERM), got $rc"
ok "leakaudit run exits 143 when the program dies of SIGTERM"

assert_contains "$T/stdout" '^SIGTERM disposition: default$' "the program saw the shim's handler"
ok "sigaction() reports SIG_DFL to the program"

assert_contains "$T/err" "^leakaudit run: snapshots go to $T/out\$"
assert_not_contains "$T/err" $'\r' "a status line was drawn although stderr is not a terminal"
assert_contains "$T/err" 'outstanding at exit'
assert_contains "$T/err" 'definitely lost: 6000 bytes in 6 blocks'
# the summary is the text report of the exit snapshot: its top stack holds
# the 7 blocks, the lost ones among them
assert_contains "$T/err" '^#1 DEFINITELY LOST$'
assert_contains "$T/err" '^   live .* in 7 allocations; '
assert_contains "$T/err" '#0  leak_before_death  .*doomed\.c'
assert_not_contains "$T/err" '0x[0-9a-f]{12} ' "raw addresses in the summary"
ok "the exit summary is symbolized and counts the lost blocks"

snap=$(ls "$T/out"/*.snap | tail -1)
"$SNAPDUMP" "$snap" >"$T/dump"
assert_contains "$T/dump" 'trigger=exit|trigger 2|exit' "the last snapshot is not the final one"
"$LEAKAUDIT" report -f json -o "$T/r.json" "$T/out"
python3 - "$T/r.json" <<'PY' || fail "the report does not show the final scan"
import json, sys
j = json.load(open(sys.argv[1]))
r = j["reachability"]
assert r["final"] is True, r
assert r["totals"]["definitely_lost"]["bytes"] == 6000, r["totals"]
PY
rc=0
"$LEAKAUDIT" report --fail-on-leak "$T/out" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 3 "report --fail-on-leak should find the leak (rc $rc)"
ok "the final snapshot carries the exit reachability scan"

# A program with its own SIGTERM handler: its handler runs (exit 42).
rm -f "$T/ready"
"$LEAKAUDIT" run -q -o "$T/own" -- "$DOOMED" "$T/ready" own-handler >"$T/stdout2" 2>"$T/err2" &
run_pid=$!
wait_ready "$T/ready" $run_pid
kill -TERM "$(cat "$T/ready")"
wait_gone $run_pid
rc=0
wait $run_pid || rc=$?
assert_eq "$rc" 42 "the program's own SIGTERM handler should run (rc $rc)"
assert_contains "$T/stdout2" '^SIGTERM disposition: handler$'
[ ! -s "$T/err2" ] || { cat "$T/err2"; fail "-q printed something"; }
ok "a program's own handler is left alone; -q is silent"

# SIGINT (Ctrl-C) and SIGHUP the same way
for sig in INT HUP; do
    rm -f "$T/ready"
    default_signals "$LEAKAUDIT" run -q -o "$T/$sig" -- "$DOOMED" "$T/ready" >/dev/null 2>&1 &
    run_pid=$!
    wait_ready "$T/ready" $run_pid
    kill -$sig "$(cat "$T/ready")"
    wait_gone $run_pid
    rc=0
    wait $run_pid || rc=$?
    want=$((128 + $(kill -l $sig)))
    assert_eq "$rc" $want "SIG$sig: expected exit $want, got $rc"
    "$LEAKAUDIT" report -f json -o "$T/$sig.json" "$T/$sig"
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["reachability"]["final"] is True' \
        "$T/$sig.json" || fail "SIG$sig: no final snapshot"
    ok "SIG$sig: final snapshot, exit $want"
done
