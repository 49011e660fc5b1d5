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
    rm -rf "$T"
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
