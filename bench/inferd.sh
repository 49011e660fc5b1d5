#!/usr/bin/env bash
# inferd throughput benchmark: frames/s through the whole pipeline (decode,
# convert, motion, memfd hand-over, OCR every 5th frame, JPEG snapshots) with
# two streams read as fast as possible and a queue that blocks instead of
# dropping, so frames/s is the pipeline's capacity. Measures bare, and, when
# build/lib/libleakaudit.so exists, under the shim in full and sampled mode
# and, as root, attached with `leakaudit attach --inject` (the shim loaded
# into the running inferd after its start) in full and sampled mode; prints
# a table with ratios to bare. The configurations run in turn, REPS rounds
# (round-robin, so a slow phase of the machine hits every configuration
# alike); each configuration's ratio to bare is taken within its round and
# the median is reported. Next to frames/s, frames per CPU-second of inferd
# (its user+system time over the window, the shim's work included): at
# capacity on a shared machine this is the steadier measure of what the
# tool costs, since it does not move when another process takes a core.
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

HZ=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of every thread of PID, in clock ticks
    awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}

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
    local n0 t0 n1 t1 c0 c1
    n0=$(inferred "$port"); t0=$(date +%s.%N); c0=$(cpu_ticks $pid)
    sleep "$seconds"
    n1=$(inferred "$port"); t1=$(date +%s.%N); c1=$(cpu_ticks $pid)
    if [ -n "$la" ]; then kill -INT "$la"; wait "$la" || true; fi
    kill -TERM $pid
    wait $pid || true
    pid=
    echo "$(echo "($n1 - $n0) / ($t1 - $t0)" | bc -l) $(echo "($n1 - $n0) * $HZ / ($c1 - $c0)" | bc -l)"
}


configs=(bare)
if [ -e "$SHIM" ]; then
    configs+=(shim-full shim-sampled)
    [ "$(id -u)" = 0 ] && configs+=(inject-full inject-sampled)
else
    echo "bench/inferd: $SHIM not built: measuring bare only" >&2
fi

run_config() { # LABEL: one run of that configuration, prints "frames/s frames/cpu-s"
    case $1 in
    bare) run_once ;;
    shim-*)
        mkdir -p "$tmp/snap-${1#shim-}"
        run_once LD_PRELOAD="$SHIM" LEAKAUDIT_MODE="${1#shim-}" LEAKAUDIT_OUT="$tmp/snap-${1#shim-}" \
            LEAKAUDIT_INTERVAL=5
        ;;
    inject-*) INJECT_MODE=${1#inject-} run_once ;;
    esac
}

declare -A FPS CPS RF RC
for r in $(seq 1 "$reps"); do
    bare_fps= bare_cps=
    for c in "${configs[@]}"; do
        read -r fps cps < <(run_config "$c") || true
        [ -n "${cps:-}" ] || { echo "bench/inferd: $c: no measurement" >&2; exit 1; }
        [ "$c" = bare ] && bare_fps=$fps bare_cps=$cps
        FPS[$c]="${FPS[$c]:-} $fps"
        CPS[$c]="${CPS[$c]:-} $cps"
        RF[$c]="${RF[$c]:-} $(echo "$fps / $bare_fps" | bc -l)"
        RC[$c]="${RC[$c]:-} $(echo "$cps / $bare_cps" | bc -l)"
        printf 'bench/inferd: round %d %-14s %7.1f frames/s %7.1f frames/cpu-s\n' "$r" "$c" "$fps" "$cps" >&2
    done
done

# med "V1 V2 ...": the median
med() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "inferd throughput, backend $backend, 2 streams, 2 workers, ${seconds} s x $reps rounds (medians;"
echo "ratios to bare taken within each round)"
printf '%-14s %10s %9s %14s %9s\n' configuration frames/s "vs bare" frames/cpu-s "vs bare"
for c in "${configs[@]}"; do
    printf '%-14s %10.1f %8.3fx %14.1f %8.3fx\n' "$c" "$(med "${FPS[$c]}")" "$(med "${RF[$c]}")" \
        "$(med "${CPS[$c]}")" "$(med "${RC[$c]}")"
done
