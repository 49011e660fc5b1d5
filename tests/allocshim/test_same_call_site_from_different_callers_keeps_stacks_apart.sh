#!/usr/bin/env bash
# The shim remembers, per thread, the stack id of a call site by the hook's
# frame (return address, frame address, saved frame pointer) and reuses it
# while the return-address slots above still hold the same values. One malloc
# call site reached in turn from two callers with identical frames (and from
# a third one frame deeper) must still give three stacks with the right
# counts, in full mode, with the default unwinder and with -u fp.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
SAME_SITE=$TESTBIN/allocshim/same_site
need_file "$SAME_SITE"

# second_frame_counts DUMP: "FUNC COUNT" per second frame of the stacks whose
# first frame is in leaf, sorted.
second_frame_counts() {
    local line frames f1 f2 f3 c
    while IFS= read -r line; do
        frames=${line##*frames=}
        f1=$(echo "$frames" | cut -d, -f1)
        [ "$(func_of "$f1")" = leaf ] || continue
        f2=$(func_of "$(echo "$frames" | cut -d, -f2)")
        f3=$(func_of "$(echo "$frames" | cut -d, -f3)")
        c=${line#*live_count=}; c=${c%% *}
        [ "$f2" = via_a ] && [ "$f3" = via_deep ] && f2=via_deep
        echo "$f2 $c"
    done < <(grep '^heap ' "$1") | sort
}

for unwind in dwarf fp; do
    "$LEAKAUDIT" run -q -u "$unwind" -o "$T/$unwind" -- "$SAME_SITE" >/dev/null
    dump_last "$T/$unwind" >"$T/d.$unwind"
    got=$(second_frame_counts "$T/d.$unwind" | tr '\n' ' ')
    want="via_a 300 via_b 700 via_deep 200 "
    [ "$got" = "$want" ] || { grep '^heap ' "$T/d.$unwind"; fail "[$unwind] stacks from leaf: got '$got', want '$want'"; }
    ok "[$unwind] one call site, three callers: $got"
done
