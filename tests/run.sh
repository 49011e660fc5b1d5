#!/usr/bin/env bash
# The one test runner. Runs every C test binary under $BUILD/tests/ and every
# tests/**/test_*.sh script, one at a time, each with a time limit, and ends
# with the totals line "N passed, N failed, N skipped".
#
# A test exits 0 (pass), 77 after printing "SKIP: <reason>" (skip), or
# anything else (fail). With LEAKAUDIT_REQUIRE_ALL=1 (CI) a skip is a failure.
# TESTS=<regex> runs only the tests whose name matches.
# In `make check` (LEAKAUDIT_SANITIZED=1) scripts marked "# check: no" are left
# out of the selection (they only exercise code that is never sanitized).
# With LEAKAUDIT_ARCH=arm64 (make test-arm64) only the tests listed in
# tests/arm64/tests.txt run (LEAKAUDIT_ARCH_SET=ci: those marked ci), against
# an arm64 build that qemu-user runs (docs/architectures.md); the tests in
# tests/arm64/ run only then.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
LOGDIR=$BUILD/test-logs
# logs of earlier runs stay: another run may be reading them
mkdir -p "$LOGDIR"
filter=${TESTS:-.}
default_timeout=${LEAKAUDIT_TEST_TIMEOUT:-300}

tests=()
if [ -d "$BUILD/tests" ]; then
    while IFS= read -r t; do tests+=("$t"); done < <(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort)
fi
while IFS= read -r t; do tests+=("$t"); done < <(find tests -type f -name 'test_*.sh' | sort)

arch=${LEAKAUDIT_ARCH:-}
listed=" "
if [ -n "$arch" ]; then
    # "name [ci]" lines; # starts a comment
    listed=" $(sed 's/#.*//' "tests/$arch/tests.txt" |
        awk -v set="${LEAKAUDIT_ARCH_SET:-}" 'NF && (set == "" || $2 == set) {print $1}' | tr '\n' ' ')"
fi

pass=0 fail=0 skip=0
failed=()
start_all=$(date +%s)
for t in "${tests[@]}"; do
    name=${t#"$BUILD"/tests/}
    name=${name#tests/}
    [[ "$name" =~ $filter ]] || continue
    if [ -n "$arch" ]; then
        [[ "$listed" == *" $name "* ]] || continue
    elif [[ "$name" == arm64/* ]]; then
        continue
    fi
    if [ "${LEAKAUDIT_SANITIZED:-0}" = 1 ] && [[ "$t" == *.sh ]] && grep -q '^# check: no' "$t"; then
        continue
    fi
    limit=$default_timeout
    if [[ "$t" == *.sh ]]; then
        l=$(sed -n 's/^# timeout: \([0-9]*\).*/\1/p' "$t" | head -1)
        [ -n "$l" ] && limit=$l
    fi
    log=$LOGDIR/${name//\//_}.log
    t0=$(date +%s)
    # Each test runs in its own process group: at the limit the whole group
    # is stopped, and whatever a test leaves behind is killed afterwards.
    if [[ "$t" == *.sh ]]; then
        setsid bash "$t" >"$log" 2>&1 </dev/null &
    else
        setsid "$t" >"$log" 2>&1 </dev/null &
    fi
    tpid=$!
    rm -f "$LOGDIR/.timed-out"
    # The watchdog's sleep is killed with it and holds no pipe of ours: a
    # sleep left behind kept `run.sh | tee` open until its limit ran out.
    (
        sleep "$limit" &
        spid=$!
        trap 'kill $spid 2>/dev/null; exit 0' TERM
        wait $spid
        touch "$LOGDIR/.timed-out"
        kill -TERM -- -"$tpid" 2>/dev/null
        sleep 10 &
        spid=$!
        wait $spid
        kill -KILL -- -"$tpid" 2>/dev/null
    ) >/dev/null 2>&1 </dev/null &
    wpid=$!
    wait "$tpid"
    rc=$?
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    kill -KILL -- -"$tpid" 2>/dev/null
    [ -e "$LOGDIR/.timed-out" ] && rc=124
    dt=$(($(date +%s) - t0))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        printf 'PASS  %-50s %4ss\n' "$name" "$dt"
    elif [ $rc -eq 77 ]; then
        reason=$(grep -m1 '^SKIP:' "$log" || echo "SKIP: (no reason given)")
        if [ "${LEAKAUDIT_REQUIRE_ALL:-0}" = 1 ]; then
            fail=$((fail + 1))
            failed+=("$name")
            printf 'FAIL  %-50s %4ss  (skipped, but LEAKAUDIT_REQUIRE_ALL=1) %s\n' "$name" "$dt" "$reason"
        else
            skip=$((skip + 1))
            printf 'SKIP  %-50s %4ss  %s\n' "$name" "$dt" "$reason"
        fi
    else
        fail=$((fail + 1))
        failed+=("$name")
        [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$log"
        printf 'FAIL  %-50s %4ss  (exit %d, log %s)\n' "$name" "$dt" "$rc" "$log"
        tail -n 40 "$log" | sed 's/^/      | /'
    fi
done
echo
echo "test time: $(($(date +%s) - start_all))s; logs in $LOGDIR"
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
