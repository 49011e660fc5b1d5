#!/usr/bin/env bash
# make demo: the whole toolkit on a real service, end to end, in ~2 minutes.
#  1. builds test clips and starts inferd (the video-inference daemon) with two
#     planted bugs switched on -- every inference run dup()s its input buffer
#     fd and never closes it, and the decoder's error path forgets its frame
#     buffer on corrupt packets -- under `leakaudit run`, and drives it with
#     loopback HTTP load;
#  2. prints the leak report: the planted sites on top with file:line and a
#     `leak` verdict, the dup()ed fds by creating stack;
#  3. starts a second inferd WITHOUT the shim and attaches the eBPF tracer
#     to it (`leakaudit attach -p PID`), then reports again;
#  5. attaches to the same running inferd again, this time by loading the
#     shim into it (`leakaudit attach --inject`), reports, and prints what
#     each way of attaching cost inferd in CPU time;
#  7. attaches once more with --kmem: the kernel memory inferd's calls hold,
#     by kernel stack and the user stack that caused it.
# Step 2's report starts with the memory breakdown's verdict (where the RSS
# is: live heap, allocator retention, stacks, mmaps, shared memory, ...).
# Leaves nothing running. Outputs in build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LA=$BUILD/bin/leakaudit
INFERD=$BUILD/bin/inferd
D=$BUILD/demo
SHIM_SECONDS=${DEMO_SHIM_SECONDS:-40}
ATTACH_SECONDS=${DEMO_ATTACH_SECONDS:-20}
KMEM_SECONDS=${DEMO_KMEM_SECONDS:-10}
pids=()
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$D"
mkdir -p "$D" "$BUILD/clips"
say "making a test clip (frame counter drawn on a moving pattern)"
[ -f "$BUILD/clips/counter.mp4" ] || scripts/make-clip --seconds 10 "$BUILD/clips/counter.mp4" >/dev/null
scripts/inferd-config "$D/inferd-defects.json" "$BUILD/clips/counter.mp4" --corrupt-every 25 \
    --defect dup_input_fd --defect decode_error_leak

# load LABEL PORTFILE SECONDS: bounded loopback HTTP load against inferd
load() {
    local label=$1 pf=$2 secs=$3 port n=0 end
    for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.1; done
    port=$(cat "$pf")
    end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        curl -sf "127.0.0.1:$port/metrics" >/dev/null || true
        curl -sf "127.0.0.1:$port/streams/1/detections?limit=5" >/dev/null || true
        curl -sf -o /dev/null "127.0.0.1:$port/streams/2/snapshot.jpg" || true
        n=$((n + 3))
        [ $((n % 300)) = 0 ] && printf '\r   %s: %d requests, %ds left ' "$label" "$n" $((end - SECONDS))
        sleep 0.05
    done
    printf '\r   %s: %d requests sent to 127.0.0.1:%s           \n' "$label" "$n" "$port"
    curl -sf "127.0.0.1:$port/metrics" | grep -E '^inferd_frames_(decoded|inferred)_total' | head -4 | sed 's/^/   /'
}

say "1. inferd under the shim for ${SHIM_SECONDS}s: leakaudit run -i 5 -- inferd (defects: dup_input_fd, decode_error_leak)"
"$LA" run -q -i 5 -o "$D/shim" -- "$INFERD" -c "$D/inferd-defects.json" --port-file "$D/port1" \
    -d "$SHIM_SECONDS" 2>"$D/inferd1.log" &
pids+=($!)
load "inferd (shim)" "$D/port1" $((SHIM_SECONDS - 3))
wait "${pids[0]}" || true
echo "   snapshots: $(ls "$D/shim"/*.snap | wc -l) files in $D/shim"

say "2. leakaudit report $D/shim --top 4"
"$LA" report --top 4 "$D/shim" | tee "$D/report-shim.txt"

if [ "$(id -u)" != 0 ]; then
    say "3. skipped: leakaudit attach needs root (CAP_BPF + CAP_PERFMON)"
    exit 0
fi
# cpu_ms PID: user+system CPU time the process has used, in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }

say "3. a second inferd WITHOUT the shim; leakaudit attach -p PID --duration ${ATTACH_SECONDS}"
"$INFERD" -c "$D/inferd-defects.json" --port-file "$D/port2" -d $((3 * ATTACH_SECONDS + KMEM_SECONDS + 40)) \
    2>"$D/inferd2.log" &
ipid=$!
pids+=($ipid)
for _ in $(seq 100); do [ -s "$D/port2" ] && break; sleep 0.1; done
sleep 2
c0=$(cpu_ms "$ipid")
load "inferd (nothing attached)" "$D/port2" "$ATTACH_SECONDS"
c1=$(cpu_ms "$ipid")
echo "   inferd pid $ipid; attaching"
"$LA" attach -p "$ipid" --duration "$ATTACH_SECONDS" -o "$D/attach" 2>"$D/attach.log" &
apid=$!
pids+=($apid)
load "inferd (attached)" "$D/port2" $((ATTACH_SECONDS - 2))
wait "$apid" || { tail -5 "$D/attach.log"; exit 1; }
c2=$(cpu_ms "$ipid")
tail -2 "$D/attach.log" | sed 's/^/   /'
say "4. leakaudit report $D/attach --top 4"
"$LA" report --top 4 "$D/attach" | tee "$D/report-attach.txt"

say "5. the same inferd, attach --inject -p PID --duration ${ATTACH_SECONDS}: the shim loaded into it"
c3=$(cpu_ms "$ipid")
"$LA" attach --inject -p "$ipid" --duration "$ATTACH_SECONDS" -i 2 -o "$D/inject" 2>"$D/inject.log" &
apid=$!
pids+=($apid)
load "inferd (injected)" "$D/port2" $((ATTACH_SECONDS - 2))
wait "$apid" || { tail -5 "$D/inject.log"; exit 1; }
c4=$(cpu_ms "$ipid")
sed 's/^/   /' "$D/inject.log"
say "6. leakaudit report $D/inject --top 4"
"$LA" report --top 4 "$D/inject" | tee "$D/report-inject.txt"
say "what attaching cost inferd (CPU time over ${ATTACH_SECONDS}s of the same load)"
printf '   nothing attached   %6d ms\n   eBPF attach        %6d ms\n   attach --inject    %6d ms\n' \
    $((c1 - c0)) $((c2 - c1)) $((c4 - c3))

say "7. kernel memory: the same inferd, attach --kmem --no-heap for ${KMEM_SECONDS}s (kmem tracepoints, by kernel and user stack)"
"$LA" attach --kmem --no-heap -p "$ipid" --duration "$KMEM_SECONDS" -i 2 -o "$D/kmem" 2>"$D/kmem.log" &
apid=$!
pids+=($apid)
load "inferd (--kmem)" "$D/port2" $((KMEM_SECONDS - 2))
wait "$apid" || { tail -5 "$D/kmem.log"; exit 1; }
"$LA" report --top 3 "$D/kmem" >"$D/report-kmem.txt"
sed -n '/^KERNEL MEMORY/,/^$/p' "$D/report-kmem.txt" | head -30
echo "   (dma-buf sizes need a real exporter -- a camera/NPU/GPU driver, udmabuf or a dma heap;"
echo "    this machine has none, so the dma-buf iterator reads zero buffers: docs/memory-kernel.md)"
kill "$ipid" 2>/dev/null || true
say "done: outputs in $D (reports: report-shim.txt, report-attach.txt, report-inject.txt, report-kmem.txt; try --format html -o r.html)"
