#!/usr/bin/env bash
# The report's file:line and inlined frames are the ones llvm-symbolizer
# gives for the same return addresses (scripts/compare_symbolizer.py), on a
# program of ours with three inlined levels above a malloc and on distro
# programs (python3, sqlite3, git, bash: their libc frames have debug info
# through libc6-dbg). Every level of the inlined chain is named with its
# own line: dwarf_getscopes alone, past the first inlined instance, went on
# with the abstract definition's scopes and dropped the middle levels.
# timeout: 180
source "$(dirname "$0")/../lib.sh"
CHAIN=$TESTBIN/reports/inline_chain
need_file "$CHAIN"
need_file "$SHIM"
need_cmd llvm-symbolizer
need_cmd readelf
[ -d /usr/lib/debug/.build-id ] || skip "no /usr/lib/debug/.build-id (libc6-dbg: make deps)"
COMPARE=$ROOT/scripts/compare_symbolizer.py
SRC=$ROOT/tests/reports/inline_chain.c
line_of() { grep -n "/\* $1 \*/" "$SRC" | cut -d: -f1; }

# --- ours: four frames for one return address, each at its own line
"$LEAKAUDIT" run -q -o "$T/chain" -- "$CHAIN" 32 >/dev/null
"$LEAKAUDIT" report "$T/chain" >"$T/chain.txt"
"$LEAKAUDIT" report -f json "$T/chain" >"$T/chain.json"
for f in "chain_inner INNER-CALL" "chain_middle MIDDLE-CALL" "chain_outer OUTER-CALL" \
    "chain_entry ENTRY-CALL"; do
    set -- $f
    assert_contains "$T/chain.txt" "^ +#0 +$1 +[^ ]*inline_chain\.c:$(line_of "$2") "
done
python3 "$COMPARE" "$T/chain.json" >"$T/chain.cmp" || fail "inline_chain: $(cat "$T/chain.cmp")"
grep -Eq 'deepest chain ([4-9]|[1-9][0-9]) frames' "$T/chain.cmp" ||
    fail "inline_chain: no chain of 4 frames compared: $(head -1 "$T/chain.cmp")"
ok "inline_chain: $(head -1 "$T/chain.cmp")"

# --- distro programs
run_json() { # NAME CMD...: the report of CMD run under the shim, as JSON
    local name=$1
    shift
    "$LEAKAUDIT" run -q -o "$T/$name" -- "$@" >/dev/null 2>&1 || true
    ls "$T/$name"/*.snap >/dev/null 2>&1 || fail "$name: no snapshot"
    "$LEAKAUDIT" report -f json -n 0 "$T/$name" >"$T/$name.json"
}
run_json python /usr/bin/python3 -c 'import json, re, sqlite3; print(json.dumps([re.sub("a", "b", "abc")] * 50))'
run_json sqlite sqlite3 "$T/db" "create table t(a, b); insert into t values (1, 'x'); select * from t;"
run_json git git -C "$ROOT" log --stat -3
run_json bash bash -c 'for i in 1 2 3; do x=$(echo $i); done; declare -A m; m[k]=v'
python3 "$COMPARE" -v "$T"/python.json "$T"/sqlite.json "$T"/git.json "$T"/bash.json >"$T/distro.cmp" ||
    fail "distro programs: $(cat "$T/distro.cmp")"
compared=$(sed -n 's/.*compared \([0-9]*\),.*/\1/p' "$T/distro.cmp")
[ "${compared:-0}" -ge 60 ] || fail "distro programs: only ${compared:-0} addresses with debug info compared"
ok "distro programs: $(head -1 "$T/distro.cmp")"

# --- a larger program built -O2 -g: leakaudit's own report command (not in
# `make check`: a sanitized binary cannot run under the shim -- the ASan
# runtime must come first -- and the steps above ran there already)
if [ "${LEAKAUDIT_SANITIZED:-0}" = 1 ]; then
    echo "NOTE: leakaudit report under the shim: not with the sanitized build"
    exit 0
fi
run_json report "$LEAKAUDIT" report -f html "$T/chain"
python3 "$COMPARE" -v "$T/report.json" >"$T/report.cmp" || fail "leakaudit report: $(cat "$T/report.cmp")"
compared=$(sed -n 's/.*compared \([0-9]*\),.*/\1/p' "$T/report.cmp")
[ "${compared:-0}" -ge 50 ] || fail "leakaudit report: only ${compared:-0} addresses compared"
ok "leakaudit report: $(head -1 "$T/report.cmp")"
