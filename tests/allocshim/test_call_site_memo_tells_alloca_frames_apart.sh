#!/usr/bin/env bash
# Two ways the shim avoids unwinding take a stack as unchanged: the call-site
# memo (allocshim/callsite.c), which skips comparing the caller's frame
# pointer unless a step of the capture took its CFA from it, and the
# previous capture's steps (allocshim/unwind.c, tail_holds), which must also
# check the frame pointers later CFAs come from. Two malloc call sites in
# functions with an alloca'd frame, entered at the same stack address from
# two paths whose frame pointers differ, where the second path's dead stack
# still holds the first one's return addresses (tests/allocshim/
# alloca_site.c; one site calls malloc through a function without frame
# pointers): each path must keep its own blocks, with the default unwinder
# and with -u fp. Before: a memo that never compared the frame pointer gave
# via_a 799 of the 800 blocks; the previous-capture rule gave the site
# reached through mid all 800 to via_b on x86-64, and both sites' on aarch64.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
ALLOCA_SITE=$TESTBIN/allocshim/alloca_site
need_file "$ALLOCA_SITE"

for unwind in dwarf fp; do
    "$LEAKAUDIT" run -q -u "$unwind" -o "$T/$unwind" -- "$ALLOCA_SITE" >/dev/null
    "$LEAKAUDIT" report -f collapsed -n 0 "$T/$unwind" >"$T/c.$unwind"
    got=$(grep -E '^\[still reachable\];.*;main;take_turns;via_[ab];(site|mid)' "$T/c.$unwind" |
        sed 's/.*;take_turns;//' | sort | tr '\n' ' ')
    want="via_a;site 16800 via_a;site_mid;mid 16800 via_b;site 28000 via_b;site_mid;mid 28000 "
    # frame pointers alone do not see site_mid: mid, without them, leaves its frame pointer
    [ "$unwind" = fp ] && want="via_a;mid 16800 via_a;site 16800 via_b;mid 28000 via_b;site 28000 "
    [ "$got" = "$want" ] || { cat "$T/c.$unwind"; fail "[$unwind] got '$got', want '$want' (300 and 500 blocks of 56 bytes)"; }
    ok "[$unwind] two alloca'd call sites at one stack address from two paths: $got"
done
