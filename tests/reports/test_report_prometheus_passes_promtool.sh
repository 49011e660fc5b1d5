#!/usr/bin/env bash
# `report -f prometheus` on real reports (a program under the shim with heap,
# fd leaks, realloc; one killed by SIGTERM, with a reachability scan; the
# generated hostile-symbol and tracer/sampled series) passes
# `promtool check metrics` with no message at all, and every metric it
# prints is documented in docs/fleet.md.
source "$(dirname "$0")/../lib.sh"
need_cmd promtool
PLANTED=$TESTBIN/allocshim/planted
GEN=$TESTBIN/reports/gen_series
DOOMED=$TESTBIN/cli/doomed
need_file "$PLANTED"
need_file "$GEN"
need_file "$DOOMED"

"$LEAKAUDIT" run -q -o "$T/steady" -- "$PLANTED" steady
"$LEAKAUDIT" run -q -o "$T/fds" -- "$PLANTED" fds
"$LEAKAUDIT" run -q -o "$T/realloc" -- "$PLANTED" realloc
"$LEAKAUDIT" run -q -o "$T/killed" -- "$DOOMED" "$T/ready" >/dev/null &
run_pid=$!
for i in $(seq 200); do
    [ -s "$T/ready" ] && break
    kill -0 $run_pid 2>/dev/null || fail "leakaudit run ended early"
    sleep 0.05
done
[ -s "$T/ready" ] || fail "the program never became ready"
kill -TERM "$(cat "$T/ready")"
wait $run_pid || true
"$GEN" hostile "$T/hostile" >/dev/null
"$GEN" mixed "$T/tr" --tracer --sampled >/dev/null

for d in steady fds realloc killed hostile tr; do
    "$LEAKAUDIT" report -f prometheus -n 0 "$T/$d" >"$T/$d.prom"
    out=$(promtool check metrics <"$T/$d.prom" 2>&1) || { echo "$out"; fail "promtool rejects $d"; }
    [ -z "$out" ] || { echo "$out"; fail "promtool lint messages for $d"; }
done
ok "promtool check metrics prints nothing on six real reports"

assert_contains "$T/killed.prom" '^leakaudit_heap_reachability_bytes\{program="doomed",reach="definitely_lost"\} 6000$'
assert_contains "$T/killed.prom" '^leakaudit_stack_heap_leaking\{program="doomed",.*function="leak_before_death".*\} 1$'
assert_contains "$T/fds.prom" '^leakaudit_open_fds\{program="planted"\} [1-9]'
assert_contains "$T/steady.prom" '^leakaudit_series_info\{program="planted",series="planted\.[0-9]+\.[0-9a-f]+",pid="[0-9]+",'
assert_not_contains "$T/steady.prom" '^leakaudit_stack_[a-z_]+\{[^}]*(pid|series|verdict)=' \
    "per-stack metrics carry identity that changes on restart"
ok "identity in leakaudit_series_info, leak verdicts as 0/1 gauges"

cat "$T"/*.prom | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' | sort -u >"$T/names"
while read -r name; do
    grep -q "\`$name\`" "$ROOT/docs/fleet.md" || fail "$name is not documented in docs/fleet.md"
done <"$T/names"
ok "every metric ($(wc -l <"$T/names")) is documented in docs/fleet.md"
