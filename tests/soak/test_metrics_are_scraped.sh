#!/usr/bin/env bash
# The target's Prometheus endpoint is scraped over loopback HTTP: its frame
# counter becomes throughput, its latency histogram a p99, its drop counter
# the drops column; the load generator runs alongside, told the target's pid.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
need_cmd python3
port=$(free_port)
soak "$T/out" -a glibc -d 3s -i 250ms --metrics-url "http://127.0.0.1:$port/metrics" \
    --load "echo \$LEAKAUDIT_SOAK_PID > $T/load-saw; exec sleep 30" --load-delay 200ms \
    -- "$SOAKLOAD" serve "$port"
# The counter grows by 100 per second of the target's clock.
thr=$(field "$T/out" glibc throughput_per_s)
awk -v v="$thr" 'BEGIN { exit !(v > 90 && v < 110) }' || fail "throughput $thr, expected ~100/s"
# Buckets 0.05 (98%) and 0.1 (100%): p99 interpolates to exactly 75 ms.
assert_eq "$(field "$T/out" glibc p99_ms)" 75.000 "p99 latency"
assert_eq "$(field "$T/out" glibc drops)" 7 "drops"
assert_contains "$T/out/summary.md" 'throughput: .*frames.*inferred.*latency: soaktest.*latency.*seconds'
# Per-sample rates in the CSV (column 11), and the throughput chart in the page.
awk -F, 'NR > 1 && $11 != "" { n++ } END { exit !(n >= 5) }' "$T/out/glibc.csv" ||
    fail "too few throughput samples in glibc.csv"
assert_contains "$T/out/report.html" 'Throughput over time'
# The load generator ran and was told the target's pid.
[ -s "$T/load-saw" ] || fail "the load generator did not run"
pid=$(cat "$T/load-saw")
[ "$pid" -gt 1 ] || fail "LEAKAUDIT_SOAK_PID was '$pid'"
ok "throughput $thr/s, p99 75 ms, drops 7, load saw pid $pid"

# A target whose counter never moves (a daemon retrying a missing input) is
# not called stable without a word.
port=$(free_port)
soak "$T/idle" -a glibc -d 2s -i 250ms --metrics-url "http://127.0.0.1:$port/metrics" \
    -- "$SOAKLOAD" serve_idle "$port"
assert_eq "$(field "$T/idle" glibc throughput_per_s)" 0.00 "idle throughput"
field "$T/idle" glibc verdict | grep 'no throughput' >/dev/null ||
    fail "idle workload's verdict: $(field "$T/idle" glibc verdict)"
ok "a workload that does nothing is flagged: $(field "$T/idle" glibc verdict)"
