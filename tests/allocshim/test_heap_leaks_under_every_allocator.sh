#!/usr/bin/env bash
# Each planted heap leak is reported at its function with exact bytes and
# counts, under glibc, jemalloc, tcmalloc and mimalloc; churn and cross-thread
# frees are not.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
for a in $ALLOCATORS; do
    audit "$T/$a-steady" "$a" "$PLANTED" steady
    dump_last "$T/$a-steady" >"$T/d"
    grep -q "allocator=$a" "$T/d" || fail "header does not name allocator $a"
    expect_site "$T/d" heap leak_steady "100000 100" "[$a] "
    expect_site "$T/d" heap churn "0 0" "[$a] "

    audit "$T/$a-err" "$a" "$PLANTED" errpath >/dev/null
    dump_last "$T/$a-err" >"$T/d"
    expect_site "$T/d" heap decode_frame "40960 10" "[$a] "

    audit "$T/$a-realloc" "$a" "$PLANTED" realloc
    dump_last "$T/$a-realloc" >"$T/d"
    expect_site "$T/d" heap leak_realloc "3000 1" "[$a] "
    expect_site "$T/d" heap leak_calloc "3200 5" "[$a] "
    expect_site "$T/d" heap leak_aligned "2944 5" "[$a] "

    audit "$T/$a-threads" "$a" "$PLANTED" threads
    dump_last "$T/$a-threads" >"$T/d"
    expect_site "$T/d" heap thread_leaker "12800 50" "[$a] "
    expect_site "$T/d" heap churn "0 0" "[$a] "

    audit "$T/$a-cross" "$a" "$PLANTED" crossfree
    dump_last "$T/$a-cross" >"$T/d"
    expect_site "$T/d" heap cross_alloc "0 0" "[$a] "
    grep "^heap " "$T/d" | grep "total_count=100 " >/dev/null || fail "[$a] cross-thread allocations not counted"

    audit "$T/$a-cxx" "$a" "$PLANTED_CXX" >/dev/null
    dump_last "$T/$a-cxx" >"$T/d"
    # 20 x new char[333] and 10 x new vector<int>(50): 10 x 24-byte objects + 10 x 200 bytes
    expect_site "$T/d" heap "leak_new()" "8900 40" "[$a] "
    expect_site "$T/d" heap "churn_new()" "0 0" "[$a] "
done
