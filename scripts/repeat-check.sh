#!/usr/bin/env bash
# Issue 19's "make check passes N runs in a row": clones this repository's
# HEAD into a fresh directory and runs `make check` N times (default 10),
# one line per run, stopping at the first failure (its FAIL lines shown).
#
#   scripts/repeat-check.sh [N] [DIR]     (DIR default /tmp/leakaudit-repeat)
set -u
n=${1:-10}
dir=${2:-/tmp/leakaudit-repeat}
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir"
git clone -q "$src" "$dir" || exit 1
cd "$dir" || exit 1
export LEAKAUDIT_REQUIRE_ALL=1
echo "repeat-check: $(git log --oneline -1), $n runs of make check"
for i in $(seq 1 "$n"); do
    t=$(date +%s)
    make check >"$dir/check-$i.log" 2>&1
    rc=$?
    echo "make check #$i rc=$rc: $(tail -1 "$dir/check-$i.log") ($(($(date +%s) - t)) s)"
    if [ $rc != 0 ]; then
        grep -E '^FAIL' "$dir/check-$i.log"
        exit 1
    fi
done
echo "repeat-check: $n runs in a row passed"
