#!/usr/bin/env bash
# Does inferd's stack table level off under the shim? Runs inferd with every
# defect off under `leakaudit run` for SECONDS (default 600) with bounded
# loopback HTTP load, a snapshot every INTERVAL seconds (default 30), and
# prints per snapshot: elapsed time, distinct heap stacks, stacks holding
# live memory, stacks with a frame outside every module, and snapshot size.
#   bench/inferd_stacks.sh [SECONDS] [INTERVAL]   (after `make`; UNWIND=fp to compare)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${1:-600}
IVAL=${2:-30}
LA=$BUILD/bin/leakaudit
DUMP=$BUILD/tests/common/snapdump
W=$(mktemp -d /tmp/leakaudit-stacks.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$BUILD/clips"
[ -f "$BUILD/clips/counter.mp4" ] || scripts/make-clip --seconds 10 "$BUILD/clips/counter.mp4" >/dev/null
scripts/inferd-config "$W/inferd.json" "$BUILD/clips/counter.mp4"
"$LA" run -q -i "$IVAL" -u "${UNWIND:-dwarf}" -o "$W/out" -- "$BUILD/bin/inferd" -c "$W/inferd.json" \
    --port-file "$W/port" -d "$SECS" 2>"$W/inferd.log" &
for _ in $(seq 200); do [ -s "$W/port" ] && break; sleep 0.1; done
port=$(cat "$W/port")
end=$((SECONDS + SECS - 2))
while [ $SECONDS -lt $end ]; do
    curl -sf "127.0.0.1:$port/streams/1/detections?limit=5" >/dev/null || true
    curl -sf -o /dev/null "127.0.0.1:$port/streams/2/snapshot.jpg" || true
    sleep 0.2
done
wait
printf '%8s %10s %10s %10s %12s\n' seconds stacks live bad_frame snapshot_B
t0=""
for f in "$W"/out/inferd*.snap; do
    "$DUMP" "$f" >"$W/d"
    t=$(stat -c %Y "$f")
    [ -n "$t0" ] || t0=$t
    stacks=$(grep -c '^heap ' "$W/d" || true)
    live=$(grep '^heap ' "$W/d" | grep -vc ' live_count=0 ' || true)
    bad=$(grep '^heap ' "$W/d" | grep -Ec 'frames=([^ ]*,)?0x' || true)
    printf '%8d %10d %10d %10d %12d\n' $((t - t0)) "$stacks" "$live" "$bad" "$(stat -c %s "$f")"
done
