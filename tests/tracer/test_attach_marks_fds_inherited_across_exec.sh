#!/usr/bin/env bash
# attach records each open fd's close-on-exec flag as the shim does (the one
# reconcile rule reads /proc/PID/fdinfo): flags=1 on the fds opened with
# O_CLOEXEC, SOCK_CLOEXEC, F_DUPFD_CLOEXEC or marked by F_SETFD, 0 on a
# plain open and on a dup, and the report's rows count them.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
PROG=$TESTBIN/allocshim/cloexec_fds
need_file "$PROG"

"$PROG" "$T/fds" wait &
pid=$!
on_exit "kill $pid 2>/dev/null"
wait_until 30 test -e "$T/fds" || fail "the program did not open its fds in 30 s"
read -r _ inherited < <(grep '^inherited' "$T/fds")
read -r _ cloexec < <(grep '^cloexec' "$T/fds")

log=$T/attach.log
"$LEAKAUDIT" attach -p "$pid" -o "$T/out" -d 60 -v 2>"$log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_attached "$log" "$apid"
kill -INT $apid
wait $apid || { cat "$log"; fail "attach exited with $?"; }

last=$(ls "$T/out"/*.snap | sort -V | tail -1)
"$DUMP" "$last" >"$T/d" || fail "$last: unreadable"
for fd in $inherited; do
    grep -q "^fd fd=$fd .*flags=0 " "$T/d" || { grep "^fd fd=$fd " "$T/d"; fail "fd $fd: expected flags=0"; }
done
for fd in $cloexec; do
    grep -q "^fd fd=$fd .*flags=1 " "$T/d" || { grep "^fd fd=$fd " "$T/d"; fail "fd $fd: expected flags=1"; }
done
ok "attach: flags=1 on the close-on-exec fds ($cloexec), 0 on the inherited ones ($inherited)"
# The fds opened before the attach are grouped by kind: the rows' counts add
# up to the snapshot's.
want=$(grep -c '^fd .*flags=1 ' "$T/d")
got=$("$LEAKAUDIT" report "$T/out" | sed -n 's/.*; cloexec \([0-9]*\)\/.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
assert_eq "$got" "$want" "report: $got close-on-exec fds in the rows, the snapshot has $want"
ok "report: $got close-on-exec fds over its rows, as in the snapshot"
