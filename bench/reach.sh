#!/usr/bin/env bash
# Cost of the reachability scan (docs/reachability.md) on a process with
# N live blocks (default 1,000,000; bench/reach_million.c): scan time, how
# long the program's threads were paused, and the extra memory the scan
# mapped, from the reachability section of the snapshot. Shim at exit with
# 0 and 8 idle threads, and attach mode (root) with the on-demand scan.
# Medians of ROUNDS runs (default 3). Not a test: numbers, not pass/fail.
#   bench/reach.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-1000000}
ROUNDS=${ROUNDS:-3}
B=$BUILD/bench
SHIM=$BUILD/lib/libleakaudit.so
DUMP=$BUILD/tests/reach/reachdump
LEAKAUDIT=$BUILD/bin/leakaudit
for f in "$SHIM" "$DUMP" "$LEAKAUDIT"; do
    [ -e "$f" ] || { echo "build first: make $f" >&2; exit 1; }
done
mkdir -p "$B"
gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$B/reach_million" bench/reach_million.c
BT=$(mktemp -d)
trap 'rm -rf "$BT"; [ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null; true' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" "$2"; }

declare -A scan pause extra roots blocks
row() { # row NAME INFOFILE...
    local name=$1 f
    shift
    scan[$name]=$(for f in "$@"; do echo "$(field scan_ns "$f") / 1000000" | bc -l; done | median)
    pause[$name]=$(for f in "$@"; do echo "$(field pause_ns "$f") / 1000000" | bc -l; done | median)
    extra[$name]=$(for f in "$@"; do echo "$(field extra_bytes "$f") / 1048576" | bc -l; done | median)
    roots[$name]=$(field roots_bytes "$1")
    blocks[$name]=$(field blocks "$1")
}

shim_run() { # shim_run NAME THREADS
    local name=$1 threads=$2 r files=()
    for r in $(seq "$ROUNDS"); do
        rm -rf "$BT/out"
        LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/out LEAKAUDIT_INTERVAL=0 "$B/reach_million" "$N" "$threads" exit
        "$DUMP" "$(ls "$BT"/out/*.snap | tail -1)" | grep '^info' >"$BT/$name.$r"
        files+=("$BT/$name.$r")
    done
    row "$name" "${files[@]}"
}

shim_run "shim, 1 thread" 0
shim_run "shim, 9 threads" 8
names=("shim, 1 thread" "shim, 9 threads")

if [ "$(id -u)" -eq 0 ]; then
    files=()
    for r in $(seq "$ROUNDS"); do
        rm -rf "$BT/att"
        coproc TGT { exec "$B/reach_million" "$N" 8 hold; }
        tpid=$TGT_PID
        read -r _ <&"${TGT[0]}"
        "$LEAKAUDIT" attach -p "$tpid" -o "$BT/att" -v 2>"$BT/attach.log" &
        apid=$!
        until grep -q "attached to pid" "$BT/attach.log"; do sleep 0.1; done
        echo go >&"${TGT[1]}"
        read -r _ <&"${TGT[0]}"
        kill -INT "$apid"
        wait "$apid"
        kill "$tpid"
        wait "$tpid" 2>/dev/null || true
        tpid=
        "$DUMP" "$(ls "$BT"/att/*.snap | tail -1)" | grep '^info' >"$BT/attach.$r"
        files+=("$BT/attach.$r")
    done
    row "attach, 9 threads" "${files[@]}"
    names+=("attach, 9 threads")
fi

printf '\nreachability scan, %d live blocks, median of %d runs\n' "$N" "$ROUNDS"
printf '%-20s %9s %10s %10s %12s %12s\n' config blocks "scan ms" "pause ms" "extra MiB" "roots KiB"
for name in "${names[@]}"; do
    printf '%-20s %9s %10.1f %10.1f %12.1f %12.1f\n' "$name" "${blocks[$name]}" "${scan[$name]}" \
        "${pause[$name]}" "${extra[$name]}" "$(echo "${roots[$name]} / 1024" | bc -l)"
done
