#!/usr/bin/env bash
# timeout: 120
# A program that frees what it allocates reports zero definitely, indirectly
# and possibly lost bytes at exit, under glibc, jemalloc, tcmalloc and
# mimalloc: an empty main (tcmalloc's own MallocExtension block is the
# allocator's bookkeeping), and a thread pool created and joined four times
# with correct key destructors (glibc keeps the exited threads' stacks, and
# their TLS vectors, in a cache the scan reads as a root), and two libraries
# dlopen'ed (the loader holds a segment of its _dl_find_object table only by
# the segment's start rounded up to its alignment: not "possibly lost").
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_reach.sh"
CLEAN=$TESTBIN/reach/reach_clean
need_file "$CLEAN"

for a in glibc jemalloc tcmalloc mimalloc; do
    for mode in empty threads dlopen; do
        out=$T/$a-$mode
        "$LEAKAUDIT" run -q -a "$a" -o "$out" -- "$CLEAN" "$mode" ||
            fail "[$a] reach_clean $mode failed"
        "$REACHDUMP" "$(last_snapshot "$out")" >"$T/dump" || fail "[$a] no reachability section"
        lost=$(grep -E '^stack [0-9]+ (definite|indirect|possible) ' "$T/dump" || true)
        [ -z "$lost" ] || fail "[$a] $mode: lost blocks reported: $lost"
        ok "[$a] $mode: nothing lost"
    done
done
