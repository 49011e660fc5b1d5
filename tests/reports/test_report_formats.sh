#!/usr/bin/env bash
# The machine formats: JSON validates against docs/report-json.schema.json
# (also for the tracer/sampled, single-snapshot and hostile-symbol inputs);
# collapsed stacks are root-first with the planted leak's chain; Prometheus
# exposition has escaped labels, per-stack gauges and the loss counters.
# timeout: 120
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
need_cmd python3
SCHEMA=$ROOT/docs/report-json.schema.json
VALIDATE=$ROOT/tests/reports/validate_json_schema.py

"$GEN" mixed "$T/mixed" >/dev/null
"$GEN" hostile "$T/hostile" >/dev/null
"$GEN" mixed "$T/tr" --tracer --sampled >/dev/null
"$GEN" clean "$T/one" --snaps 1 >/dev/null

for d in mixed hostile tr one; do
    "$LEAKAUDIT" report -f json --top 0 "$T/$d" >"$T/$d.json"
    python3 "$VALIDATE" "$SCHEMA" "$T/$d.json" || fail "$d.json does not match the schema"
done
# The validator itself must reject a wrong document.
sed 's/"verdict":"leak"/"verdict":"leaky"/' "$T/mixed.json" >"$T/bad.json"
if python3 "$VALIDATE" "$SCHEMA" "$T/bad.json" >/dev/null; then fail "validator accepted a bad verdict"; fi
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["heap"]["stacks"][0]["frames"][0]["function"]; assert s.startswith("<script>alert(1)</script>"), s' "$T/hostile.json"
ok "json validates against the schema"

# peak live bytes per stack: a freed stack keeps its peak (text, json, html, prometheus)
python3 - "$T/mixed.json" <<'PY' || fail "peak_bytes is wrong"
import json, sys
rows = {r["frames"][0]["function"]: r for r in json.load(open(sys.argv[1]))["heap"]["stacks"]}
assert rows["startup_table"]["live_bytes"] == 0 and rows["startup_table"]["peak_bytes"] == 196608, rows["startup_table"]
assert rows["per_frame_scratch"]["peak_bytes"] > rows["per_frame_scratch"]["live_bytes"]
assert rows["leaky_decode_frame"]["peak_bytes"] == 12582912
PY
"$LEAKAUDIT" report -n 0 "$T/mixed" >"$T/peak.txt"
assert_contains "$T/peak.txt" '^   live 0 B in 0 allocations; peak 192.0 KiB; total allocated 384.0 KiB in 6$'
"$LEAKAUDIT" report -f html -n 0 -o "$T/peak.html" "$T/mixed"
assert_contains "$T/peak.html" '<td data-v="196608">192.0 KiB</td>'
"$LEAKAUDIT" report -f prometheus -n 0 "$T/mixed" >"$T/peak.prom"
assert_contains "$T/peak.prom" '^leakaudit_stack_heap_peak_bytes\{.*function="startup_table".*\} 196608$'
ok "peak live bytes per stack in text, json, html and prometheus"

"$LEAKAUDIT" report -f collapsed "$T/mixed" >"$T/collapsed.txt"
assert_contains "$T/collapsed.txt" '^main;scenario_mixed;process_image;leaky_decode_frame 12582912$'
assert_contains "$T/collapsed.txt" '^main;scenario_mixed;cache_insert;cache_slot_alloc 1048576$'
assert_contains "$T/collapsed.txt" '^\[fds\];main;scenario_mixed;dup_buffer_fd 24$'
assert_contains "$T/collapsed.txt" '^\[mmaps\];main;scenario_mixed;map_frame_buffer 8388608$'
# every line: frames, one space, a number
if grep -Evq '^[^ ].* [0-9]+$' "$T/collapsed.txt"; then fail "malformed collapsed line"; fi
ok "collapsed stacks"

"$LEAKAUDIT" report -f prometheus "$T/hostile" >"$T/prom.txt"
assert_contains "$T/prom.txt" '^# TYPE leakaudit_stack_heap_live_bytes gauge$'
assert_contains "$T/prom.txt" '^leakaudit_stack_heap_live_bytes\{program="gen_series",stack="[0-9a-f]{16}",function="<script>alert\(1\)</script><img src=x onerror=alert\(2\)>",location="[^"]*fixture_hostile.c:[0-9]+"\} 12582912$'
assert_contains "$T/prom.txt" '^leakaudit_series_info\{program="gen_series",series="hostile",pid="4242",host="testhost",.*\} 1$'
assert_contains "$T/prom.txt" '^leakaudit_capture_losses_total\{.*name="dropped_events"\} 7$'
assert_contains "$T/prom.txt" '^leakaudit_leak_stacks\{.*class="fds"\} 1$'
assert_contains "$T/prom.txt" '^leakaudit_stack_open_fds\{.*function="dup_buffer_fd".*\} 24$'
# Every sample line: name{labels} value, with balanced quotes.
python3 - "$T/prom.txt" <<'PY' || fail "prometheus exposition does not parse"
import re, sys
line_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\} -?[0-9.e+]+$')
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("#"):
        continue
    if not line_re.match(line):
        sys.exit("bad line: " + line)
PY
ok "prometheus exposition"
