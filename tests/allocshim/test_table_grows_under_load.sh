#!/usr/bin/env bash
# The address table starts small and grows 4x at a time while 8 threads
# allocate and free (and one forks): afterwards exactly the 480,000 blocks
# the program kept are outstanding at their site, no free went untracked,
# the child ran to completion, and guard mode (where a lost record would be
# reported as an invalid free) reports nothing, also while a small
# quarantine recycles blocks between threads. Held small, it still counts
# right and says it is overloaded.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
# canary-recycling: a 64 KiB quarantine, so freed blocks are recycled from
# it across the 8 threads all the time.
for mode in full canary canary-recycling; do
    rm -rf "$T/$mode"
    guard=() quarantine=16M
    [ $mode != full ] && guard=(--guard=canary)
    [ $mode = canary-recycling ] && quarantine=64K
    LEAKAUDIT_QUARANTINE=$quarantine "$LEAKAUDIT" run -q "${guard[@]}" -o "$T/$mode" -- "$PLANTED" grow \
        >"$T/out" 2>"$T/err" ||
        { head -20 "$T/err"; fail "[$mode] the program failed"; }
    grep -q '^grow child: 0$' "$T/out" || fail "[$mode] forked child: $(cat "$T/out")"
    dump_last "$T/$mode" >"$T/d"
    expect_site "$T/d" heap grow_keep "11520000 480000" "[$mode] "
    assert_contains "$T/d" '^loss heap_free_untracked=0$'
    # Growing kept chains short: never more than 4 blocks per bucket.
    assert_contains "$T/d" '^loss heap_table_overloaded=0$'
    ! grep -q '^corruption' "$T/d" || fail "[$mode] reported: $(grep -m1 '^corruption' "$T/d")"
    [ ! -s "$T/err" ] || { head -5 "$T/err"; fail "[$mode] stderr not empty"; }
    ok "[$mode] 480,000 kept blocks, nothing lost, nothing reported"
done

# Held at 2^16 buckets the same program overloads the table, and says so.
LEAKAUDIT_TABLE_BITS=16 "$LEAKAUDIT" run -q -o "$T/small" -- "$PLANTED" grow >"$T/out" 2>"$T/err" ||
    fail "[2^16] the program failed"
dump_last "$T/small" >"$T/d"
expect_site "$T/d" heap grow_keep "11520000 480000" "[2^16] "
grep -Eq '^loss heap_table_overloaded=[1-9]' "$T/d" || fail "[2^16] overload not counted"
ok "[2^16 buckets at most] still exact; heap_table_overloaded counts"
