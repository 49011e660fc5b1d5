#!/usr/bin/env bash
# Overhead of tracking a paired C-API resource (docs/resources.md): calls
# per second of libvendor.so's create/run/destroy cycle (three tracked calls:
# create, use, destroy) bare, under the shim without resource tracking,
# under the shim with the three functions tracked (GOT-patched wrappers),
# and attached with the tracer (uprobes + a uretprobe on create).
# Medians of ROUNDS rounds (default 3). Not a test: numbers, not pass/fail.
#   bench/resources.sh [CYCLES]   (default 1,000,000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
CYCLES=${1:-1000000}
APP=$BUILD/tests/resources/vendor_app
SHIM=$BUILD/lib/libleakaudit.so
LEAKAUDIT=$BUILD/bin/leakaudit
for f in "$APP" "$SHIM" "$LEAKAUDIT"; do
    [ -e "$f" ] || { echo "build first: make $f" >&2; exit 1; }
done
SPEC='name=vendor;create=vendor_create:ret;destroy=vendor_destroy:arg0;use=vendor_run:arg0'
BT=$(mktemp -d)
trap 'rm -rf "$BT"' EXIT

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# attached N: cycles/s of a vendor_app spin with the tracer attached.
attached() {
    local go=$BT/go.$RANDOM out=$BT/out.$RANDOM log=$BT/log.$RANDOM
    GO=$go "$APP" spin "$1" >"$out" &
    local tpid=$!
    sleep 0.2
    "$LEAKAUDIT" attach -p $tpid -o "$BT/a" --no-heap --no-fds -v --no-progress \
        --track-resource "$SPEC" 2>"$log" &
    local apid=$!
    while ! grep -q "attached to pid" "$log" 2>/dev/null; do sleep 0.05; done
    touch "$go"
    while [ ! -e "$go.done" ]; do sleep 0.05; done
    kill -INT $apid
    wait $apid || true
    kill $tpid
    wait $tpid 2>/dev/null || true
    cat "$out"
}

declare -A s
configs=(bare shim shim+tracked)
[ "$(id -u)" -eq 0 ] && configs+=(attach+tracked)
for r in $(seq 1 "$ROUNDS"); do
    s[bare]="${s[bare]:-} $("$APP" spin "$CYCLES")"
    s[shim]="${s[shim]:-} $(LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/s LEAKAUDIT_INTERVAL=0 \
        "$APP" spin "$CYCLES")"
    s[shim+tracked]="${s[shim+tracked]:-} $(LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$BT/t \
        LEAKAUDIT_INTERVAL=0 LEAKAUDIT_TRACK_RESOURCES=$SPEC "$APP" spin "$CYCLES")"
    if [ "$(id -u)" -eq 0 ]; then
        s[attach+tracked]="${s[attach+tracked]:-} $(attached $((CYCLES / 10)))"
    fi
done
bare=$(echo "${s[bare]}" | median)
printf '\ncreate/run/destroy cycles (3 tracked calls each), %d cycles, median of %d rounds\n' \
    "$CYCLES" "$ROUNDS"
printf '%-16s %14s %14s %12s %16s\n' config cycles/s calls/s "vs bare" "ns/tracked call"
for c in "${configs[@]}"; do
    m=$(echo "${s[$c]}" | median)
    awk -v c="$c" -v m="$m" -v b="$bare" 'BEGIN {
        printf "%-16s %14.0f %14.0f %11.2fx %16.1f\n", c, m, m * 3, b / m, (1e9 / m - 1e9 / b) / 3 }'
done
echo "(ns/tracked call: time added per tracked call over bare; attach runs CYCLES/10)"
