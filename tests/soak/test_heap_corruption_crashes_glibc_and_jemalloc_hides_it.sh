#!/usr/bin/env bash
# A program that writes past a block into its neighbour's chunk header is
# `crashed` under glibc with glibc's own message captured, and jemalloc,
# which survives it, is reported as hiding a corruption, not as stable.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
soak "$T/out" -a glibc,jemalloc -d 2s -i 200ms -- "$SOAKLOAD" corrupt
[ "$(field "$T/out" glibc crashed)" = yes ] || fail "glibc run not recorded as crashed"
msg=$(field "$T/out" glibc heap_message)
[[ "$msg" =~ (double\ free|free\(\)|malloc\(\)|corrupt) ]] || fail "glibc's message not captured: '$msg'"
[[ "$(field "$T/out" glibc crash_message)" == *SIGABRT* ]] || fail "glibc crash is not SIGABRT"
assert_contains "$T/out/glibc.stderr" 'double free or corruption|free\(\)'
assert_contains "$T/out/summary.md" '\| glibc \|.*SIGABRT.*corruption.*\| crashed \|'
ok "glibc: crashed with '$msg'"

[ "$(field "$T/out" jemalloc crashed)" = no ] || fail "jemalloc was expected to survive"
verdict=$(field "$T/out" jemalloc verdict)
[[ "$verdict" == *"hides a corruption"* ]] || fail "jemalloc verdict '$verdict'"
[[ "$verdict" != *stable* ]] || fail "jemalloc called stable"
ok "jemalloc: $verdict"
