#!/usr/bin/env bash
# When glibc's run dies without an allocator message (here SIGSEGV), another
# allocator that survives is flagged "survived (hides a corruption?)": a
# suspicion, not a finding, and not "stable".
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
soak "$T/out" -a glibc,jemalloc -d 2s -i 200ms -- "$SOAKLOAD" segv_if_glibc
[ "$(field "$T/out" glibc crashed)" = yes ] || fail "glibc run not recorded as crashed"
[[ "$(field "$T/out" glibc crash_message)" == *SIGSEGV* ]] || fail "glibc crash is not SIGSEGV"
[ "$(field "$T/out" glibc heap_message)" = - ] || fail "a heap message was invented"
verdict=$(field "$T/out" jemalloc verdict)
[ "$verdict" = "survived (hides a corruption?)" ] || fail "jemalloc verdict '$verdict'"
ok "jemalloc: $verdict"
