#!/usr/bin/env bash
# Overhead of the shim on the malloc-heavy microbenchmark (bench/mallocbench.c,
# the mix of shared/PEER-BASELINES.md), measured in one run next to peers:
# bare glibc, a hook that only forwards (the floor of any LD_PRELOAD shim),
# shim full, shim sampled, heaptrack, valgrind memcheck.
# Prints ns per call and ratios; medians of ROUNDS interleaved rounds
# (default 3). Not a test: numbers, not pass/fail.
#   bench/shim.sh [CALLS]     (default 2,000,000 allocation calls)
source "$(dirname "$0")/lib.sh"
CALLS=${1:-2000000}
SLOW_CALLS=$((CALLS / 10)) # peers are 10-40x slower; ns/call is per call anyway
gcc -O2 -shared -fPIC -o "$B/forward_hook.so" bench/forward_hook.c -ldl
cmd[bare]="$B/mallocbench"; calls[bare]=$CALLS
cmd[forward-hook]="env LD_PRELOAD=$B/forward_hook.so $B/mallocbench"; calls[forward-hook]=$CALLS
cmd[shim-full]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/full LEAKAUDIT_INTERVAL=0 $B/mallocbench"
calls[shim-full]=$CALLS
# the same with frame pointers (-u fp: wrong stacks in distro code) and libunwind
cmd[shim-full-fp]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/fp LEAKAUDIT_UNWIND=fp LEAKAUDIT_INTERVAL=0 $B/mallocbench"
calls[shim-full-fp]=$CALLS
cmd[shim-full-libunwind]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/lu LEAKAUDIT_UNWIND=libunwind LEAKAUDIT_INTERVAL=0 $B/mallocbench"
calls[shim-full-libunwind]=$CALLS
cmd[shim-sampled]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/sampled LEAKAUDIT_MODE=sampled LEAKAUDIT_INTERVAL=0 $B/mallocbench"
calls[shim-sampled]=$CALLS
order=(bare forward-hook shim-full shim-full-fp shim-full-libunwind shim-sampled)
if command -v heaptrack >/dev/null; then
    cmd[heaptrack]="heaptrack -o $BT/ht $B/mallocbench"; calls[heaptrack]=$SLOW_CALLS
    order+=(heaptrack)
fi
if command -v valgrind >/dev/null; then
    cmd[valgrind]="valgrind -q --leak-check=full $B/mallocbench"; calls[valgrind]=$SLOW_CALLS
    order+=(valgrind)
fi
printf '\nmalloc-heavy microbenchmark, %d calls (peers: %d), median of %d rounds\n' "$CALLS" "$SLOW_CALLS" "$ROUNDS"
bench_run bare shim-full
echo
echo "targets: shim-full (default: unwind tables, right stacks) <= 2.0x bare and faster than heaptrack;"
echo "         shim-sampled <= 1.05x bare"
