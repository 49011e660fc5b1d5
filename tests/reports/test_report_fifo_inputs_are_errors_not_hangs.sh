#!/usr/bin/env bash
# A FIFO where the report expects a file -- named *.snap in the input
# directory, given as an input, or sitting at a module path a snapshot
# names -- never blocks `report` or `diff`: they return promptly (the
# timeout here only catches a hang) with an error naming the file, or, for
# a module, report without its symbols.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
need_cmd timeout

bounded() { # bounded OUT ERR ARGS...: runs leakaudit, fails on a hang, prints the time
    local out=$1 err=$2 rc=0 t0 t1
    shift 2
    t0=$(date +%s%N)
    timeout 30 "$LEAKAUDIT" "$@" >"$out" 2>"$err" || rc=$?
    t1=$(date +%s%N)
    [ "$rc" != 124 ] || fail "leakaudit $* hung on a FIFO"
    echo "# leakaudit $1...: exit $rc in $(((t1 - t0) / 1000000)) ms"
    return $rc
}

"$GEN" mixed "$T/dir" --snaps 3 >/dev/null
mkfifo "$T/dir/planted.000000.snap"
rc=0
bounded "$T/out" "$T/err" report "$T/dir" || rc=$?
[ "$rc" != 0 ] || fail "report on a directory with a FIFO *.snap exited 0"
assert_contains "$T/err" "planted.000000.snap: not a regular file"
rc=0
bounded "$T/out" "$T/err" diff "$T/dir/planted.000000.snap" "$(ls "$T/dir"/mixed.*.snap | sed -n 1p)" || rc=$?
[ "$rc" != 0 ] || fail "diff with a FIFO input exited 0"
assert_contains "$T/err" "planted.000000.snap: not a regular file"
ok "a FIFO named *.snap is an error naming it, not a hang"

mkfifo "$T/module.so"
"$GEN" mixed "$T/mod" --snaps 3 --fake-module "$T/module.so" >/dev/null
bounded "$T/out" "$T/err" report "$T/mod" || { cat "$T/err"; fail "report with a FIFO module path failed"; }
assert_contains "$T/out" "process_image"
ok "a FIFO at a module path is skipped (not symbolized), the report goes on"
