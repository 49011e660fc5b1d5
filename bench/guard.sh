#!/usr/bin/env bash
# Cost of guard mode on the malloc-heavy microbenchmark, in one run: bare,
# shim full tracking, guard canary (redzones + quarantine on every block),
# canary without the quarantine (LEAKAUDIT_QUARANTINE=0: no use-after-free
# checks), canary poisoning 64 bytes or all of each freed block instead of
# 256 at each end (LEAKAUDIT_GUARD_POISON), guard pages sampling 1 in 1000
# blocks alone (heap tracking off: the GWP-ASan-style always-on
# configuration), the same hooks with no block ever sampled (what is left is
# the hooks' own cost) and sampling 1 in 10,000, guard pages 1 in 1000 on top
# of sampled leak tracking, an ASan build of the same benchmark, and valgrind.
#   bench/guard.sh [CALLS]    (default 4,000,000: long enough that the 4096
#                             page slots' one-time first use -- a page fault
#                             and a VMA split each -- does not dominate, as
#                             it would not in a service that runs for hours)
source "$(dirname "$0")/lib.sh"
CALLS=${1:-4000000}
SLOW_CALLS=$((CALLS / 10))
clang -O2 -g -fsanitize=address -fno-omit-frame-pointer -o "$B/mallocbench-asan" bench/mallocbench.c
E="env LEAKAUDIT_OUT=$BT/o LEAKAUDIT_INTERVAL=0 LD_PRELOAD=$SHIM"
cmd[bare]="$B/mallocbench"; calls[bare]=$CALLS
cmd[shim-full]="$E $B/mallocbench"; calls[shim-full]=$CALLS
cmd[guard-canary]="$E LEAKAUDIT_GUARD=canary $B/mallocbench"; calls[guard-canary]=$CALLS
cmd[canary-no-quarantine]="$E LEAKAUDIT_GUARD=canary LEAKAUDIT_QUARANTINE=0 $B/mallocbench"
calls[canary-no-quarantine]=$CALLS
cmd[canary-poison-64]="$E LEAKAUDIT_GUARD=canary LEAKAUDIT_GUARD_POISON=64 $B/mallocbench"
calls[canary-poison-64]=$CALLS
cmd[canary-poison-all]="$E LEAKAUDIT_GUARD=canary LEAKAUDIT_GUARD_POISON=all $B/mallocbench"
calls[canary-poison-all]=$CALLS
cmd[guard-pages-1k]="$E LEAKAUDIT_GUARD=pages LEAKAUDIT_GUARD_SAMPLE=1000 LEAKAUDIT_TRACK=fd,mmap $B/mallocbench"
calls[guard-pages-1k]=$CALLS
cmd[pages-hooks-only]="$E LEAKAUDIT_GUARD=pages LEAKAUDIT_GUARD_SAMPLE=1000000000 LEAKAUDIT_TRACK=fd,mmap $B/mallocbench"
calls[pages-hooks-only]=$CALLS
cmd[guard-pages-10k]="$E LEAKAUDIT_GUARD=pages LEAKAUDIT_GUARD_SAMPLE=10000 LEAKAUDIT_TRACK=fd,mmap $B/mallocbench"
calls[guard-pages-10k]=$CALLS
cmd[pages-1k+sampled]="$E LEAKAUDIT_GUARD=pages LEAKAUDIT_GUARD_SAMPLE=1000 LEAKAUDIT_MODE=sampled $B/mallocbench"
calls[pages-1k+sampled]=$CALLS
cmd[asan-build]="env ASAN_OPTIONS=detect_leaks=0 $B/mallocbench-asan"; calls[asan-build]=$CALLS
cmd[valgrind]="valgrind -q $B/mallocbench"; calls[valgrind]=$SLOW_CALLS
order=(bare shim-full guard-canary canary-no-quarantine canary-poison-64 canary-poison-all guard-pages-1k pages-hooks-only guard-pages-10k pages-1k+sampled asan-build valgrind)
printf '\nguard mode on the malloc-heavy microbenchmark, %d calls (valgrind: %d), median of %d rounds\n' \
    "$CALLS" "$SLOW_CALLS" "$ROUNDS"
bench_run bare shim-full
echo
echo "targets: guard-canary <= 2x shim-full; guard-pages-1k <= 1.05x bare"
