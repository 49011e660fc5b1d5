# Helpers for the tracer tests (sourced after tests/lib.sh): start a target,
# attach to it, plant leaks while attached, read the snapshot back.
LEAKER=$TESTBIN/tracer/target_leaker
LEAKER_NOFP=$TESTBIN/tracer/target_leaker_nofp
DUMP=$TESTBIN/common/snapdump
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
need_root
need_file "$LEAKAUDIT"
need_file "$LEAKER"
need_file "$DUMP"
need_cmd addr2line
need_cmd bpftool

# start_target NAME PROGRAM MODE [ENV=VALUE...]: starts PROGRAM MODE in the
# background; its pid is in TPID, its go/counters files in $T/NAME.*.
start_target() {
    local name=$1 prog=$2 mode=$3
    shift 3
    GO=$T/$name.go
    COUNTERS=$T/$name.counters
    env "$@" "$prog" "$mode" "$GO" "$COUNTERS" 200 &
    TPID=$!
    on_exit "kill $TPID 2>/dev/null"
    wait_mapped "$TPID" 'libc\.so'
}

# attach_and_plant OUTDIR [attach options]: attaches to $TPID, lets the
# target plant its leaks, waits for its counters, then detaches with SIGINT
# (right away: the probes record in the target's own calls, and the final
# snapshot drains what is still in flight).
attach_and_plant() {
    local out=$1 log=$T/attach.log
    shift
    "$LEAKAUDIT" attach -p "$TPID" -o "$out" -d 60 -v "$@" 2>"$log" &
    local apid=$!
    on_exit "kill $apid 2>/dev/null"
    wait_attached "$log" "$apid"
    touch "$GO"
    wait_until 60 test -e "$COUNTERS" || fail "target did not finish planting in 60 s"
    kill -INT $apid
    wait $apid || { cat "$log"; fail "attach exited with $?"; }
}

counter() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" "$COUNTERS"; }

# within_5pct GOT EXPECTED
within_5pct() {
    local got=$1 want=$2
    [ $((got * 100)) -ge $((want * 95)) ] && [ $((got * 100)) -le $((want * 105)) ]
}

# expect_heap DUMP FUNC BYTES COUNT [LABEL]: live bytes/count at FUNC within 5%.
expect_heap() {
    local got b c
    got=$(site "$1" heap "$2")
    b=${got% *}; c=${got#* }
    if ! within_5pct "$b" "$3" || ! within_5pct "$c" "$4"; then
        grep '^heap ' "$1" | head -20
        fail "${5:-}heap at $2: expected $3 bytes in $4 blocks, got $b in $c"
    fi
    ok "${5:-}heap at $2: $b bytes in $c blocks (program says $3 in $4)"
}

# no_drops DUMP: every loss counter that means lost data is zero.
no_drops() {
    local bad
    bad=$(grep '^loss ' "$1" | grep -v -E 'free_unknown|pending_stale|caller_unknown|recvmmsg|mmap_by_allocator|unwind_|stacks_in_table|stacks_retired|tracer_sites|=0$' || true)
    [ -z "$bad" ] || fail "drops: $bad"
}

# our_bpf_left: our BPF programs (prefix la_) or links still in the kernel.
# The kernel frees a closed program asynchronously (RCU), so give it 3 s.
our_bpf_left() {
    local i left
    for i in $(seq 30); do
        left=$( (bpftool prog show; bpftool link show) 2>/dev/null | grep -E 'name la_|prog_name la_' || true)
        [ -n "$left" ] || return 0
        sleep 0.1
    done
    echo "$left"
}

# app_frames DUMP KIND: one line per record of KIND (heap|fd|mmap): its live
# count (heap; 1 otherwise), then the functions of its frames that are not
# in the C/C++ runtime (libc, ld.so, libstdc++, libgcc_s), innermost first;
# a frame outside every module prints as "?".
app_frames() {
    local line frames f out n fr
    grep "^$2 " "$1" | while IFS= read -r line; do
        n=1
        [ "$2" = heap ] && { n=${line#*live_count=}; n=${n%% *}; }
        frames=${line##*frames=}
        out=$n
        IFS=, read -ra fr <<<"$frames"
        for f in "${fr[@]+"${fr[@]}"}"; do
            case $f in
            \?:*) out+=" ?" ;;
            */libc.so*|*/ld-linux*|*/libstdc++*|*/libgcc_s*) ;;
            *) out+=" $(func_of "$f")" ;;
            esac
        done
        echo "$out"
    done
}

# expect_stack FRAMES-FILE REGEX LABEL: some live record's application
# frames match REGEX (anchored after the count).
expect_stack() {
    if ! grep -Eq "^[1-9][0-9]* $2" "$1"; then
        cat "$1"
        fail "$3: no live record whose stack starts /$2/"
    fi
    ok "$3: $(grep -Em1 "^[1-9][0-9]* $2" "$1")"
}
