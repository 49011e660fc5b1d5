#!/usr/bin/env bash
# Shim overhead on a real deep-stack workload: python3 (Debian's, built
# without frame pointers) doing JSON / regex / dict work 20-30 Python calls
# deep with PYTHONMALLOC=malloc, so every object allocation goes through the
# shim with a 60-100 frame C stack. Same run, interleaved rounds: bare, shim
# full with the default unwinder (unwind tables), with frame pointers (wrong
# stacks, the old default), with libunwind, shim sampled.
# Prints ns per iteration and ratios (medians of ROUNDS, default 3).
#   bench/python.sh [ITERATIONS]   (default 3000)
source "$(dirname "$0")/lib.sh"
N=${1:-3000}
PY="env PYTHONMALLOC=malloc python3 bench/pywork.py"
OUT="LEAKAUDIT_INTERVAL=0 LEAKAUDIT_REACHABILITY=off"
cmd[bare]="$PY"; calls[bare]=$N
cmd[shim-full]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/full $OUT $PY"; calls[shim-full]=$N
cmd[shim-full-fp]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/fp LEAKAUDIT_UNWIND=fp $OUT $PY"
calls[shim-full-fp]=$N
cmd[shim-full-libunwind]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/lu LEAKAUDIT_UNWIND=libunwind $OUT $PY"
calls[shim-full-libunwind]=$N
cmd[shim-sampled]="env LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/s LEAKAUDIT_MODE=sampled $OUT $PY"
calls[shim-sampled]=$N
order=(bare shim-full shim-full-fp shim-full-libunwind shim-sampled)
# heaptrack is not in this table: Debian 12's heaptrack 1.4 records ~90
# allocations of a python3 run (python's own calls to malloc are not seen),
# so its time is not a comparable figure (docs/unwinding.md).
printf '\npython3 deep-stack workload (PYTHONMALLOC=malloc), %d iterations, median of %d rounds\n' "$N" "$ROUNDS"
bench_run bare shim-full
echo
echo "target: shim-full (right stacks) <= 2.5x bare"
