#!/usr/bin/env bash
# timeout: 60
# The dma-buf BPF iterator (iter/dmabuf, Linux 6.16+) loads with attach
# --kmem and walks the machine's dma-bufs: this machine has no exporter
# (no udmabuf, no dma heaps), so it reads zero buffers, for real. SKIP
# when the kernel has no such iterator.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
need_cmd jq
[ -z "$(ls /dev/dma_heap 2>/dev/null)" ] && [ ! -e /dev/udmabuf ] ||
    skip "this machine has a dma-buf exporter: the test expects none"
sleep 600 &
TPID=$!
on_exit "kill $TPID 2>/dev/null"
"$LEAKAUDIT" attach -p "$TPID" -o "$T/out" -d 1 --kmem --no-heap -v 2>"$T/log" ||
    { cat "$T/log"; fail "attach --kmem failed"; }
grep -q "no dma-buf iterator" "$T/log" && skip "$(grep -o 'no dma-buf iterator.*' "$T/log")"
grep -q "dma-buf iterator" "$T/log" || { cat "$T/log"; fail "attach did not load the iterator"; }
"$LEAKAUDIT" report --format json "$T/out" >"$T/r.json" || fail "report failed"
[ "$(jq '.kernel_memory.dmabuf_iterator' "$T/r.json")" = true ] || fail "iterator did not run"
n=$(jq '.kernel_memory.machine_dmabufs' "$T/r.json")
[ "$n" = 0 ] || fail "expected 0 dma-bufs on this machine, the iterator read $n"
ok "dma-buf iterator ran and read $n buffers"
[ -z "$(our_bpf_left)" ] || fail "left behind after detach: $(our_bpf_left)"
