#!/usr/bin/env bash
# 16 threads allocating, reallocating and freeing across threads, with a fork
# in the middle: exactly the planted 160 blocks are outstanding, the forked
# child has its own series with its own leak, and fork+exec keeps auditing
# the new image in a new series.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
for a in glibc jemalloc; do
    audit "$T/$a" "$a" "$PLANTED" stress
    n=$(ls "$T/$a"/*.snap | wc -l)
    [ "$n" -ge 2 ] || fail "[$a] expected parent and child series, got $n files"
    # The parent's series is the one with the 160 planted blocks in one
    # stack at stress_leak. (The child's inherits the ring blocks live at the
    # fork, whose counts can be anything, 160 included, and the blocks of
    # the threads that ended before the fork: fewer than 160 in that stack,
    # plus its own 10 in another.)
    parent=""; child=""
    for f in "$T/$a"/*.snap; do
        "$SNAPDUMP" "$f" >"$T/one"
        grep '^heap .* live_bytes=16000 live_count=160 ' "$T/one" >"$T/rows160" || true
        if [ -s "$T/rows160" ] && [ "$(site "$T/rows160" heap stress_leak)" = "16000 160" ]; then
            parent=$f
        fi
        if grep -q 'live_bytes=1000 live_count=10 ' "$T/one"; then child=$f; fi
    done
    [ -n "$parent" ] || { "$SNAPDUMP" "$(ls "$T/$a"/*.snap | tail -1)" | head -20; fail "[$a] parent series lacks the 160 planted blocks"; }
    "$SNAPDUMP" "$parent" >"$T/d"
    ok "[$a parent] heap at stress_leak = 16000 160"
    leftover=$(grep '^heap ' "$T/d" | grep -v 'live_bytes=0 ' | grep "frames=$PLANTED:" | grep -v 'live_count=160 ' || true)
    [ -z "$leftover" ] || fail "[$a] unexpected outstanding blocks: $leftover"
    [ -n "$child" ] || fail "[$a] forked child wrote no series of its own"
    # The child inherits every block live at fork (they are its memory too);
    # its own leak is the stress_leak call on the fork branch: 10 blocks.
    "$SNAPDUMP" "$child" >"$T/c"
    line=$(grep -m1 '^heap .*live_bytes=1000 live_count=10 ' "$T/c")
    f0=${line##*frames=}; f0=${f0%%,*}
    [ "$(func_of "$f0")" = stress_leak ] || { cat "$T/c" | head; fail "[$a] child's own leak not found"; }
    ok "[$a child] own series with its own leak"
done

audit "$T/exec" glibc "$PLANTED" forkexec >/dev/null
found_parent=0; found_exec=0
for f in "$T/exec"/*.snap; do
    "$SNAPDUMP" "$f" >"$T/one"
    [ "$(site "$T/one" heap leak_steady)" = "100000 100" ] && found_parent=1
    [ "$(site "$T/one" heap decode_frame)" = "40960 10" ] && found_exec=1
done
[ $found_parent = 1 ] || fail "forkexec: parent series missing"
[ $found_exec = 1 ] || fail "forkexec: the exec'd image was not audited"
ok "fork+exec: both images audited in their own series"

# The main thread ending with pthread_exit: the process ends when its last
# thread does (the shim's own thread must not keep it alive), with status 0
# and a final snapshot.
timeout 20 "$LEAKAUDIT" run -q -o "$T/pexit" -- "$PLANTED" pthread_exit || fail "pthread_exit program did not end cleanly (rc $?)"
dump_last "$T/pexit" >"$T/d"
if [ "${LEAKAUDIT_ARCH:-}" = arm64 ]; then
    # qemu-user builds the program's /proc/self/maps from the kernel's, empty
    # once the main thread has exited: that final snapshot has no module map
    # to name frames by (docs/architectures.md). Its blocks are all there.
    grep -q 'live_bytes=12800 live_count=50 ' "$T/d" || fail "[pthread_exit] the 50 leaked blocks are missing"
    ok "[pthread_exit] ended, 50 blocks of 256 bytes in the final snapshot (qemu: no module map)"
else
    expect_site "$T/d" heap thread_leaker "12800 50" "[pthread_exit] "
fi
