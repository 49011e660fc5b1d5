#!/usr/bin/env bash
# timeout: 120
# A function whose return-address slot holds garbage while it calls malloc
# (target_unwind's app_bad_ra): the in-kernel walk stops at that frame and
# counts it (unwind_bad_frame); no stack word is ever reported as a frame,
# with the unwind tables (default) or with frame pointers (-u fp).
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
TARGET=$TESTBIN/tracer/target_unwind
need_file "$TARGET"

for how in dwarf fp; do
    start_target "bad-$how" "$TARGET" leak
    attach_and_plant "$T/$how" -u "$how"
    "$DUMP" "$T/$how" >"$T/d"
    app_frames "$T/d" heap >"$T/heap"
    assert_not_contains "$T/d" '[=,]\?:0x' "[$how] a frame outside every module"
    if [ "$how" = dwarf ]; then
        expect_stack "$T/heap" 'app_bad_ra$' "[$how] the stack ends at the corrupted frame"
        bad=$(sed -n 's/^loss unwind_bad_frame=//p' "$T/d")
        [ "${bad:-0}" -ge "$(counter iterations)" ] || fail "[$how] unwind_bad_frame=$bad"
        ok "[$how] unwind_bad_frame=$bad"
    else
        expect_stack "$T/heap" 'app_bad_ra' "[$how] the corrupted frame is the caller"
    fi
    kill "$TPID" 2>/dev/null || true
done
