#!/usr/bin/env bash
# Fuzzes the snapshot reader (libFuzzer + ASan + UBSan) for ~20 s from the
# seed corpus in tests/reports/corpus/. Any crash, leak or UB fails the test
# and leaves the reproducer in the log directory's artifact path.
# timeout: 120
# check: no
source "$(dirname "$0")/../lib.sh"
FUZZ=$TESTBIN/reports/fuzz_snapshot_reader
need_file "$FUZZ"
mkdir -p "$T/corpus" "$T/artifacts"
"$FUZZ" -max_total_time=20 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$T/artifacts/" "$T/corpus" "$ROOT/tests/reports/corpus" >"$T/fuzz.log" 2>&1 ||
    { tail -40 "$T/fuzz.log"; ls -la "$T/artifacts"; fail "fuzzer found a problem"; }
grep -E '^stat::number_of_executed_units' "$T/fuzz.log"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/fuzz.log")
[ "${runs:-0}" -gt 10000 ] || fail "fuzzer ran only ${runs:-0} inputs"
ok "fuzzed $runs inputs without a finding"
