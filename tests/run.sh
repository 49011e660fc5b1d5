#!/usr/bin/env bash
# The one test runner. Runs every C test binary under $BUILD/tests/ and every
# tests/**/test_*.sh script, each with a time limit, and ends with the totals
# line "N passed, N failed, N skipped".
#
# Two lanes run at once, each one test at a time: the BPF lane (every script
# with a "# lane: bpf" line: it loads BPF programs, e.g. runs `leakaudit
# attach`; these check machine-wide that no la_ programs are left, so they
# never overlap) and the other lane (C unit tests and every other script).
# A script that runs `attach` (or sources tests/tracer/lib_tracer.sh or
# lib_kmem.sh) without the marker fails without running. Each BPF test holds
# /tmp/leakaudit-bpf.lock (LEAKAUDIT_BPF_LOCK; empty: no lock) while it runs,
# so manual BPF experiments under `flock /tmp/leakaudit-bpf.lock CMD` wait for
# it and it waits for them; when the runner itself runs under that lock (an
# ancestor process holds it) it does not take it again.
# LEAKAUDIT_TEST_JOBS=1 runs everything in one lane, one test at a time, in
# the order of old (C tests, then scripts, sorted).
#
# A test exits 0 (pass), 77 after printing "SKIP: <reason>" (skip), or
# anything else (fail). With LEAKAUDIT_REQUIRE_ALL=1 (CI) a skip is a failure.
# TESTS=<regex> runs only the tests whose name matches.
# In `make check` (LEAKAUDIT_SANITIZED=1) scripts marked "# check: no" are left
# out of the selection (they only exercise code that is never sanitized).
# With LEAKAUDIT_ARCH=arm64 (make test-arm64) only the tests listed in
# tests/arm64/tests.txt run (LEAKAUDIT_ARCH_SET=ci: those marked ci), against
# an arm64 build that qemu-user runs (docs/architectures.md); the tests in
# tests/arm64/ run only then. That mode runs one lane.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
LOGDIR=$BUILD/test-logs
# logs of earlier runs stay: another run may be reading them
mkdir -p "$LOGDIR"
filter=${TESTS:-.}
default_timeout=${LEAKAUDIT_TEST_TIMEOUT:-300}
jobs=${LEAKAUDIT_TEST_JOBS:-2}
BPF_LOCK=${LEAKAUDIT_BPF_LOCK-/tmp/leakaudit-bpf.lock}
# this run's private files: results of each lane, watchdog markers
RUNDIR=$(mktemp -d "$LOGDIR/.run.XXXXXX")
trap 'rm -rf "$RUNDIR"' EXIT
PRINT_LOCK=$RUNDIR/print.lock

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
    jobs=1
fi

# say LINE...: prints whole lines, never interleaved with the other lane's.
say() {
    (
        flock 9
        printf '%s\n' "$@"
    ) 9>>"$PRINT_LOCK"
}

# runs_bpf SCRIPT: the script runs `leakaudit attach` (or the tracer helpers).
runs_bpf() {
    grep -v '^[[:space:]]*#' "$1" |
        grep -Eq '(LEAKAUDIT"?|leakaudit)[[:space:]]+attach([[:space:]]|$)|attach_and_plant|lib_tracer\.sh|lib_kmem\.sh'
}

# bpf_lock_is_ours: an ancestor of this runner holds $BPF_LOCK (the runner was
# started under `flock $BPF_LOCK ...`): taking it again would never succeed.
bpf_lock_is_ours() {
    local ino holders p
    ino=$(stat -c %i "$BPF_LOCK" 2>/dev/null) || return 1
    holders=" $(awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) print $5 }' /proc/locks | tr '\n' ' ')"
    p=$$
    while [ -n "$p" ] && [ "$p" -gt 1 ]; do
        [[ "$holders" == *" $p "* ]] && return 0
        p=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
    done
    return 1
}

# lock_holder: the command line of the process holding $BPF_LOCK.
lock_holder() {
    local ino pid args
    ino=$(stat -c %i "$BPF_LOCK" 2>/dev/null) || return 0
    pid=$(awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) print $5 }' /proc/locks | head -1)
    [ -n "$pid" ] || return 0
    # a lane's lock was taken by a short-lived `flock FD` (gone by now)
    args=$(ps -o args= -p "$pid" 2>/dev/null) && echo "${args:0:100}" ||
        echo "pid $pid (exited; another tests/run.sh?)"
}

# result KIND NAME: one line in this lane's results file.
result() { echo "$1 $2" >>"$RUNDIR/results.$lane"; }

# run_one TEST BPF(0|1): runs one test with its time limit, prints its line.
run_one() {
    local t=$1 bpf=$2 name limit l log t0 tpid wpid rc dt reason marker locked=0
    name=${t#"$BUILD"/tests/}
    name=${name#tests/}
    limit=$default_timeout
    if [[ "$t" == *.sh ]]; then
        l=$(sed -n 's/^# timeout: \([0-9]*\).*/\1/p' "$t" | head -1)
        [ -n "$l" ] && limit=$l
    fi
    log=$LOGDIR/${name//\//_}.log
    marker=$RUNDIR/${name//\//_}.timed-out
    if [ "$bpf" = 1 ] && [ -n "$BPF_LOCK" ] && [ "$bpf_lock_ours" = 0 ]; then
        exec 8>>"$BPF_LOCK"
        if ! flock -n 8; then
            say "      (waiting for $BPF_LOCK, held by: $(lock_holder))"
            flock 8
        fi
        locked=1
    fi
    t0=$(date +%s)
    # Each test runs in its own process group: at the limit the whole group
    # is stopped, and whatever a test leaves behind is killed afterwards.
    # The test does not inherit the lock's descriptor (fd 8).
    if [[ "$t" == *.sh ]]; then
        setsid bash "$t" >"$log" 2>&1 </dev/null 8>&- &
    else
        setsid "$t" >"$log" 2>&1 </dev/null 8>&- &
    fi
    tpid=$!
    # The watchdog's sleep is killed with it and holds no pipe of ours: a
    # sleep left behind kept `run.sh | tee` open until its limit ran out.
    (
        sleep "$limit" &
        spid=$!
        trap 'kill $spid 2>/dev/null; exit 0' TERM
        wait $spid
        touch "$marker"
        kill -TERM -- -"$tpid" 2>/dev/null
        sleep 10 &
        spid=$!
        wait $spid
        kill -KILL -- -"$tpid" 2>/dev/null
    ) >/dev/null 2>&1 </dev/null 8>&- &
    wpid=$!
    wait "$tpid"
    rc=$?
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    kill -KILL -- -"$tpid" 2>/dev/null
    if [ $locked = 1 ]; then
        flock -u 8
        exec 8>&-
    fi
    [ -e "$marker" ] && rc=124
    rm -f "$marker"
    dt=$(($(date +%s) - t0))
    if [ $rc -eq 0 ]; then
        result pass "$name"
        say "$(printf 'PASS  %-50s %4ss' "$name" "$dt")"
    elif [ $rc -eq 77 ]; then
        reason=$(grep -m1 '^SKIP:' "$log" || echo "SKIP: (no reason given)")
        if [ "${LEAKAUDIT_REQUIRE_ALL:-0}" = 1 ]; then
            result fail "$name"
            say "$(printf 'FAIL  %-50s %4ss  (skipped, but LEAKAUDIT_REQUIRE_ALL=1) %s' "$name" "$dt" "$reason")"
        else
            result skip "$name"
            say "$(printf 'SKIP  %-50s %4ss  %s' "$name" "$dt" "$reason")"
        fi
    else
        result fail "$name"
        [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$log"
        say "$(printf 'FAIL  %-50s %4ss  (exit %d, log %s)' "$name" "$dt" "$rc" "$log")" \
            "$(tail -n 40 "$log" | sed 's/^/      | /')"
    fi
}

# run_lane N TEST...: "bpf:" or "any:" prefixed tests, one at a time.
run_lane() {
    lane=$1
    shift
    : >"$RUNDIR/results.$lane"
    local e
    for e in "$@"; do
        run_one "${e#*:}" "$([ "${e%%:*}" = bpf ] && echo 1 || echo 0)"
    done
}

bpf_lock_ours=0
if [ -n "$BPF_LOCK" ] && bpf_lock_is_ours; then
    bpf_lock_ours=1
fi

lane_bpf=() lane_any=() unmarked=()
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
    kind=any
    if [[ "$t" == *.sh ]]; then
        if grep -q '^# lane: bpf' "$t"; then
            kind=bpf
        elif runs_bpf "$t"; then
            unmarked+=("$name")
            continue
        fi
    fi
    if [ "$jobs" -gt 1 ] && [ $kind = bpf ]; then
        lane_bpf+=("$kind:$t")
    else
        lane_any+=("$kind:$t")
    fi
done

start_all=$(date +%s)
for name in "${unmarked[@]+"${unmarked[@]}"}"; do
    echo "fail $name" >>"$RUNDIR/results.unmarked"
    say "$(printf 'FAIL  %-50s %4ss  (runs attach but has no "# lane: bpf" line: not run)' "$name" 0)"
done
pids=()
if [ ${#lane_bpf[@]} -gt 0 ]; then
    run_lane bpf "${lane_bpf[@]}" &
    pids+=($!)
fi
if [ ${#lane_any[@]} -gt 0 ]; then
    run_lane any "${lane_any[@]}" &
    pids+=($!)
fi
for p in "${pids[@]+"${pids[@]}"}"; do wait "$p"; done

pass=0 fail=0 skip=0
failed=()
while read -r kind name; do
    case $kind in
    pass) pass=$((pass + 1)) ;;
    skip) skip=$((skip + 1)) ;;
    fail) fail=$((fail + 1)); failed+=("$name") ;;
    esac
done < <(cat "$RUNDIR"/results.* 2>/dev/null)
echo
echo "test time: $(($(date +%s) - start_all))s; logs in $LOGDIR"
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
