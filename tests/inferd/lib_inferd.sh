# Helpers for inferd's shell tests (sourced after tests/lib.sh).
#   inferd_clip FILE [make-clip options]  make a clip into $T
#   inferd_start CONFIG [inferd options]  start inferd in the background; sets
#                                         INFERD_PID and URL (http://127.0.0.1:port)
#   inferd_stop [SIGNAL]                  signal it (TERM) and wait; sets INFERD_RC
#   metric NAME [LABEL-REGEX]             a value from /metrics (first match)
#   http METHOD PATH [curl args]          prints the status code; body in $T/body
INFERD=$BUILD/bin/inferd
VENDORSIM=$BUILD/lib/libvendorsim.so
MAKE_CLIP=$ROOT/scripts/make-clip
need_file "$INFERD"
need_cmd curl
need_cmd ffmpeg

inferd_clip() {
    local out=$1
    shift
    "$MAKE_CLIP" "$@" "$out"
}

INFERD_PID=
INFERD_RC=
inferd_start() {
    local config=$1
    shift
    local pf=$T/port.$RANDOM
    "$INFERD" -c "$config" --port-file "$pf" "$@" >"$T/inferd.out" 2>"$T/inferd.err" &
    INFERD_PID=$!
    on_exit "kill -KILL $INFERD_PID 2>/dev/null"
    local i
    for i in $(seq 1 150); do
        [ -s "$pf" ] && break
        if ! kill -0 "$INFERD_PID" 2>/dev/null; then
            cat "$T/inferd.err" >&2
            fail "inferd exited during startup"
        fi
        sleep 0.1
    done
    [ -s "$pf" ] || { cat "$T/inferd.err" >&2; fail "inferd did not write its port file"; }
    URL=http://127.0.0.1:$(cat "$pf")
}

inferd_stop() {
    local sig=${1:-TERM}
    kill -"$sig" "$INFERD_PID"
    INFERD_RC=0
    wait "$INFERD_PID" || INFERD_RC=$?
}

metric() {
    curl -sf "$URL/metrics" | grep -E "^$1(\{[^}]*${2:-}[^}]*\})? " | awk 'NR == 1 {print $2}'
}

http() {
    local method=$1 path=$2
    shift 2
    curl -s -o "$T/body" -w '%{http_code}' -X "$method" "$@" "$URL$path"
}

# A config with one clip "counter" at $1 and the given extra top-level JSON
# members ($2, e.g. '"workers": 1,'), written to $3.
inferd_config() {
    local clip=$1 extra=$2 out=$3
    cat >"$out" <<JSON
{
  $extra
  "http": {"port": 0},
  "log_level": "warn",
  "clips": {"counter": "$clip"}
}
JSON
}
