#!/usr/bin/env bash
# Bad input gets one clear error line naming the file and what is wrong, a
# non-zero exit, and never a crash: missing or empty directory, truncated,
# corrupt, wrong-version, garbage and zero-length files, bad options.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
"$GEN" mixed "$T/good" --snaps 3 >/dev/null
good=$(ls "$T/good"/*.snap | tail -1)

expect_error() { # DESCRIPTION REGEX ARGS...
    local what=$1 re=$2
    shift 2
    set +e
    "$LEAKAUDIT" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    [ $rc -ne 0 ] || fail "$what: exit 0"
    [ $rc -lt 128 ] || fail "$what: crashed (exit $rc)"
    [ "$(wc -l <"$T/err")" -eq 1 ] || { cat "$T/err"; fail "$what: not exactly one error line"; }
    grep -Eq -- "$re" "$T/err" || { cat "$T/err"; fail "$what: message does not match /$re/"; }
    ok "$what: $(cat "$T/err")"
}

mkdir -p "$T/empty" "$T/bad"
expect_error "missing dir" '^leakaudit report: .*/nope: No such file or directory$' report "$T/nope"
expect_error "empty dir" '^leakaudit report: .*/empty: no snapshot files' report "$T/empty"
expect_error "no input" '^leakaudit report: no input' report
expect_error "bad format" "^leakaudit report: --format: 'svg' is not one of" report -f svg "$T/good"
expect_error "bad top" "^leakaudit report: --top: 'x' is not a number" report --top x "$T/good"
expect_error "unknown option" "^leakaudit report: unknown option '--frobnicate'" report --frobnicate "$T/good"
expect_error "diff arity" '^leakaudit diff: needs exactly two inputs' diff "$T/good"

size=$(stat -c %s "$good")
head -c $((size / 2)) "$good" >"$T/bad/trunc.000000.snap"
expect_error "truncated" 'trunc.000000.snap: .*(truncated|incomplete)' report "$T/bad/trunc.000000.snap"

cp "$good" "$T/bad/corrupt.000000.snap"
printf '\xff\xff\xff\xff' | dd of="$T/bad/corrupt.000000.snap" bs=1 seek=200 conv=notrunc 2>/dev/null
expect_error "corrupt" 'corrupt.000000.snap: .*checksum mismatch' report "$T/bad/corrupt.000000.snap"

cp "$good" "$T/bad/version.000000.snap"
printf '\x63\x00\x00\x00' | dd of="$T/bad/version.000000.snap" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_error "wrong version" 'version.000000.snap: .*format version 99, this build reads version 1' report "$T/bad/version.000000.snap"

head -c 4096 /dev/urandom >"$T/bad/garbage.000000.snap"
expect_error "garbage" 'garbage.000000.snap: .*not a leakaudit snapshot' report "$T/bad/garbage.000000.snap"

: >"$T/bad/zero.000000.snap"
expect_error "zero-length" 'zero.000000.snap: .*truncated' report "$T/bad/zero.000000.snap"

# A bad file inside a series directory names that file.
cp "$T/bad/trunc.000000.snap" "$T/good/mixed.000001.snap"
expect_error "bad file in series" 'mixed.000001.snap: ' report "$T/good"
expect_error "diff with bad file" '^leakaudit diff: .*trunc.000000.snap' diff "$good" "$T/bad/trunc.000000.snap"

# A module that is gone: the report still works, frames fall back to
# module+offset, and one warning says which module and why.
cp "$GEN" "$T/gen_copy"
"$T/gen_copy" mixed "$T/moved" --snaps 3 >/dev/null
id=$(readelf -n "$T/gen_copy" | awk '/Build ID/{print $3}')
rm "$T/gen_copy"
"$LEAKAUDIT" report "$T/moved" >"$T/moved.txt" || fail "report on a series with a missing module"
assert_contains "$T/moved.txt" '^ +#0 +\?\? +\[gen_copy\+0x[0-9a-f]+\]$'
assert_contains "$T/moved.txt" "^  $T/gen_copy: not found; frames in it are shown as offsets$"
ok "missing module: offsets and a warning"

# A different file at that path: build-id mismatch is detected, not trusted.
cp /bin/true "$T/gen_copy"
"$LEAKAUDIT" report "$T/moved" >"$T/moved.txt"
assert_contains "$T/moved.txt" "$T/gen_copy: build-id differs from the one recorded \\($id\\)"
assert_not_contains "$T/moved.txt" 'leaky_decode_frame'
ok "build-id mismatch: not symbolized with the wrong file"

# --debuginfo-dir DIR with DIR/.build-id/xx/rest.debug (a separate debug
# file made by objcopy --only-keep-debug) brings the symbols back.
cp "$GEN" "$T/gen_copy2"
"$T/gen_copy2" mixed "$T/moved2" --snaps 3 >/dev/null
id2=$(readelf -n "$T/gen_copy2" | awk '/Build ID/{print $3}')
mkdir -p "$T/dbg/.build-id/${id2:0:2}"
objcopy --only-keep-debug "$T/gen_copy2" "$T/dbg/.build-id/${id2:0:2}/${id2:2}.debug"
cp /bin/true "$T/gen_copy2"
LEAK_LINE=$(grep -n '/\* LEAK-SITE \*/' "$ROOT/tests/reports/gen_series.c" | cut -d: -f1)
"$LEAKAUDIT" report --debuginfo-dir "$T/dbg" "$T/moved2" >"$T/dbg.txt"
assert_contains "$T/dbg.txt" "#0 +leaky_decode_frame +[^ ]*gen_series.c:$LEAK_LINE "
ok "separate debuginfo found by build-id under --debuginfo-dir"
