#!/usr/bin/env bash
# timeout: 120
# Attach mode: a running program drops its last pointer to a block after the
# attach; the on-demand scan (SIGUSR2 to `leakaudit attach`) reports it
# definitely lost (and a lost tree as 1 definitely + N indirectly lost), a
# block still held in a global as still reachable, says that only blocks
# since the attach were classified -- and the program keeps running normally
# during and after the scans and the detach.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_reach.sh"
need_root
need_cmd bpftool
TARGET=$TESTBIN/reach/reach_attach_target
need_file "$TARGET"

"$TARGET" "$T/go" "$T/log" &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
# attach once the target has its allocator mapped (not while exec is loading it)
wait_mapped "$tpid" 'libc\.so'
"$LEAKAUDIT" attach -p "$tpid" -o "$T/out" -v 2>"$T/attach.log" &
apid=$!
on_exit "kill -INT $apid 2>/dev/null"
wait_attached "$T/attach.log" "$apid"

step() { # step N: let the target run step N and wait for it
    touch "$T/go"
    wait_until 30 grep -q "^step $1$" "$T/log" || fail "target did not run step $1 in 30 s"
}
step 1
kill -USR2 "$apid"
have_snap() { ls "$T/out"/*.snap >/dev/null 2>&1; }
wait_until 60 have_snap || true
snap=$(last_snapshot "$T/out")
[ -n "$snap" ] || { cat "$T/attach.log"; fail "no on-demand snapshot"; }
classify_snapshot "$snap" "$TARGET" >"$T/classes.txt"
cat >"$T/expected.txt" <<'EOT'
case_attach_child indirect 4
case_attach_root definite 1
case_dropped definite 1
case_kept reachable 1
EOT
diff -u "$T/expected.txt" "$T/classes.txt" || fail "attach-mode classes are wrong"
assert_contains "$T/dump.txt" '^info flags=1 '
ok "on-demand scan: dropped block definitely lost, kept block reachable, attach-only flag"

step 2
step 3
kill -0 "$tpid" || fail "target died"
grep -q "State:.*[RS]" "/proc/$tpid/status" || fail "target is not running: $(grep State /proc/$tpid/status)"
kill -INT "$apid"
wait "$apid" || { cat "$T/attach.log"; fail "attach exited with an error"; }
step 4
grep -q "^TracerPid:.0" "/proc/$tpid/status" || fail "target still traced after detach"
classify_snapshot "$(last_snapshot "$T/out")" "$TARGET" >"$T/detach.txt"
diff -u "$T/expected.txt" "$T/detach.txt" || fail "detach-time classes are wrong"
"$LEAKAUDIT" report "$T/out" >"$T/report.txt"
assert_contains "$T/report.txt" 'attach mode: only blocks allocated since the attach are classified'
ok "target kept running through the scans and after the detach"
