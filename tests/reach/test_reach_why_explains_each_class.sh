#!/usr/bin/env bash
# LEAKAUDIT_REACH_WHY=SIZE says, at the exit scan, why every block of that
# size got its class (docs/reachability.md, "Explaining a block's class"):
# the chain of words that reached it, each in the block that held it, up to
# the root named by its /proc/self/maps line (the block's first frames as
# module+offset) -- through two blocks for a
# reachable one, an interior link for a possibly lost one, nothing for a
# definitely lost one; a thread's stack (with the distance from its sp) and
# a saved register for reach_cases' stack and register cases. Without the
# variable nothing is said.
source "$(dirname "$0")/../lib.sh"
need_file "$SHIM"
CHAIN=$TESTBIN/reach/reach_why_chain
CASES=$TESTBIN/reach/reach_cases
need_file "$CHAIN"
need_file "$CASES"

why() { # SIZE OUT PROGRAM: the program's stderr under LEAKAUDIT_REACH_WHY=SIZE
    local size=$1 out=$2
    shift 2
    rm -rf "$T/o"
    LEAKAUDIT_REACH_WHY=$size "$LEAKAUDIT" run -q -o "$T/o" -- "$@" >/dev/null 2>"$out" ||
        fail "run under LEAKAUDIT_REACH_WHY=$size failed"
}

why 333 "$T/333" "$CHAIN"
assert_contains "$T/333" '^leakaudit: why block 0x[0-9a-f]+ \(333 B, stack [0-9]+: reach_why_chain\+0x[0-9a-f]+ < reach_why_chain\+0x[0-9a-f]+ < .*\) is still reachable:$'
assert_contains "$T/333" '^  start pointer \(\+0x0\) at 0x[0-9a-f]+, 40 B into block 0x[0-9a-f]+ \(200 B, stack [0-9]+: reach_why_chain\+0x[0-9a-f]+ < .*, still reachable\)$'
assert_contains "$T/333" '^  <- start pointer \(\+0x0\) at 0x[0-9a-f]+, a root: [0-9a-f]+-[0-9a-f]+ rw-p .*/reach_why_chain$'
ok "reachable: two links, the root is the program's data"

why 444 "$T/444" "$CHAIN"
assert_contains "$T/444" '\(444 B, stack [0-9]+: reach_why_chain\+.*\) is possibly lost:$'
assert_contains "$T/444" '^  interior pointer \(\+0x10\) at 0x[0-9a-f]+, 48 B into block 0x[0-9a-f]+ \(200 B'
ok "possibly lost: the interior pointer and where it is"

why 555 "$T/555" "$CHAIN"
assert_contains "$T/555" '\(555 B, stack [0-9]+: reach_why_chain\+.*\) is definitely lost:$'
assert_contains "$T/555" '^  no pointer to it in any root or reachable block$'
ok "definitely lost: no chain"

why 56 "$T/56" "$CASES"
assert_contains "$T/56" "\\(56 B, stack [0-9]+: .*\\) is still reachable:\$"
assert_contains "$T/56" "a root: [0-9a-f]+-[0-9a-f]+ rw-p .*; thread [0-9]+'s stack, 0x[0-9a-f]+ above its sp\$"
why 88 "$T/88" "$CASES"
assert_contains "$T/88" '^  a saved register of a stopped thread or of the exit path \(a root\)$'
ok "another thread's stack (above its sp) and a saved register"

rm -rf "$T/o"
"$LEAKAUDIT" run -q -o "$T/o" -- "$CHAIN" >/dev/null 2>"$T/none"
assert_not_contains "$T/none" 'why block'
ok "nothing said without the variable"
