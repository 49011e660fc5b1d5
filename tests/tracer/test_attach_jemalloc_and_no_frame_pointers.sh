#!/usr/bin/env bash
# timeout: 90
# The tracer probes the allocator the target really uses (jemalloc when it
# is preloaded, whose fast paths never reach glibc), and in a program built
# with -fomit-frame-pointer -O2 the immediate caller of malloc is still
# right (it is read from the stack at malloc's entry), and with the unwind
# tables (attach's default) the frames above it too, down to _start.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
need_file "$JEMALLOC"
need_file "$LEAKER_NOFP"

start_target je "$LEAKER" leak LD_PRELOAD="$JEMALLOC"
attach_and_plant "$T/je"
"$DUMP" "$T/je" >"$T/d"
assert_contains "$T/d" '^header .*allocator=jemalloc'
assert_contains "$T/attach.log" 'uprobe .*libjemalloc.*\(malloc\+[0-9]+\)'
assert_not_contains "$T/attach.log" 'uprobe .*libc\.so'
expect_heap "$T/d" leak_heap "$(counter leaked_bytes)" "$(counter leaked_count)" "[jemalloc] "
expect_heap "$T/d" churn 0 0 "[jemalloc] "
[ "$(site "$T/d" fd leak_dup)" = 5 ] || fail "[jemalloc] dup leaks"
no_drops "$T/d"

start_target nofp "$LEAKER_NOFP" leak
attach_and_plant "$T/nofp"
"$DUMP" "$T/nofp" >"$T/d"
expect_heap "$T/d" leak_heap "$(counter leaked_bytes)" "$(counter leaked_count)" "[nofp] "
app_frames "$T/d" heap >"$T/heap"
expect_stack "$T/heap" 'leak_heap main _start$' "[nofp] deep frames"
[ "$(grep '^fd ' "$T/d" | grep -c 'origin=dup ')" = 5 ] || { grep "^fd " "$T/d"; fail "[nofp] dup leaks"; }
[ "$(grep '^fd ' "$T/d" | grep -c 'origin=fcntl-dupfd ')" = 4 ] || fail "[nofp] fcntl leaks"
no_drops "$T/d"
