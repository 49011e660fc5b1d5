#!/usr/bin/env bash
# timeout: 300
# `make install DESTDIR=... PREFIX=/usr` stages the binary, the shim in
# PREFIX/lib/leakaudit/, a man page per subcommand and bash completion; the
# installed `leakaudit run` finds its own shim (not the build tree's), every
# page renders with man -l, and `make uninstall` removes it all again.
source "$(dirname "$0")/../lib.sh"
PLANTED=$TESTBIN/allocshim/planted
need_file "$PLANTED"
need_file "$TESTBIN/cli/doomed"
need_cmd man
need_cmd groff
stage=$T/stage
make -s -C "$ROOT" BUILD="$BUILD" install DESTDIR="$stage" PREFIX=/usr >"$T/make.log" 2>&1 ||
    { cat "$T/make.log"; fail "make install failed"; }
for f in usr/bin/leakaudit usr/lib/leakaudit/libleakaudit.so \
    usr/share/bash-completion/completions/leakaudit; do
    [ -f "$stage/$f" ] || fail "make install did not install $f"
done
[ -x "$stage/usr/bin/leakaudit" ] || fail "the installed binary is not executable"
ok "make install stages the binary, the shim and the completion"

# the installed run, from a directory that is not the build tree
(cd "$T" && "$stage/usr/bin/leakaudit" run -q -o "$T/out" -- "$PLANTED" steady) ||
    fail "the installed leakaudit run failed"
"$stage/usr/bin/leakaudit" report "$T/out" >"$T/report"
assert_contains "$T/report" 'leak_steady'
# which shim the program loaded: look while it waits to be stopped
"$stage/usr/bin/leakaudit" run -q -o "$T/out2" -- "$TESTBIN/cli/doomed" "$T/ready" >/dev/null &
run_pid=$!
for i in $(seq 200); do
    [ -s "$T/ready" ] && break
    kill -0 $run_pid 2>/dev/null || fail "the installed leakaudit run ended early"
    sleep 0.05
done
[ -s "$T/ready" ] || fail "the program never became ready"
tpid=$(cat "$T/ready")
grep -F "/lib/leakaudit/libleakaudit.so" "/proc/$tpid/maps" >"$T/maps" || true
kill -TERM "$tpid"
rc=0
wait $run_pid || rc=$?
assert_eq "$rc" 143 "installed run: expected exit 143, got $rc"
assert_contains "$T/maps" "$stage/usr/lib/leakaudit/libleakaudit.so" \
    "the program did not load the installed shim"
ok "the installed leakaudit run loads PREFIX/lib/leakaudit/libleakaudit.so"

for page in leakaudit leakaudit-run leakaudit-attach leakaudit-report leakaudit-diff leakaudit-soak; do
    f=$stage/usr/share/man/man1/$page.1
    [ -f "$f" ] || fail "no man page $page.1"
    MANWIDTH=80 man -l "$f" >"$T/$page.txt" 2>"$T/$page.err" </dev/null || fail "man -l $page.1 failed"
    [ ! -s "$T/$page.err" ] || { cat "$T/$page.err"; fail "man -l $page.1 printed warnings"; }
    assert_contains "$T/$page.txt" '^NAME' "$page.1 has no NAME"
    assert_contains "$T/$page.txt" '^EXIT STATUS' "$page.1 has no EXIT STATUS"
    assert_contains "$T/$page.txt" 'exit status: ' "$page.1 does not list exit statuses"
done
assert_contains "$T/leakaudit-run.txt" '--stack-depth'
ok "man -l renders all six pages with their exit statuses"

# completion: subcommands and a subcommand's options, from the installed binary
out=$(PATH=$stage/usr/bin:$PATH bash -c '
    source "$1"
    COMP_WORDS=(leakaudit rep); COMP_CWORD=1; _leakaudit; echo "${COMPREPLY[*]}"
    COMP_WORDS=(leakaudit report --fo); COMP_CWORD=2; _leakaudit; echo "${COMPREPLY[*]}"
    COMP_WORDS=(leakaudit report -f j); COMP_CWORD=3; _leakaudit; echo "${COMPREPLY[*]}"
' sh "$stage/usr/share/bash-completion/completions/leakaudit")
[ "$out" = $'report\n--format\njson' ] || fail "completion gave: $out"
ok "bash completion completes subcommands, options and values"

make -s -C "$ROOT" BUILD="$BUILD" uninstall DESTDIR="$stage" PREFIX=/usr >"$T/make.log" 2>&1 ||
    { cat "$T/make.log"; fail "make uninstall failed"; }
left=$(find "$stage" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
ok "make uninstall removes every installed file"
