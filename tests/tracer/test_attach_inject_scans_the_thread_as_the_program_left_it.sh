#!/usr/bin/env bash
# timeout: 120
# The reachability scan of attach --inject runs in a thread the attaching
# process called into: its roots for that thread are the thread as the
# program left it -- its registers and its stack from its stack pointer
# up -- not the injected call's frames, and the blocks in a mapping merged
# with the main thread's TLS are not roots:
#  - a lost table served by mmap, right below the TLS mapping (merged by the
#    kernel): 1 definitely lost and all 45,000 small blocks it held
#    indirectly lost, as valgrind says of such a program (its last 64 KiB
#    were scanned as TLS: ~7,000 of them came out still reachable);
#  - a block whose only pointer is in register rsi while the thread waits in
#    pause(): still reachable (the injected call passes an argument in rsi:
#    it was "definitely lost").
# lane: bpf
source "$(dirname "$0")/../lib.sh"
need_root
R=$TESTBIN/tracer/inject_roots
need_file "$R"
need_file "$SHIM"

# totals MODE: attach --inject to `inject_roots MODE` once it is ready, one
# scan at detach; prints "definite indirect possible reachable" block counts
totals() {
    "$R" "$1" >"$T/$1.out" &
    local p=$!
    wait_until 20 grep -qx ready "$T/$1.out" || fail "$1: target not ready"
    "$LEAKAUDIT" attach --inject -q -p $p -i detach -d 1 -o "$T/$1" 2>"$T/$1.err" ||
        fail "$1: attach --inject failed: $(cat "$T/$1.err")"
    kill $p
    wait $p 2>/dev/null || true
    "$LEAKAUDIT" report -f json "$T/$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)["reachability"]["totals"]
print(*(t[k]["blocks"] for k in ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")))'
}

read -r d i p r <<<"$(totals table)"
[ "$d" = 1 ] && [ "$i" = 45000 ] && [ "$p" = 0 ] ||
    fail "lost table: definitely $d, indirectly $i, possibly $p, reachable $r (want 1, 45000, 0)"
ok "lost table below the TLS mapping: 1 definitely lost, 45000 indirectly lost"

read -r d i p r <<<"$(totals register)"
[ "$d" = 0 ] && [ "$i" = 0 ] && [ "$p" = 0 ] ||
    fail "block held in rsi: definitely $d, indirectly $i, possibly $p (want 0, 0, 0)"
ok "block held only in a register of the stopped thread: still reachable"
