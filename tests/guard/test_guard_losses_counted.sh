#!/usr/bin/env bash
# Nothing the guard drops is dropped silently: corruption events past the 256
# a snapshot keeps are counted (corruption_events_dropped; every one is still
# on stderr), and sampled blocks that find every guard-page slot taken are
# counted (guard_page_slots_full) -- in the snapshot and in the report; a
# program that replaces guard mode's SIGSEGV handler is noticed and counted
# (guard_segv_handler_replaced), without a word on the program's stderr.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
need_file "$C"

# 300 overflows under policy log: 300 reports on stderr, 256 events kept, 44 counted
rm -rf "$T/o"
"$LEAKAUDIT" run -q --guard=canary --guard-policy=log -o "$T/o" -- "$C" many_overflows \
    >"$T/stdout" 2>"$T/stderr" || fail "many_overflows failed: $(head -5 "$T/stderr")"
grep -q '^overflowed 300$' "$T/stdout" || fail "many_overflows did not finish: $(cat "$T/stdout")"
n=$(grep -c '^==leakaudit== heap-buffer-overflow' "$T/stderr" || true)
[ "$n" = 300 ] || fail "$n overflow reports on stderr, expected 300"
dump_last "$T/o" >"$T/d"
n=$(grep -c '^corruption kind=heap-buffer-overflow ' "$T/d" || true)
[ "$n" = 256 ] || fail "$n overflow events in the snapshot, expected 256 (its bound)"
grep -q '^loss corruption_events_dropped=44$' "$T/d" ||
    fail "events past the bound not counted: $(grep '^loss corruption' "$T/d")"
"$LEAKAUDIT" report "$T/o" >"$T/r" 2>&1 || true
grep -q '^!!   corruption_events_dropped = 44$' "$T/r" || fail "report does not show the dropped events"
ok "300 overflows: 300 on stderr, 256 in the snapshot, corruption_events_dropped=44 in snapshot and report"

# every allocation sampled, 5000 live at once: 4096 slots, 904 blocks without one
for a in glibc jemalloc; do
    rm -rf "$T/o"
    "$LEAKAUDIT" run -q --guard=pages --guard-sample 1 -a $a -o "$T/o" -- "$C" many_live \
        >"$T/stdout" 2>"$T/stderr" || fail "[$a] many_live failed: $(head -5 "$T/stderr")"
    grep -q '^freed 5000$' "$T/stdout" || fail "[$a] many_live did not finish: $(cat "$T/stdout")"
    dump_last "$T/o" >"$T/d"
    ! grep -q '^corruption' "$T/d" || fail "[$a] many_live reported: $(grep '^corruption' "$T/d" | head -3)"
    grep -q '^loss guard_page_slots_full=904$' "$T/d" ||
        fail "[$a] sampled blocks without a slot not counted: $(grep '^loss guard' "$T/d")"
    "$LEAKAUDIT" report "$T/o" >"$T/r" 2>&1 || true
    grep -q '^note: guard_page_slots_full = 904: sampled blocks that got no guard page' "$T/r" ||
        fail "[$a] report does not show guard_page_slots_full as a note: $(grep guard_page "$T/r")"
    ok "[$a] 5000 live sampled blocks: 4096 got a guard page, guard_page_slots_full=904"

    # a program that never runs out of slots shows no such loss
    rm -rf "$T/o"
    "$LEAKAUDIT" run -q --guard=pages --guard-sample 1 -a $a -o "$T/o" -- "$C" clean \
        >"$T/stdout" 2>"$T/stderr" || fail "[$a] clean failed: $(head -5 "$T/stderr")"
    dump_last "$T/o" >"$T/d"
    grep -q '^loss guard_page_slots_full=0$' "$T/d" && grep -q '^loss corruption_events_dropped=0$' "$T/d" &&
        grep -q '^loss guard_segv_handler_replaced=0$' "$T/d" ||
        fail "[$a] clean program: $(grep '^loss guard\|^loss corruption' "$T/d")"
    ok "[$a] clean program with every block sampled: no guard losses"
done

# the program installs its own SIGSEGV handler after guard mode's: counted
rm -rf "$T/o"
LEAKAUDIT_THREAD=always "$LEAKAUDIT" run --guard=pages --guard-sample 1 --interval 1 -o "$T/o" -- "$C" own_segv_handler \
    >"$T/stdout" 2>"$T/stderr" || fail "own_segv_handler failed: $(head -5 "$T/stderr")"
grep -q '^installed$' "$T/stdout" || fail "own_segv_handler did not finish: $(cat "$T/stdout")"
snaps=$(ls "$T/o"/*.snap | wc -l)
[ "$snaps" -ge 3 ] || fail "expected periodic snapshots and one at exit, found $snaps"
dump_last "$T/o" >"$T/d"
grep -q '^loss guard_segv_handler_replaced=1$' "$T/d" ||
    fail "replaced SIGSEGV handler not counted: $(grep '^loss guard_segv' "$T/d")"
"$LEAKAUDIT" report "$T/o" >"$T/r" 2>&1 || true
grep -q "^note: guard_segv_handler_replaced = 1: the program replaced guard mode's SIGSEGV handler" "$T/r" ||
    fail "report does not show guard_segv_handler_replaced as a note: $(grep segv "$T/r")"
! grep -q 'DATA LOSS' "$T/r" || fail "a replaced handler reported as data loss"
! grep -q '==leakaudit==' "$T/stderr" || fail "the program's stderr changed: $(grep -m2 '==leakaudit==' "$T/stderr")"
ok "a program's own SIGSEGV handler over guard mode's: guard_segv_handler_replaced=1 (snapshot and report; $snaps snapshots), nothing on its stderr"
