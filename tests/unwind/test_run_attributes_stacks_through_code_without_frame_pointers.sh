#!/usr/bin/env bash
# `leakaudit run` with default options attributes allocations made through
# code without frame pointers (strdup, opendir, fopen, a qsort callback, a C++
# exception, a -fomit-frame-pointer library two levels deep, a library
# constructor that runs before the shim's) to the right application
# function and its callers, under every allocator; a lying frame record
# ends its stack cleanly, counted, and no frame outside a module is ever
# recorded -- with frame pointers (-u fp) too -- and no frame of the tool
# itself (a resource wrapper) appears in a user's stack.
source "$(dirname "$0")/../lib.sh"
CASES=$TESTBIN/unwind/unwind_cases
CHECK=$ROOT/tests/unwind/check_stacks.py
need_file "$CASES"
need_file "$SHIM"
need_cmd python3

# opendir is also tracked as a resource: its allocation then runs inside the
# shim's GOT wrapper, whose frame must not appear between libc and the caller.
for alloc in glibc jemalloc tcmalloc mimalloc; do
    "$LEAKAUDIT" run -q -a "$alloc" -o "$T/$alloc" \
        --track-resource 'name=dir;create=opendir:ret;destroy=closedir:arg0' -- "$CASES" once
    "$LEAKAUDIT" report --format json --top 1000 "$T/$alloc" >"$T/$alloc.json"
    python3 "$CHECK" "$T/$alloc.json" | sed "s/^/[$alloc] /"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "$alloc: wrong stacks"
done

# The lying frame record is counted where the report says what was left out.
"$LEAKAUDIT" report "$T/glibc" >"$T/glibc.txt"
assert_contains "$T/glibc.txt" "unwind_bad_frame" "the report does not mention the stack cut at a bad frame"
ok "the report notes unwind_bad_frame"

# Frame pointers: wrong through libc, but never a frame outside a module.
"$LEAKAUDIT" run -q -u fp -o "$T/fp" -- "$CASES" once
"$LEAKAUDIT" report --format json --top 1000 "$T/fp" >"$T/fp.json"
python3 "$CHECK" "$T/fp.json" garbage no_bad_frames | sed "s/^/[fp] /"
[ "${PIPESTATUS[0]}" = 0 ] || fail "-u fp recorded a garbage frame"
if python3 "$CHECK" "$T/fp.json" strdup >/dev/null; then
    fail "-u fp found app_strdup through libc's strdup: this test no longer tells the unwinders apart"
fi
ok "-u fp cannot see through libc (the reason dwarf is the default)"
