#!/usr/bin/env bash
# An unknown or uninstalled allocator, a non-loopback metrics URL or load
# target, and a missing command are clear errors before anything runs.
# timeout: 30
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
expect_error() { # CODE REGEX ARGS...
    local code=$1 re=$2 rc=0
    shift 2
    "$LEAKAUDIT" soak -o "$T/out" -d 1s "$@" >"$T/stdout" 2>"$T/err" || rc=$?
    [ "$rc" = "$code" ] || { cat "$T/err"; fail "exit $rc, expected $code for: $*"; }
    assert_contains "$T/err" "^leakaudit soak: .*$re"
    [ ! -e "$T/out" ] || fail "an output directory was created for: $*"
    ok "$(head -1 "$T/err")"
}
expect_error 2 "unknown allocator 'hoard'" -a glibc,hoard -- "$SOAKLOAD" clean
mkdir "$T/empty"
LEAKAUDIT_ALLOCATOR_DIR=$T/empty expect_error 1 \
    'allocator jemalloc is not installed: libjemalloc.so.2 not found in LEAKAUDIT_ALLOCATOR_DIR' \
    -a glibc,jemalloc -- "$SOAKLOAD" clean
LEAKAUDIT_ALLOCATOR_DIR=$T/empty "$LEAKAUDIT" soak -o "$T/out" -a tcmalloc,mimalloc -- true \
    2>"$T/err" && fail "missing allocators accepted"
[ "$(grep -c 'is not installed' "$T/err")" = 2 ] || fail "not every missing allocator named"
expect_error 2 'not on the loopback' --metrics-url http://192.0.2.1:9090/metrics -- "$SOAKLOAD" clean
expect_error 2 'not on the loopback' --load 'curl -s http://example.com/' -- "$SOAKLOAD" clean
expect_error 1 'no-such-program-here: command not found' -- no-such-program-here
expect_error 2 'guard.*need' --guard canary -- "$SOAKLOAD" clean
expect_error 2 'no command given' -a glibc
"$LEAKAUDIT" soak --help >"$T/help"
assert_contains "$T/help" '^usage: leakaudit soak'
assert_contains "$T/help" '--allocators'
