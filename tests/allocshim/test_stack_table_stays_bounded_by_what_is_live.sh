#!/usr/bin/env bash
# A program that makes 2,000 new distinct short-lived stacks per snapshot for
# 40 snapshots (80,000 stacks, more than twice the 32,768-stack table given
# to it), with a real leak and a steady allocate+free site beside them:
#  - no stack is ever refused (stack_table_full = 0) and no record names a
#    stack missing from its snapshot (the report shows no data loss), also
#    when a second thread interns stacks during every snapshot (before the
#    stacks section was written after the records, such a stack was missing:
#    report_stack_id_not_in_table = 47,249 on 527d23a);
#  - after warm-up the table, the snapshot size and the shim's own memory
#    stay flat, and once the program stops making stacks they leave;
#  - the leak is still reported by stack with its right totals, the steady
#    site's total counts every call, and the retired-stacks row holds the
#    totals of every churned allocation.
# Epochs follow snapshots, not time: what the table holds does not depend on
# the machine's speed.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
CHURN=$TESTBIN/allocshim/stack_churn
need_file "$CHURN"
EPOCHS=40 STACKS=2000 LEAKS=20 QUIET=8 MAX=32768

out=$T/out
LEAKAUDIT_THREAD=always timeout 600 "$LEAKAUDIT" run -q -i 200ms --max-stacks $MAX -o "$out" -- \
    "$CHURN" "$out" $EPOCHS $STACKS $LEAKS $QUIET >"$T/prog" 2>"$T/err" ||
    { cat "$T/err"; fail "the program failed"; }
read -r churn steady leaked leak_bytes < <(sed -E 's/[a-z_]+=//g' "$T/prog")
assert_eq "$churn" $((EPOCHS * STACKS)) "churn calls: $(cat "$T/prog")"
[ "$churn" -gt $((2 * MAX)) ] || fail "the program made too few stacks to test anything"

# One line per snapshot: seq size stacks_in_table shim_memory_bytes full race
i=0
for f in $(ls "$out"/*.snap | sort -V); do
    "$SNAPDUMP" "$f" >"$T/d.$i" || fail "$f: unreadable"
    loss() { sed -n "s/^loss $1=//p" "$T/d.$i"; }
    echo "$i $(stat -c %s "$f") $(loss stacks_in_table) $(loss shim_memory_bytes)" \
        "$(loss stack_table_full) $(loss stack_released_race)" >>"$T/series"
    i=$((i + 1))
done
n=$i
[ "$n" -ge $((EPOCHS + QUIET)) ] || fail "only $n snapshots"
awk '$5 != 0 || $6 != 0 { print "snapshot " $1 ": stack_table_full=" $5 " stack_released_race=" $6; bad = 1 }
     END { exit bad }' "$T/series" || fail "stacks were refused or lost"
ok "$churn distinct stacks through a $MAX-stack table: none refused"

# Flat after warm-up: from snapshot 20 to the last one with churn (EPOCHS).
awk -v from=20 -v to=$EPOCHS -v cap=$((5 * STACKS + 500)) '
    $1 == from { size = $2; mem = $4 }
    $1 >= from && $1 <= to {
        if ($3 > cap) { print "snapshot " $1 ": " $3 " stacks in the table (bound " cap ")"; bad = 1 }
        if ($2 > size * 1.25) { print "snapshot " $1 ": " $2 " B, at " from ": " size " B"; bad = 1 }
        if ($4 > mem + 1048576) { print "snapshot " $1 ": shim memory " $4 ", at " from ": " mem; bad = 1 }
    }
    END { exit bad }' "$T/series" || { cat "$T/series"; fail "not flat after warm-up"; }
ok "table, snapshot size and shim memory flat from snapshot 20 to $EPOCHS"

last=$T/d.$((n - 1))
stacks_left=$(awk 'END { print $3 }' "$T/series")
[ "$stacks_left" -lt 100 ] || fail "$stacks_left stacks still in the table after $QUIET quiet snapshots"
ok "after the churn stopped, $stacks_left stacks are left in the table"

expect_site "$last" heap leak_site "$leak_bytes $leaked" "leak: "
grep '^heap ' "$last" >"$T/heap"
total_of() { # FUNC: "total_bytes total_count" of its rows
    local line frame tb=0 tc=0 b c
    while IFS= read -r line; do
        frame=${line##*frames=}
        frame=${frame%%,*}
        [ -n "$frame" ] && [ "$(func_of "$frame")" = "$1" ] || continue
        b=${line#*total_bytes=}; b=${b%% *}
        c=${line#*total_count=}; c=${c%% *}
        tb=$((tb + b)) tc=$((tc + c))
    done <"$T/heap"
    echo "$tb $tc"
}
assert_eq "$(total_of leak_site)" "$leak_bytes $leaked" "leak_site totals"
assert_eq "$(total_of steady_site | cut -d" " -f2)" "$steady" "steady_site total count: $(total_of steady_site), expected $steady calls"
assert_eq "$(total_of churn_leaf)" "0 0" "churned stacks still in the last snapshot"
ok "leak_site: $leaked blocks, $leak_bytes B live and in total; steady_site: $steady calls"

retired=$(grep '^heap stack=0 .*flags=2 ' "$last") || fail "no retired-stacks row"
rt=${retired#*total_count=}; rt=${rt%% *}
rb=${retired#*total_bytes=}; rb=${rb%% *}
# Beside the churn, only returning_site's first life and allocations made
# before the first snapshot (the loader's, libc's) can have retired.
early=$(awk '/^heap / { c = $0; sub(/.*total_count=/, "", c); sub(/ .*/, "", c); s += c } END { print s + 1 }' "$T/d.0")
[ "$rt" -ge "$churn" ] && [ "$rt" -le $((churn + early)) ] ||
    fail "retired-stacks row counts $rt allocations; churn made $churn (+ at most $early before)"
[ "$rb" -ge $((churn * 32)) ] || fail "retired-stacks row: $rb B for $churn blocks of 32 B"
ok "retired-stacks row: $rt allocations, $rb B (the churn: $churn)"

"$LEAKAUDIT" report "$out" >"$T/report" 2>&1 || fail "report failed: $(head -3 "$T/report")"
assert_not_contains "$T/report" 'DATA LOSS'
assert_not_contains "$T/report" 'report_stack_id_not_in_table'
ok "the report over all $n snapshots names no missing stack"

# returning_site allocated in the first and the last epoch: its stack left
# the table in between. The last snapshot holds its second life (total 1);
# the report adds both lives up.
assert_eq "$(total_of returning_site | cut -d' ' -f2)" 1 "returning_site in the last snapshot"
"$LEAKAUDIT" report --filter-function returning_site "$out" >"$T/ret" 2>&1 || fail "report failed"
assert_contains "$T/ret" 'total allocated 200 B in 2(;|$)'
ok "a stack that left the table and came back: the report counts both lives"

# The same with a second thread making new stacks all the time, so stacks
# are interned while snapshots are being written (the table fills: that is
# counted, and allowed here). Every record's stack must be in its snapshot.
out2=$T/overlap
LEAKAUDIT_THREAD=always timeout 600 "$LEAKAUDIT" run -q -i 100ms -o "$out2" -- \
    "$CHURN" "$out2" 10 $STACKS 0 0 overlap >"$T/prog2" 2>"$T/err2" ||
    { cat "$T/err2"; fail "the program failed (overlap)"; }
"$LEAKAUDIT" report "$out2" >"$T/report2" 2>&1 || fail "report failed: $(head -3 "$T/report2")"
assert_not_contains "$T/report2" 'report_stack_id_not_in_table'
ok "stacks interned while snapshots were written: every record's stack is in its snapshot"
