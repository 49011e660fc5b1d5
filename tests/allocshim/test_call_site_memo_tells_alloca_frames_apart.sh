#!/usr/bin/env bash
# The call-site memo (allocshim/callsite.c) skips comparing the caller's
# frame pointer unless a step of the capture took its CFA from it. One malloc
# call site in a function with an alloca'd frame, entered at the same stack
# address from two paths whose frame pointers differ, where the second
# path's dead stack still holds the first one's return addresses
# (tests/allocshim/alloca_site.c): each path must keep its own blocks, with
# the default unwinder and with -u fp. (A memo that never compared the
# frame pointer gave via_a 799 blocks and via_b 1.)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
ALLOCA_SITE=$TESTBIN/allocshim/alloca_site
need_file "$ALLOCA_SITE"

for unwind in dwarf fp; do
    "$LEAKAUDIT" run -q -u "$unwind" -o "$T/$unwind" -- "$ALLOCA_SITE" >/dev/null
    "$LEAKAUDIT" report -f collapsed -n 0 "$T/$unwind" >"$T/c.$unwind"
    got=$(grep '^\[still reachable\];.*;main;via_[ab];site ' "$T/c.$unwind" | sed 's/.*;main;//' | sort | tr '\n' ' ')
    want="via_a;site 16800 via_b;site 28000 "
    [ "$got" = "$want" ] || { cat "$T/c.$unwind"; fail "[$unwind] got '$got', want '$want' (300 and 500 blocks of 56 bytes)"; }
    ok "[$unwind] one alloca'd call site at one stack address from two paths: $got"
done
