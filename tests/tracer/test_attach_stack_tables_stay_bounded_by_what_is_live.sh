#!/usr/bin/env bash
# attach to a program that makes STACKS new distinct short-lived stacks per
# snapshot for EPOCHS snapshots (more stacks in all than the BPF stack map's
# 32,768 ids), beside a real leak and a steady allocate+free site:
#  - nothing is refused on the way (stack_map_full, sites_map_full,
#    stack_table_full, site_cache_full all 0): idle sites leave the BPF
#    `sites` map, their stacks the BPF `stacks` map and the interned table;
#  - after warm-up the sites in the map (tracer_sites), the stacks in the
#    table and the snapshot size stay flat, and once the churn stops the
#    stacks leave;
#  - totals are still right: the leak by stack, the steady site's calls,
#    and the retired-stacks row holds every churned allocation.
# Epochs follow snapshots, not time (tests/allocshim/stack_churn.c).
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
CHURN=$TESTBIN/allocshim/stack_churn
need_file "$CHURN"
EPOCHS=24 STACKS=1500 LEAKS=10 QUIET=8

out=$T/out
"$CHURN" "$out" $EPOCHS $STACKS $LEAKS $QUIET >"$T/prog" 2>"$T/err" &
pid=$!
on_exit "kill $pid 2>/dev/null"
wait_mapped $pid 'libc\.so'
log=$T/attach.log
"$LEAKAUDIT" attach -p $pid -o "$out" -i 500ms -v 2>"$log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
# The program waits for snapshots: if attach ends first, nothing would.
for _ in $(seq 2400); do
    kill -0 $pid 2>/dev/null || break
    kill -0 $apid 2>/dev/null || { cat "$log"; fail "attach ended before the program"; }
    sleep 0.1
done
kill -0 $pid 2>/dev/null && fail "the program did not finish in 240 s"
wait $pid || { cat "$T/err"; fail "the program failed"; }
wait $apid || { cat "$log"; fail "attach exited with $?"; }
read -r churn steady leaked leak_bytes < <(sed -E 's/[a-z_]+=//g' "$T/prog")
assert_eq "$churn" $((EPOCHS * STACKS)) "churn calls: $(cat "$T/prog")"

# One line per snapshot: index size tracer_sites stacks_in_table refused
i=0
for f in $(ls "$out"/*.snap | sort -V); do
    "$DUMP" "$f" >"$T/d.$i" || fail "$f: unreadable"
    loss() { sed -n "s/^loss $1=//p" "$T/d.$i"; }
    refused=$(($(loss stack_map_full) + $(loss sites_map_full) + $(loss stack_table_full) +
        $(loss site_cache_full)))
    echo "$i $(stat -c %s "$f") $(loss tracer_sites) $(loss stacks_in_table) $refused" >>"$T/series"
    i=$((i + 1))
done
n=$i
[ "$n" -ge $((EPOCHS + QUIET)) ] || fail "only $n snapshots"
awk '$5 != 0 { print "snapshot " $1 ": " $5 " stacks or sites refused"; bad = 1 } END { exit bad }' \
    "$T/series" || { cat "$T/series"; fail "stacks or sites were refused"; }
ok "$churn distinct stacks attached: none refused"

awk -v from=10 -v to=$EPOCHS -v cap=$((6 * STACKS + 500)) '
    $1 == from { size = $2 }
    $1 >= from && $1 <= to {
        if ($3 > cap || $4 > cap) { print "snapshot " $1 ": " $3 " sites, " $4 " stacks (bound " cap ")"; bad = 1 }
        if ($2 > size * 1.25) { print "snapshot " $1 ": " $2 " B, at " from ": " size " B"; bad = 1 }
    }
    END { exit bad }' "$T/series" || { cat "$T/series"; fail "not flat after warm-up"; }
ok "sites in the map, stacks in the table and snapshot size flat from snapshot 10 to $EPOCHS"

last=$T/d.$((n - 1))
read -r sites_left stacks_left < <(awk 'END { print $3, $4 }' "$T/series")
[ "$sites_left" -lt 100 ] && [ "$stacks_left" -lt 100 ] ||
    fail "$sites_left sites, $stacks_left stacks still held after $QUIET quiet snapshots"
ok "after the churn stopped: $sites_left sites, $stacks_left stacks left"

expect_heap "$last" leak_site "$leak_bytes" "$leaked" "leak: "
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
ok "leak_site: $leaked blocks, $leak_bytes B; steady_site: $steady calls"

retired=$(grep '^heap stack=0 .*flags=2 ' "$last") || fail "no retired-stacks row"
rt=${retired#*total_count=}; rt=${rt%% *}
# Beside the churn only returning_site's first life can have retired.
[ "$rt" -ge "$churn" ] && [ "$rt" -le $((churn + 1)) ] ||
    fail "retired-stacks row counts $rt allocations; the churn made $churn"
ok "retired-stacks row: $rt allocations (the churn: $churn)"

"$LEAKAUDIT" report "$out" >"$T/report" 2>&1 || fail "report failed: $(head -3 "$T/report")"
assert_not_contains "$T/report" 'report_stack_id_not_in_table'
ok "the report over all $n snapshots names no missing stack"
