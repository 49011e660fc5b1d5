#!/usr/bin/env bash
# Per-call cost of `leakaudit attach` on a malloc-heavy target, next to the
# peers, all in the same run: bare, an empty uprobe on malloc (bpftrace), an
# empty probe set on the same functions at their entries (bpftrace: malloc,
# calloc, realloc entry+return, free entry), the same traps at *our* probe
# placement with empty programs (leakaudit with LEAKAUDIT_TRACER_BENCH_EMPTY,
# the floor of our design), our tracer in full mode (unwind tables, the
# default, and -u fp, the frame-pointer walk) and sampled mode, a bpftrace
# memleak-style script, bcc's memleak-bpfcc when it runs, and attach
# --inject (the shim loaded into the target) in full and sampled mode. Prints ns per allocator call and the
# ratios against bare and against the empty uprobe, plus our drop counters.
#
#   bench/tracer.sh [SECONDS]   (per config, default 20: sampled mode needs
#                               a few of its 10 s periods; root, after
#                               `make all tests`; ONLY=REGEX picks configs;
#                               ROUNDS=N runs the configs N times in turn
#                               and prints medians: ns/call, and ratios
#                               taken within each round)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LEAKAUDIT=$BUILD/bin/leakaudit
DUMP=$BUILD/tests/common/snapdump
SECS=${1:-20}
LIBC=$(ldd /bin/true | awk '/libc.so/ {print $3}')
[ "$(id -u)" = 0 ] || { echo "bench/tracer.sh: needs root" >&2; exit 1; }
[ -x "$LEAKAUDIT" ] && [ -x "$DUMP" ] || { echo "bench/tracer.sh: run make first" >&2; exit 1; }
W=$(mktemp -d /tmp/leakaudit-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

# The target: waits for GO, then runs the peers' mix (85% malloc, 10%
# calloc, 5% realloc, 16 B-4 KiB, a ring keeps ~30% live) for SECS seconds
# and prints ns per allocator call.
cat >"$W/target.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#define RING 1024
static void *ring[RING];
int main(int argc, char **argv)
{
    double secs = atof(argv[2]);
    long calls = 0;
    unsigned x = 12345;
    while (access(argv[1], F_OK) != 0)
        usleep(1000);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0;; i++) {
        if ((i & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &b);
            if ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 >= secs)
                break;
        }
        x = x * 1103515245u + 12345u;
        unsigned slot = (x >> 8) % RING, r = (x >> 4) % 100;
        size_t sz = 16 + (x >> 12) % 4080;
        if (ring[slot] && r < 5) {
            ring[slot] = realloc(ring[slot], sz);
            calls++;
            continue;
        }
        if (ring[slot]) {
            free(ring[slot]);
            calls++;
        }
        ring[slot] = r < 15 ? calloc(1, sz) : malloc(sz);
        calls++;
        if ((x >> 20) % 10 >= 3) { /* ~70% freed right away */
            free(ring[slot]);
            ring[slot] = NULL;
            calls++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.1f\n", ns / calls);
    fflush(stdout);
    pause();
    return 0;
}
C
cc -O2 -g -fno-omit-frame-pointer -o "$W/target" "$W/target.c"

# run_config NAME START-COMMAND-FUNCTION: starts the target, the tool, waits
# until the tool is attached, lets the target run, prints ns/call.
TPID=0
start_target() {
    rm -f "$W/go" "$W/ns"
    "$W/target" "$W/go" "$SECS" >"$W/ns" &
    TPID=$!
    sleep 0.2
}
wait_result() {
    touch "$W/go"
    while [ ! -s "$W/ns" ]; do
        kill -0 $TPID 2>/dev/null || { echo "target died" >&2; return 1; }
        sleep 0.2
    done
    cat "$W/ns"
}
wait_for() { # FILE REGEX
    local i
    for i in $(seq 300); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for /$2/ in $1" >&2
    return 1
}
# stop [-SIG] PID...: signals, then waits for the PIDs (a tool writes its
# snapshot while it detaches).
stop() {
    local sig=-TERM
    case $1 in -*) sig=$1; shift ;; esac
    kill "$sig" "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}

declare -A NS NOTE
bare() {
    start_target
    NS[bare]=$(wait_result)
    stop $TPID
}
with_bpftrace() { # NAME SCRIPT
    start_target
    bpftrace -p $TPID -e "$2" >"$W/bt.log" 2>&1 &
    local bt=$!
    if wait_for "$W/bt.log" 'Attaching'; then
        sleep 1
        NS[$1]=$(wait_result)
    else
        NS[$1]=n/a
        NOTE[$1]=$(head -c 200 "$W/bt.log" | tr '\n' ' ')
    fi
    stop -INT $bt
    stop $TPID
}
with_leakaudit() { # NAME MODE [ENV=VALUE] [attach options...]
    local name=$1 mode=$2 envs=${3:-}
    shift 3 || shift $#
    start_target
    env $envs "$LEAKAUDIT" attach -p $TPID -m "$mode" --no-fds -v -o "$W/$name" "$@" 2>"$W/la.log" &
    local la=$!
    wait_for "$W/la.log" 'attached to pid'
    NS[$name]=$(wait_result)
    stop -INT $la
    stop $TPID
    if [ ! -d "$W/$name" ]; then
        NOTE[$name]="no snapshot written: $(tail -n 3 "$W/la.log" | tr '\n' ' ')"
        return
    fi
    local drops
    drops=$("$DUMP" "$W/$name" | grep '^loss ' |
        grep -v -E 'free_unknown|pending_stale|caller_unknown|recvmmsg|mmap_by|unwind_|=0$' || true)
    NOTE[$name]="drops: ${drops:-none}"
}
with_inject() { # NAME MODE: attach --inject (the shim loaded into the target)
    local name=$1 mode=$2
    start_target
    "$LEAKAUDIT" attach --inject -p $TPID -m "$mode" --no-fds -o "$W/$name" 2>"$W/la.log" &
    local la=$!
    if wait_for "$W/la.log" 'injected into pid'; then
        NS[$name]=$(wait_result)
        NOTE[$name]="the shim in the target: GOT-patched imports, no trap per call"
    else
        NS[$name]=n/a
        NOTE[$name]=$(head -c 200 "$W/la.log" | tr '\n' ' ')
    fi
    stop -INT $la
    stop $TPID
}
with_preload() { # NAME MODE: the same target started under `leakaudit run` (the reference)
    local name=$1 mode=$2
    rm -f "$W/go" "$W/ns"
    "$LEAKAUDIT" run -q -m "$mode" --track heap -o "$W/$name" -- "$W/target" "$W/go" "$SECS" >"$W/ns" &
    TPID=$!
    sleep 0.5
    NS[$name]=$(wait_result)
    NOTE[$name]="leakaudit run (LD_PRELOAD from the start), same mix"
    stop $TPID
}
with_memleak_bcc() {
    local tool
    tool=$(command -v memleak-bpfcc || true)
    if [ -z "$tool" ]; then
        NS[bcc_memleak]=n/a
        NOTE[bcc_memleak]="memleak-bpfcc not installed (bpfcc-tools)"
        return
    fi
    start_target
    "$tool" -p $TPID 5 >"$W/bcc.log" 2>&1 &
    local b=$!
    if wait_for "$W/bcc.log" 'Attaching|Tracing'; then
        sleep 1
        NS[bcc_memleak]=$(wait_result)
    else
        NS[bcc_memleak]=n/a
        NOTE[bcc_memleak]="did not start: $(grep -m1 -i -E 'error|fail|no such' "$W/bcc.log" || head -c 120 "$W/bcc.log")"
    fi
    stop -INT $b
    stop $TPID
}

# bpftrace drops probes whose action is empty: count, the cheapest action.
EMPTY_UPROBE="uprobe:$LIBC:malloc { @n = count(); }"
EMPTY_SAME_TRAPS="uprobe:$LIBC:malloc,uprobe:$LIBC:calloc,uprobe:$LIBC:realloc { @n = count(); } uretprobe:$LIBC:malloc,uretprobe:$LIBC:calloc,uretprobe:$LIBC:realloc { @r = count(); } uprobe:$LIBC:free { @f = count(); }"
MEMLEAK_BT="uprobe:$LIBC:malloc { @size[tid] = arg0; @stk[tid] = ustack(8); }
uretprobe:$LIBC:malloc /@size[tid]/ { @live[retval] = @size[tid]; @bystack[@stk[tid]] = sum(@size[tid]); delete(@size[tid]); delete(@stk[tid]); }
uprobe:$LIBC:free { delete(@live[arg0]); }"

echo "bench/tracer.sh: ${SECS}s per config of the malloc/calloc/realloc/free mix, $(nproc) CPUs, $(uname -r)"
# ONLY=REGEX runs the configs whose names match (bare and empty_uprobe,
# the references, always run).
want() { [ -z "${ONLY:-}" ] || [[ $1 =~ $ONLY ]]; }
CONFIGS="bare empty_uprobe empty_same_traps leakaudit_traps_only leakaudit_full leakaudit_full_fp leakaudit_sampled preload_full inject_full preload_sampled inject_sampled bpftrace_memleak bcc_memleak"
run_round() {
    bare
    with_bpftrace empty_uprobe "$EMPTY_UPROBE"
    want empty_same_traps && with_bpftrace empty_same_traps "$EMPTY_SAME_TRAPS"
    want leakaudit_traps_only && with_leakaudit leakaudit_traps_only full LEAKAUDIT_TRACER_BENCH_EMPTY=1
    want leakaudit_full && with_leakaudit leakaudit_full full
    want leakaudit_full_fp && with_leakaudit leakaudit_full_fp full "" -u fp
    want leakaudit_sampled && with_leakaudit leakaudit_sampled sampled
    want preload_full && with_preload preload_full full
    want inject_full && with_inject inject_full full
    want preload_sampled && with_preload preload_sampled sampled
    want inject_sampled && with_inject inject_sampled sampled
    want bpftrace_memleak && with_bpftrace bpftrace_memleak "$MEMLEAK_BT"
    want bcc_memleak && with_memleak_bcc
    return 0
}
# Rounds: each config's ns/call, and its ratios to bare and to the empty
# uprobe of the same round (this machine has slow phases lasting seconds).
declare -A ALL_NS ALL_RB ALL_RU
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for round in $(seq "${ROUNDS:-1}"); do
    NS=()
    run_round
    for c in $CONFIGS; do
        v=${NS[$c]:-n/a}
        [ "$v" = n/a ] && continue
        ALL_NS[$c]="${ALL_NS[$c]:-} $v"
        ALL_RB[$c]="${ALL_RB[$c]:-} $(echo "$v / ${NS[bare]}" | bc -l)"
        [ "${NS[empty_uprobe]:-n/a}" != n/a ] &&
            ALL_RU[$c]="${ALL_RU[$c]:-} $(echo "$v / ${NS[empty_uprobe]}" | bc -l)"
    done
done
declare -A RB RU
for c in $CONFIGS; do
    [ -n "${ALL_NS[$c]:-}" ] || continue
    NS[$c]=$(echo "${ALL_NS[$c]}" | median)
    RB[$c]=$(echo "${ALL_RB[$c]}" | median)
    RU[$c]=$(echo "${ALL_RU[$c]:-}" | median)
done

[ "${ROUNDS:-1}" -gt 1 ] && echo "medians of ${ROUNDS} rounds (ratios: within each round)"
printf '\n%-22s %12s %10s %14s  %s\n' config ns/call "vs bare" "vs empty uprobe" notes
for c in $CONFIGS; do
    v=${NS[$c]:-n/a}
    if [ "$v" = n/a ]; then
        printf '%-22s %12s %10s %14s  %s\n' "$c" n/a - - "${NOTE[$c]:-}"
    else
        printf '%-22s %12s %9.2fx %13.2fx  %s\n' "$c" "$v" "${RB[$c]}" "${RU[$c]:-0}" "${NOTE[$c]:-}"
    fi
done
echo
echo "empty_same_traps: empty programs at the functions' entries (entry+return on the allocating"
echo "calls, entry on free); glibc's free starts with an instruction the kernel single-steps."
echo "leakaudit_traps_only: the traps leakaudit full takes, at its placement, programs empty:"
echo "the floor of a uprobe-based full tracker (leakaudit_full minus this = the BPF work)."
echo "leakaudit_full: stacks unwound with the modules' unwind tables in the kernel (the default);"
echo "leakaudit_full_fp: the same with -u fp, the frame-pointer walk (the default before)."
[ -n "${NS[leakaudit_full]:-}" ] && [ -n "${NS[leakaudit_full_fp]:-}" ] &&
    [ "${NS[leakaudit_full]}" != n/a ] && [ "${NS[leakaudit_full_fp]}" != n/a ] &&
    printf 'leakaudit_full / leakaudit_full_fp: %.2fx (target <= 1.30x)\n' \
        "$(echo "${NS[leakaudit_full]} / ${NS[leakaudit_full_fp]}" | bc -l)"
echo "leakaudit_sampled: allocation probes attached 1 s of every 10 s (only free stays probed)."
echo "inject_full / inject_sampled: attach --inject, the shim loaded into the running target"
echo "(targets: full <= 2.0x bare, sampled <= 1.05x bare; issue 21)."
