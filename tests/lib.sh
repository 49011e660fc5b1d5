# Helpers sourced by the shell tests (tests/**/test_*.sh).
# Every test gets: $ROOT, $BUILD, $LEAKAUDIT, $SHIM, $TESTBIN, and $T, a
# private temporary directory removed on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LEAKAUDIT=$BUILD/bin/leakaudit
SHIM=$BUILD/lib/libleakaudit.so
TESTBIN=$BUILD/tests
T=$(mktemp -d /tmp/leakaudit-test.XXXXXX)
_cleanup_fns=()
on_exit() { _cleanup_fns+=("$1"); }
_run_cleanup() {
    local f
    for f in "${_cleanup_fns[@]+"${_cleanup_fns[@]}"}"; do eval "$f" || true; done
    # A straggler of the program under test (python's regrtest leaves some)
    # may still be writing its last snapshot here: try again, never fail.
    local i
    for i in 1 2 3 4 5; do
        rm -rf "$T" 2>/dev/null && return 0
        sleep 0.5
    done
    rm -rf "$T" || true
}
trap _run_cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (make deps)"; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
need_file() { [ -e "$1" ] || skip "$1 is missing (make deps / make)"; }

# assert_contains FILE REGEX [MESSAGE]
assert_contains() {
    grep -Eq -- "$2" "$1" || { echo "--- $1:"; head -c 4000 "$1"; fail "${3:-$1 does not match /$2/}"; }
}
assert_not_contains() {
    if grep -Eq -- "$2" "$1"; then echo "--- $1:"; head -c 4000 "$1"; fail "${3:-$1 matches /$2/}"; fi
}
assert_eq() { [ "$1" = "$2" ] || fail "${3:-expected '$2', got '$1'}"; }
ok() { echo "ok - $*"; }

# Reading tests/common/snapdump output (frames are module-path:0xoffset).
SNAPDUMP=$TESTBIN/common/snapdump

# func_of "path:0xoff": the function a frame is in (the outermost one when
# the address is inside inlined code), demangled.
func_of() {
    local mod=${1%:*} off=${1##*:}
    addr2line -f -C -i -e "$mod" "$off" 2>/dev/null | sed -n 'p;n' | tail -1
}

# site DUMPFILE KIND FUNC: sums over records of KIND (heap|fd|mmap) whose
# first frame is in FUNC; prints "bytes count" for heap, "count" otherwise.
site() {
    local dump=$1 kind=$2 func=$3 line frame b c bytes=0 count=0
    while IFS= read -r line; do
        frame=${line##*frames=}
        frame=${frame%%,*}
        [ -n "$frame" ] || continue
        [ "$(func_of "$frame")" = "$func" ] || continue
        if [ "$kind" = heap ]; then
            b=${line#*live_bytes=}; b=${b%% *}
            c=${line#*live_count=}; c=${c%% *}
            bytes=$((bytes + b)); count=$((count + c))
        else
            count=$((count + 1))
        fi
    done < <(grep "^$kind " "$dump")
    if [ "$kind" = heap ]; then echo "$bytes $count"; else echo "$count"; fi
}

# wait_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds (0) or
# SECONDS have passed (1). Tests wait for what they check with this, with a
# generous bound, instead of sleeping a fixed time and hoping it happened.
wait_until() {
    local limit=$1
    shift
    local end=$((SECONDS + limit))
    while ! "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}

# snapshots_at_least DIR N: DIR holds N or more snapshot files (for
# wait_until: a run or an attach has got that far).
snapshots_at_least() { [ "$(find "$1" -name '*.snap' 2>/dev/null | wc -l)" -ge "$2" ]; }

# wait_mapped PID REGEX...: waits up to 30 s until /proc/PID/maps shows every
# REGEX (a started program's libraries: then `attach` finds its allocator and
# its functions); fails if PID exits first. Instead of a fixed sleep after
# starting a program, which a slow machine (an ASan build) loses.
wait_mapped() {
    local pid=$1 re i ok
    shift
    for i in $(seq 600); do
        ok=1
        for re in "$@"; do
            grep -Eq "$re" "/proc/$pid/maps" 2>/dev/null || { ok=0; break; }
        done
        [ $ok = 1 ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "pid $pid exited before mapping $*"
        sleep 0.05
    done
    fail "pid $pid did not map $* in 30 s"
}

# wait_attached LOG PID: waits up to 60 s for `leakaudit attach -v` (PID,
# logging to LOG) to say it attached; fails if it exits first.
wait_attached() {
    local log=$1 apid=$2 i
    for i in $(seq 600); do
        grep -q "attached to pid" "$log" && return 0
        kill -0 "$apid" 2>/dev/null || { cat "$log"; fail "attach exited early"; }
        sleep 0.1
    done
    cat "$log"
    fail "attach did not attach in 60 s"
}
