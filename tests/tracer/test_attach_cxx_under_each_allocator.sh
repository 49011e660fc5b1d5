#!/usr/bin/env bash
# timeout: 120
# C++ `new` / `new[]` leaks and a malloc leak are reported at their
# functions, with the program's own byte and block counts (within 5%),
# whichever allocator the target runs on: glibc + libstdc++ (operator new
# calls malloc: counted once, for the caller of new), and jemalloc,
# tcmalloc and mimalloc preloaded (their own operator new/delete never
# reach malloc/free). Churn through new/delete, new[]/delete[] and
# malloc/free leaves nothing outstanding, and nothing is dropped.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
CXX_TARGET=$TESTBIN/tracer/target_cxx
LIBDIR=/usr/lib/x86_64-linux-gnu
need_file "$CXX_TARGET"
need_file "$JEMALLOC"
need_file "$LIBDIR/libtcmalloc_minimal.so.4"
need_file "$LIBDIR/libmimalloc.so.2"

check() { # NAME ALLOCATOR-IN-HEADER [ENV=VALUE]
    local name=$1 want=$2
    shift 2
    start_target "$name" "$CXX_TARGET" leak "$@"
    attach_and_plant "$T/$name" --no-fds
    "$DUMP" "$T/$name" >"$T/$name.d"
    assert_contains "$T/$name.d" "^header .*allocator=$want"
    expect_heap "$T/$name.d" leak_new "$(counter new_bytes)" "$(counter new_count)" "[$name] "
    expect_heap "$T/$name.d" leak_new_array "$(counter newarr_bytes)" "$(counter newarr_count)" \
        "[$name] "
    expect_heap "$T/$name.d" leak_heap "$(counter leaked_bytes)" "$(counter leaked_count)" \
        "[$name] "
    expect_heap "$T/$name.d" churn 0 0 "[$name] "
    no_drops "$T/$name.d"
    kill "$TPID" 2>/dev/null
}

check glibc glibc
check jemalloc jemalloc LD_PRELOAD="$JEMALLOC"
check tcmalloc tcmalloc LD_PRELOAD="$LIBDIR/libtcmalloc_minimal.so.4"
check mimalloc mimalloc LD_PRELOAD="$LIBDIR/libmimalloc.so.2"
