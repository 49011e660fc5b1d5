# Helpers for the kernel-memory tests (attach --kmem), sourced after
# lib_tracer.sh: run kmem_target under `attach --kmem` and report in JSON.
KMEM_TARGET=$TESTBIN/tracer/kmem_target
need_file "$KMEM_TARGET"
need_cmd jq

# slab_bytes CACHE: the kernel's own count of allocated objects of a slab
# cache times its slot size (/sys/kernel/slab: merged caches included, but
# exact, unlike /proc/slabinfo which lists a merged cache under one name).
slab_bytes() {
    local d=/sys/kernel/slab/$1
    [ -r "$d/objects" ] || skip "no $d/objects (CONFIG_SLUB_DEBUG off)"
    echo $(($(cut -d' ' -f1 "$d/objects") * $(cat "$d/slab_size")))
}

# kmem_run MODE ROUNDS PER_ROUND: starts kmem_target MODE, attaches with
# --kmem, lets it run its rounds, detaches as soon as it is done; the
# snapshots are in $T/out, the JSON report in $T/report.json.
kmem_run() {
    local mode=$1 log=$T/attach.log i
    "$KMEM_TARGET" "$mode" "$T/go" "$T/done" "$2" "$3" &
    TPID=$!
    on_exit "kill $TPID 2>/dev/null"
    for i in $(seq 300); do
        [ -d "/tmp/kmem_target.$TPID" ] && grep -q inotify "/proc/$TPID/fdinfo/3" 2>/dev/null && break
        sleep 0.1
    done
    "$LEAKAUDIT" attach -p "$TPID" -o "$T/out" -i 300ms -d 120 --kmem --no-heap -v 2>"$log" &
    local apid=$!
    on_exit "kill $apid 2>/dev/null"
    wait_attached "$log" "$apid"
    touch "$T/go"
    for i in $(seq 600); do
        [ -e "$T/done" ] && break
        sleep 0.1
    done
    [ -e "$T/done" ] || fail "kmem_target did not finish its rounds"
    kill -INT $apid
    wait $apid || { cat "$log"; fail "attach exited with $?"; }
    on_exit "rm -rf /tmp/kmem_target.$TPID"
    "$LEAKAUDIT" report --format json "$T/out" >"$T/report.json" || fail "report failed"
}
