#!/usr/bin/env bash
# timeout: 150
# 20 attach/detach cycles (--duration 1) against one long-running target:
# the target keeps running, after every detach no program or link of ours
# is left in the kernel, each cycle writes its snapshot, and the tracer's
# peak memory does not grow from cycle to cycle.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
need_file /usr/bin/time

"$LEAKER" clean "$T/never" "$T/counters" &
TPID=$!
on_exit "kill $TPID 2>/dev/null"
wait_mapped "$TPID" 'libc\.so'
[ -z "$(our_bpf_left)" ] || fail "programs of ours loaded before the test: $(our_bpf_left)"
first_rss=0
for i in $(seq 20); do
    /usr/bin/time -f '%M' -o "$T/rss" "$LEAKAUDIT" attach -p "$TPID" -o "$T/out$i" -d 1 \
        2>"$T/err" || { cat "$T/err"; fail "cycle $i: attach failed"; }
    kill -0 $TPID 2>/dev/null || fail "cycle $i: target died"
    left=$(our_bpf_left)
    [ -z "$left" ] || fail "cycle $i: left behind: $left"
    ls "$T/out$i"/*.snap >/dev/null 2>&1 || fail "cycle $i: no snapshot written"
    rss=$(tail -1 "$T/rss")
    [ "$first_rss" -gt 0 ] || first_rss=$rss
    echo "cycle $i: peak rss ${rss} KiB"
done
# Every cycle is a fresh process: its peak must not creep up (allow 10%
# for allocator noise).
[ "$rss" -le $((first_rss * 110 / 100)) ] || fail "tracer peak RSS grew: $first_rss -> $rss KiB"
"$DUMP" "$T/out20" >"$T/d"
grep -q '^heap .*total_count=[1-9]' "$T/d" || fail "last cycle saw no allocations"
ok "20 cycles, nothing left behind, target alive, tracer rss $first_rss -> $rss KiB"
