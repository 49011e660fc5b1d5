#!/usr/bin/env bash
# timeout: 120
# Sampled mode (allocation probes on 1 s of every 10 s, frees always): the
# heap leaked at a steady rate in leak_heap() over ~25 s is estimated
# within +-30% of the program's own counters, the records are marked as
# estimates, and the header says mode=sampled.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"

# ~0.35-0.55 ms per iteration: 10-17 s of planting, two sampling windows.
ITERATIONS=30000
GO=$T/go
COUNTERS=$T/counters
"$LEAKER" leak "$GO" "$COUNTERS" "$ITERATIONS" &
TPID=$!
on_exit "kill $TPID 2>/dev/null"
wait_mapped "$TPID" 'libc\.so'
"$LEAKAUDIT" attach -p "$TPID" -o "$T/s" -m sampled --no-fds -d 100 -v 2>"$T/attach.log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_attached "$T/attach.log" "$apid"
touch "$GO"
for i in $(seq 900); do
    [ -e "$COUNTERS" ] && break
    sleep 0.1
done
[ -e "$COUNTERS" ] || fail "target did not finish planting in 90 s"
kill -INT $apid
wait $apid || { cat "$T/attach.log"; fail "attach exited with $?"; }
grep 'sampled:' "$T/attach.log" | tail -3
"$DUMP" "$T/s" >"$T/d"
assert_contains "$T/d" '^header .*mode=sampled'
got=$(site "$T/d" heap leak_heap)
want_b=$(counter leaked_bytes)
want_c=$(counter leaked_count)
b=${got% *}
c=${got#* }
[ $((b * 100)) -ge $((want_b * 70)) ] && [ $((b * 100)) -le $((want_b * 130)) ] ||
    fail "sampled estimate $b bytes at leak_heap, program says $want_b (outside +-30%)"
[ $((c * 100)) -ge $((want_c * 70)) ] && [ $((c * 100)) -le $((want_c * 130)) ] ||
    fail "sampled estimate $c blocks at leak_heap, program says $want_c (outside +-30%)"
grep '^heap ' "$T/d" | grep 'flags=1' >/dev/null || { grep '^heap ' "$T/d" | head -3; fail "records not marked as estimates"; }
ok "sampled: leak_heap estimated at $b bytes in $c blocks (program: $want_b in $want_c)"
