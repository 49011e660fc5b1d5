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
# Paired mode (-p): each configuration runs at the same time as a bare
# inferd, the two sharing the machine's slow and fast phases; the ratio of
# their frames per CPU-second is what the tool costs, with the noise of
# this 2-vCPU machine (bare runs one after another differ by 10 % and more)
# cancelled out. A "bare" row pairs two bare inferds: the method's own
# spread. Paired runs share the cores, so frames/s are about half of a
# solo run's; only the ratios are reported.
#
# usage: bench/inferd.sh [-p] [-d SECONDS] [-r REPS] [-b vendorsim|tesseract]
#   -p  paired mode (above)
#   -d  measured seconds per run, after a 2 s warm-up (default 10; paired: 15)
#   -r  runs per configuration (default 3)
#   -b  backend (default tesseract)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
INFERD=$BUILD/bin/inferd
SHIM=$BUILD/lib/libleakaudit.so
WARMUP=2
seconds= reps=3 backend=tesseract paired=
while getopts "pd:r:b:h" o; do
    case $o in
    p) paired=1 ;;
    d) seconds=$OPTARG ;;
    r) reps=$OPTARG ;;
    b) backend=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
[ -n "$seconds" ] || seconds=$([ -n "$paired" ] && echo 15 || echo 10)
[ -x "$INFERD" ] || { echo "bench/inferd: $INFERD missing (make build/bin/inferd)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/inferd: needs curl" >&2; exit 1; }

tmp=$(mktemp -d /tmp/inferd-bench.XXXXXX)
pid= pid_a= pid_b=
trap 'kill -KILL $pid $pid_a $pid_b 2>/dev/null; rm -rf "$tmp"' EXIT
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

# inject_into PID: `leakaudit attach --inject` (INJECT_MODE) into PID, until
# its first snapshot is written; the attach's pid goes to la.
inject_into() {
    rm -rf "$tmp/inj"
    "$BUILD/bin/leakaudit" attach --inject -q -p "$1" -m "$INJECT_MODE" -i 5 -o "$tmp/inj" &
    la=$!
    local i
    for i in $(seq 1 100); do ls "$tmp/inj"/*.snap >/dev/null 2>&1 && break; sleep 0.1; done
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
    if [ -n "${INJECT_MODE:-}" ]; then inject_into $pid; fi
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

# start_inferd TAG [env assignments...]: starts an inferd whose port goes
# to $tmp/port.TAG; its pid goes to pid_TAG.
start_inferd() {
    local tag=$1
    shift
    rm -f "$tmp/port.$tag"
    env "$@" "$INFERD" -c "$tmp/bench.json" --port-file "$tmp/port.$tag" >/dev/null 2>"$tmp/err.$tag" &
    printf -v "pid_$tag" %s $!
}

# run_pair [env assignments...]: a bare inferd and one with these settings
# (INJECT_MODE: attached with --inject instead) at the same time; prints
# "frames/s-ratio frames/cpu-s-ratio" (the second to the first).
run_pair() {
    start_inferd a
    start_inferd b "$@"
    local i
    for i in $(seq 1 200); do [ -s "$tmp/port.a" ] && [ -s "$tmp/port.b" ] && break; sleep 0.05; done
    [ -s "$tmp/port.a" ] && [ -s "$tmp/port.b" ] ||
        { cat "$tmp/err.a" "$tmp/err.b" >&2; echo "bench/inferd: inferd did not start" >&2; exit 1; }
    local pa pb la=
    pa=$(cat "$tmp/port.a") pb=$(cat "$tmp/port.b")
    if [ -n "${INJECT_MODE:-}" ]; then inject_into $pid_b; fi
    sleep $WARMUP
    local a0 b0 ca0 cb0 a1 b1 ca1 cb1
    a0=$(inferred "$pa") b0=$(inferred "$pb") ca0=$(cpu_ticks $pid_a) cb0=$(cpu_ticks $pid_b)
    sleep "$seconds"
    a1=$(inferred "$pa") b1=$(inferred "$pb") ca1=$(cpu_ticks $pid_a) cb1=$(cpu_ticks $pid_b)
    if [ -n "$la" ]; then kill -INT "$la"; wait "$la" || true; fi
    kill -TERM $pid_a $pid_b
    wait $pid_a $pid_b || true
    pid_a= pid_b=
    echo "$(echo "($b1 - $b0) / ($a1 - $a0)" | bc -l)" \
        "$(echo "(($b1 - $b0) / ($cb1 - $cb0)) / (($a1 - $a0) / ($ca1 - $ca0))" | bc -l)"
}


configs=(bare)
if [ -e "$SHIM" ]; then
    configs+=(shim-full shim-sampled)
    [ "$(id -u)" = 0 ] && configs+=(inject-full inject-sampled)
else
    echo "bench/inferd: $SHIM not built: measuring bare only" >&2
fi

run_config() { # LABEL: one run of that configuration, prints "frames/s frames/cpu-s"
    local run=run_once
    if [ -n "$paired" ]; then
        run=run_pair
        [ "$1" = bare ] && { run_pair; return; }
    fi
    case $1 in
    bare) run_once ;;
    shim-*)
        mkdir -p "$tmp/snap-${1#shim-}"
        $run LD_PRELOAD="$SHIM" LEAKAUDIT_MODE="${1#shim-}" LEAKAUDIT_OUT="$tmp/snap-${1#shim-}" \
            LEAKAUDIT_INTERVAL=5
        ;;
    inject-*) INJECT_MODE=${1#inject-} $run ;;
    esac
}

# med "V1 V2 ...": the median
med() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

if [ -n "$paired" ]; then
    declare -A PF PC
    for r in $(seq 1 "$reps"); do
        for c in "${configs[@]}"; do
            read -r rf rc < <(run_config "$c") || true
            [ -n "${rc:-}" ] || { echo "bench/inferd: $c: no measurement" >&2; exit 1; }
            PF[$c]="${PF[$c]:-} $rf"
            PC[$c]="${PC[$c]:-} $rc"
            printf 'bench/inferd: round %d %-14s next to bare: %6.3fx frames %6.3fx frames/cpu-s\n' \
                "$r" "$c" "$rf" "$rc" >&2
        done
    done
    echo
    echo "inferd cost, paired with a bare inferd running at the same time; backend $backend,"
    echo "2 streams, 2 workers each, ${seconds} s x $reps rounds (medians, min-max of frames/cpu-s)"
    printf '%-14s %16s %20s %15s\n' configuration "frames vs bare" "frames/cpu-s vs bare" "min-max"
    for c in "${configs[@]}"; do
        lo=$(echo "${PC[$c]}" | tr ' ' '\n' | grep . | sort -g | head -1)
        hi=$(echo "${PC[$c]}" | tr ' ' '\n' | grep . | sort -g | tail -1)
        printf '%-14s %15.3fx %19.3fx %7.3f-%.3f\n' "$c" "$(med "${PF[$c]}")" "$(med "${PC[$c]}")" "$lo" "$hi"
    done
    echo "(bare: two bare inferds side by side, the method's own spread)"
    exit 0
fi

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

echo
echo "inferd throughput, backend $backend, 2 streams, 2 workers, ${seconds} s x $reps rounds (medians;"
echo "ratios to bare taken within each round)"
printf '%-14s %10s %9s %14s %9s\n' configuration frames/s "vs bare" frames/cpu-s "vs bare"
for c in "${configs[@]}"; do
    printf '%-14s %10.1f %8.3fx %14.1f %8.3fx\n' "$c" "$(med "${FPS[$c]}")" "$(med "${RF[$c]}")" \
        "$(med "${CPS[$c]}")" "$(med "${RC[$c]}")"
done
