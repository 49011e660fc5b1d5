#!/usr/bin/env bash
# A real soak of inferd under glibc, jemalloc, tcmalloc and mimalloc: once
# with every defect off and once with the decode-error leak on, N minutes per
# run, scraping inferd's /metrics for throughput, p99 latency and drops.
#
# usage: scripts/soak-inferd.sh [-m MINUTES] [-c CONFIG.json] [-s] [-a LIST] OUTDIR
#        scripts/soak-inferd.sh [-m MINUTES] [-u METRICS_URL] OUTDIR -- CMD ARGS...
#
#   -m MINUTES   per run (default 10; fractions such as 0.5 work)
#   -c CONFIG    inferd configuration to start from (default inferd/inferd.example.json);
#                its defects are switched off, then decode_error_leak on
#   -a LIST      allocators (default glibc,jemalloc,tcmalloc,mimalloc)
#   -s           also run each allocator under the shim (soak --both)
#   -u URL       with an explicit workload (after --): its metrics URL, if any
#   -P           run the two sets side by side (half the wall time; each
#                inferd needs ~7 % of a core, so they do not disturb each other)
#
# Writes OUTDIR/defects-off/ and OUTDIR/leak-defect/ (each a `leakaudit soak`
# result: summary.md, summary.tsv, report.html, a CSV per run) and
# OUTDIR/soak-inferd.md, both tables with links to the charts.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LEAKAUDIT=$BUILD/bin/leakaudit
INFERD=$BUILD/bin/inferd

minutes=10 config=$ROOT/inferd/inferd.example.json allocators=glibc,jemalloc,tcmalloc,mimalloc
shim=--without-shim url= parallel=0
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while getopts "m:c:a:su:Ph" opt; do
    case $opt in
    m) minutes=$OPTARG ;;
    c) config=$OPTARG ;;
    a) allocators=$OPTARG ;;
    s) shim=--both ;;
    u) url=$OPTARG ;;
    P) parallel=1 ;;
    h) usage 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
out=$1
shift
[ "${1:-}" != -- ] || shift
[ -x "$LEAKAUDIT" ] || { echo "soak-inferd: $LEAKAUDIT missing (make)" >&2; exit 1; }
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); if (s < 1) exit 1; print s }') ||
    { echo "soak-inferd: -m $minutes: not a number of minutes" >&2; exit 2; }
mkdir -p -m 0700 "$out"
out=$(cd "$out" && pwd)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# soak_one NAME METRICS_URL CMD...: one leakaudit soak into $out/NAME.
soak_one() {
    local name=$1 murl=$2
    shift 2
    local args=(-a "$allocators" "$shim" -d "${seconds}s" --grace 20s -o "$out/$name" --progress)
    [ -z "$murl" ] || args+=(--metrics-url "$murl" --drops-metric inferd_frames_dropped_total)
    echo "soak-inferd: $name: $(tr ',' ' ' <<<"$allocators" | wc -w) allocators x ${minutes} min" >&2
    "$LEAKAUDIT" soak "${args[@]}" -- "$@" | tee "$out/$name.table"
}

if [ $# -gt 0 ]; then
    # An explicit workload: the same soak twice is pointless; run it once.
    soak_one workload "$url" "$@"
    sets=(workload)
else
    [ -x "$INFERD" ] || { echo "soak-inferd: $INFERD missing (make build/bin/inferd)" >&2; exit 1; }
    [ -r "$config" ] || { echo "soak-inferd: $config: no such config (use -c)" >&2; exit 1; }
    command -v python3 >/dev/null || { echo "soak-inferd: needs python3" >&2; exit 1; }
    # The example config's clip (its path is ../build/clips/counter.mp4 from
    # inferd/, whatever BUILD is): made locally when missing, as `make demo` does.
    if [ "$config" = "$ROOT/inferd/inferd.example.json" ] && [ ! -f "$ROOT/build/clips/counter.mp4" ]; then
        mkdir -p "$ROOT/build/clips"
        "$ROOT/scripts/make-clip" --seconds 10 "$ROOT/build/clips/counter.mp4" >/dev/null
    fi
    # Configs derived from the given one: every defect off, then only the
    # decode-error leak on; inferd runs until soak stops it. They live in
    # OUTDIR, so relative clip paths (relative to the given config's
    # directory) are made absolute, and every clip must exist: a soak of a
    # daemon that only retries its streams measures nothing.
    for set in defects-off leak-defect; do
        python3 - "$config" "$out/$set.json" "$set" <<'PY'
import json, os, sys
src, dst, which = sys.argv[1:4]
with open(src) as f:
    cfg = json.load(f)
base = os.path.dirname(os.path.abspath(src))
for name, path in cfg.get("clips", {}).items():
    if "://" in path:
        continue
    path = os.path.normpath(os.path.join(base, path))
    if not os.path.isfile(path):
        sys.exit("soak-inferd: clip %r: %s: no such file" % (name, path))
    cfg["clips"][name] = path
defects = {k: False for k in ("heap_overflow", "dup_input_fd", "decode_error_leak",
                              "reconnect_ref_leak", "use_after_destroy")}
if which == "leak-defect":
    defects["decode_error_leak"] = True
cfg["defects"] = defects
cfg.pop("duration_s", None)
cfg.setdefault("http", {})["bind"] = "127.0.0.1"
with open(dst, "w") as f:
    json.dump(cfg, f, indent=2)
PY
        chmod 600 "$out/$set.json"
    done
    pids=()
    for set in defects-off leak-defect; do
        port=$(free_port)
        if [ "$parallel" = 1 ]; then
            soak_one "$set" "http://127.0.0.1:$port/metrics" \
                "$INFERD" -c "$out/$set.json" -p "$port" -d $((seconds + 600)) \
                >"$out/$set.log" 2>&1 &
            pids+=($!)
            sleep 2 # distinct ports: the first inferd has bound its port
        else
            soak_one "$set" "http://127.0.0.1:$port/metrics" \
                "$INFERD" -c "$out/$set.json" -p "$port" -d $((seconds + 600))
        fi
    done
    for pid in "${pids[@]+"${pids[@]}"}"; do
        wait "$pid" || { echo "soak-inferd: a soak failed (see $out/*.log)" >&2; exit 1; }
    done
    [ "$parallel" = 0 ] || cat "$out/defects-off.table" "$out/leak-defect.table"
    sets=(defects-off leak-defect)
fi

{
    echo "# inferd soak: ${minutes} minutes per allocator"
    echo
    for set in "${sets[@]}"; do
        echo "## $set"
        echo
        sed -n '/^| Run /,/^$/p' "$out/$set/summary.md"
        echo "Chart: [$set/report.html]($set/report.html)"
        echo
    done
} >"$out/soak-inferd.md"
chmod 600 "$out/soak-inferd.md"
echo "soak-inferd: tables in $out/soak-inferd.md" >&2
