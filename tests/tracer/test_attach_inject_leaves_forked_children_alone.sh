#!/usr/bin/env bash
# timeout: 120
# `attach --inject -p PID` audits PID: a child it forks while attached runs
# without the shim (its malloc slot back on libc's at once, no snapshots of
# its own, nothing left hooked for the rest of its life), and 300 forks made
# while two threads allocate all the time -- the shim's locks often held --
# all exit normally: no child hangs on a lock inherited held.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
FORKER=$TESTBIN/tracer/inject_forker
need_root
need_file "$FORKER"
need_file "$SHIM"

"$FORKER" "$T/go" "$T/out" 300 &
fpid=$!
on_exit "kill $fpid 2>/dev/null"
wait_mapped "$fpid" 'libc\.so'
"$LEAKAUDIT" attach --inject -p "$fpid" -o "$T/snaps" -i 300ms -d 120 2>"$T/log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_until 30 grep -q "injected into pid $fpid" "$T/log" || { cat "$T/log"; fail "not injected"; }
touch "$T/go"
wait_until 100 grep -qs "^forks=" "$T/out" || { cat "$T/out" "$T/log"; fail "the forks did not finish"; }
wait "$apid" || { cat "$T/log"; fail "attach --inject exited with $?"; }
cat "$T/out"
assert_contains "$T/out" "^parent malloc in libleakaudit\.so"
assert_contains "$T/out" "^child malloc in libc\.so\.6"
assert_contains "$T/out" "^forks=300 hung=0 bad=0"
ok "the child forked while attached runs on libc's malloc; 300 forks, none hung"
n=$(find "$T/snaps" -name '*.snap' | wc -l)
[ "$n" -ge 1 ] || fail "no snapshot of the parent"
others=$(find "$T/snaps" -name '*.snap' ! -name "*.$fpid.*" | wc -l)
[ "$others" = 0 ] || { ls "$T/snaps"; fail "$others snapshots of other processes"; }
ok "$n snapshots, all of pid $fpid"
