#!/usr/bin/env bash
# inferd throughput benchmark: frames/s through the whole pipeline (decode,
# convert, motion, memfd hand-over, OCR every 5th frame, JPEG snapshots) with
# two streams read as fast as possible and a queue that blocks instead of
# dropping, so frames/s is the pipeline's capacity. Measures bare, and, when
# build/lib/libleakaudit.so exists, under the shim in full and sampled mode
# and, as root, attached with `leakaudit attach --inject` (the shim loaded
# into the running inferd after its start) in full and sampled mode; prints
# a table with ratios to bare. Each configuration runs REPS times and
# the median is reported (these machines are noisy).
#
# usage: bench/inferd.sh [-d SECONDS] [-r REPS] [-b vendorsim|tesseract]
#   -d  measured seconds per run, after a 2 s warm-up (default 10)
#   -r  runs per configuration (default 3)
#   -b  backend (default tesseract)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
INFERD=$BUILD/bin/inferd
SHIM=$BUILD/lib/libleakaudit.so
WARMUP=2
seconds=10 reps=3 backend=tesseract
while getopts "d:r:b:h" o; do
    case $o in
    d) seconds=$OPTARG ;;
    r) reps=$OPTARG ;;
    b) backend=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
[ -x "$INFERD" ] || { echo "bench/inferd: $INFERD missing (make build/bin/inferd)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/inferd: needs curl" >&2; exit 1; }

tmp=$(mktemp -d /tmp/inferd-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
"$ROOT/scripts/make-clip" --seconds 10 "$tmp/counter.mp4"
plugin=
[ "$backend" = vendorsim ] && plugin=", \"plugin\": \"$BUILD/lib/libvendorsim.so\""
cat >"$tmp/bench.json" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 2, "drop_policy": "block",
  "backend": {"kind": "$backend"$plugin},
  "clips": {"counter": "$tmp/counter.mp4"},
  "stream_defaults": {"realtime": false},
  "streams": [{"source": "counter"}, {"source": "counter"}]
}
JSON

inferred() {
    curl -sf "http://127.0.0.1:$1/metrics" | awk '/^inferd_frames_inferred_total/ {n += $2} END {print n + 0}'
}

# run_once [env assignments...]: prints frames/s of one run.
run_once() {
    rm -f "$tmp/port"
    env "$@" "$INFERD" -c "$tmp/bench.json" --port-file "$tmp/port" 2>"$tmp/err" &
    pid=$!
    for _ in $(seq 1 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    [ -s "$tmp/port" ] || { cat "$tmp/err" >&2; echo "bench/inferd: inferd did not start" >&2; exit 1; }
    local port
    port=$(cat "$tmp/port")
    local la=
    if [ -n "${INJECT_MODE:-}" ]; then
        rm -rf "$tmp/inj"
        "$BUILD/bin/leakaudit" attach --inject -q -p $pid -m "$INJECT_MODE" -i 5 -o "$tmp/inj" &
        la=$!
        for _ in $(seq 1 100); do ls "$tmp/inj"/*.snap >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    sleep $WARMUP
    local n0 t0 n1 t1
    n0=$(inferred "$port"); t0=$(date +%s.%N)
    sleep "$seconds"
    n1=$(inferred "$port"); t1=$(date +%s.%N)
    if [ -n "$la" ]; then kill -INT "$la"; wait "$la" || true; fi
    kill -TERM $pid
    wait $pid || true
    pid=
    echo "($n1 - $n0) / ($t1 - $t0)" | bc -l
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

measure() { # measure LABEL [env...]
    local label=$1
    shift
    local vals=()
    for _ in $(seq 1 "$reps"); do vals+=("$(run_once "$@")"); done
    printf '%s\n' "${vals[@]}" | median >"$tmp/$label"
    echo "bench/inferd: $label: $(printf '%.1f ' "${vals[@]}")frames/s" >&2
}

configs=(bare)
measure bare
if [ -e "$SHIM" ]; then
    for mode in full sampled; do
        mkdir -p "$tmp/snap-$mode"
        measure "shim-$mode" LD_PRELOAD="$SHIM" LEAKAUDIT_MODE=$mode LEAKAUDIT_OUT="$tmp/snap-$mode" \
            LEAKAUDIT_INTERVAL=5
        configs+=("shim-$mode")
    done
    if [ "$(id -u)" = 0 ]; then
        for mode in full sampled; do
            INJECT_MODE=$mode measure "inject-$mode"
            configs+=("inject-$mode")
        done
    fi
else
    echo "bench/inferd: $SHIM not built: measuring bare only" >&2
fi

bare=$(cat "$tmp/bare")
echo
echo "inferd throughput, backend $backend, 2 streams, 2 workers, ${seconds} s x $reps runs (median)"
printf '%-14s %12s %10s %10s\n' configuration frames/s "vs bare" loss
for c in "${configs[@]}"; do
    v=$(cat "$tmp/$c")
    printf '%-14s %12.1f %9.3fx %9.1f%%\n' "$c" "$v" "$(echo "$v / $bare" | bc -l)" \
        "$(echo "(1 - $v / $bare) * 100" | bc -l)"
done
