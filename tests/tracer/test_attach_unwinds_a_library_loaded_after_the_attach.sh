#!/usr/bin/env bash
# timeout: 120
# A library dlopen'ed after the attach (target_unwind dlopen) has no unwind
# table at first: its frames end their stacks (counted, never guessed) until
# the tracer notices the new mapping and loads its table; from then on its
# allocations carry the whole stack. Snapshots every 300 ms show when.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
TARGET=$TESTBIN/tracer/target_unwind
need_file "$TARGET"
need_file "$TESTBIN/tracer/libtarget_unwind_dl.so"

start_target dl "$TARGET" dlopen
"$LEAKAUDIT" attach -p "$TPID" -o "$T/out" -i 300ms -d 60 -v 2>"$T/attach.log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_attached "$T/attach.log" "$apid"
touch "$GO"
want='dl_inner dl_outer app_dlopen_loop main _start$'
seen=0
for i in $(seq 600); do
    if "$DUMP" "$T/out" >"$T/d" 2>/dev/null && app_frames "$T/d" heap >"$T/heap" &&
        grep -Eq "^[1-9][0-9]* $want" "$T/heap"; then
        seen=1
        break
    fi
    sleep 0.1
done
touch "$COUNTERS.stop"
wait_until 30 test -e "$COUNTERS" || echo "the target did not stop in 30 s"
kill -INT $apid
wait $apid || { cat "$T/attach.log"; fail "attach exited with $?"; }
[ "$seen" = 1 ] || { cat "$T/heap" "$T/attach.log"; fail "no whole stack through the dlopen'ed library"; }
"$DUMP" "$T/out" >"$T/d"
app_frames "$T/d" heap >"$T/heap"
expect_stack "$T/heap" "$want" "library loaded after the attach"
assert_contains "$T/attach.log" 'unwind table .*libtarget_unwind_dl\.so'
assert_not_contains "$T/d" '[=,]\?:0x' "a frame outside every module"
