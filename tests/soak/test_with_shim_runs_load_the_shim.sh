#!/usr/bin/env bash
# --both runs each allocator bare and under the shim: the shim (and the
# allocator after it) is really mapped in the shim runs only, the guard mode
# is passed on, and the shim's snapshots land in <run>.snapshots/.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
need_file "$SHIM"
SOAKLOAD_SHOW_MAPS=1 soak "$T/out" --both --guard canary -a glibc,jemalloc -d 1500ms -i 250ms \
    -- "$SOAKLOAD" clean
assert_contains "$T/out/glibc-shim.stderr" 'mapped .*libleakaudit\.so'
assert_contains "$T/out/jemalloc-shim.stderr" 'mapped .*libleakaudit\.so'
assert_contains "$T/out/jemalloc-shim.stderr" 'mapped .*libjemalloc'
assert_contains "$T/out/jemalloc.stderr" 'mapped .*libjemalloc'
assert_not_contains "$T/out/glibc.stderr" 'libleakaudit'
assert_not_contains "$T/out/jemalloc.stderr" 'libleakaudit'
assert_contains "$T/out/glibc-shim.stderr" 'LEAKAUDIT_GUARD=canary'
assert_contains "$T/out/glibc.stderr" 'LEAKAUDIT_GUARD=\(unset\)'
for r in glibc-shim jemalloc-shim; do
    ls "$T/out/$r.snapshots/"*.snap >/dev/null 2>&1 || fail "no snapshot from the shim in $r"
    [ "$(field "$T/out" "$r" shim)" = yes ] || fail "$r not marked as a shim run"
done
[ ! -e "$T/out/glibc.snapshots" ] || fail "a bare run got a snapshot directory"
assert_not_contains "$T/out/summary.md" 'shim was not seen'
