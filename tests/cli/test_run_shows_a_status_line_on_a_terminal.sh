#!/usr/bin/env bash
# On a terminal, `leakaudit run` keeps one status line up to date (pid,
# snapshots so far, live bytes, fds) and clears it before the summary;
# with -q, or when stderr is not a terminal, there is none.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
need_cmd script
DOOMED=$TESTBIN/cli/doomed
need_file "$DOOMED"

# script(1) gives leakaudit run a terminal; its output goes to $T/tty
export LEAKAUDIT_THREAD=always # snapshots while the program only waits
script -qefc "'$LEAKAUDIT' run -i 100ms -o '$T/out' -- '$DOOMED' '$T/ready'" "$T/tty" \
    >/dev/null 2>&1 </dev/null &
spid=$!
for i in $(seq 600); do
    grep -aq 'snapshots, live .* in [0-9]* blocks, [0-9]* fds' "$T/tty" 2>/dev/null && break
    kill -0 $spid 2>/dev/null || { cat -v "$T/tty"; fail "run ended before a status line"; }
    sleep 0.05
done
grep -aq 'snapshots, live' "$T/tty" || { cat -v "$T/tty"; fail "no status line on a terminal"; }
[ -s "$T/ready" ] || fail "the program is not ready"
kill -TERM "$(cat "$T/ready")"
rc=0
wait $spid || rc=$?
tr '\r' '\n' <"$T/tty" >"$T/lines"
assert_contains "$T/lines" "leakaudit run: pid [0-9]+, [0-9]+s: [0-9]+ snapshots, live [0-9.]+ [KMG]?i?B in [0-9]+ blocks, [0-9]+ fds"
assert_contains "$T/lines" '^leakaudit run: snapshots go to '
assert_contains "$T/lines" 'definitely lost: 6000 bytes in 6 blocks'
ok "a status line on a terminal, then the summary"

"$LEAKAUDIT" run -i 100ms -o "$T/out2" -- "$TESTBIN/allocshim/planted" steady 2>"$T/err" >/dev/null
assert_not_contains "$T/err" $'\r' "a status line although stderr is not a terminal"
script -qefc "'$LEAKAUDIT' run -q -i 100ms -o '$T/out3' -- '$TESTBIN/allocshim/planted' steady" "$T/tty2" \
    >/dev/null 2>&1 </dev/null
assert_not_contains "$T/tty2" 'leakaudit( run)?: ' "-q printed something on a terminal"
ok "no status line when stderr is not a terminal or with -q"
