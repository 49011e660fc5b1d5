#!/usr/bin/env bash
# The format promises stack ids unique within a file, not across files: a
# series where two stacks trade ids from one snapshot to the next still
# shows each stack's own bytes (100 B and 4.9 KiB, both constant), however
# report caches the id -> row lookup across snapshots.
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
"$GEN" idswap "$T/s" --snaps 6 >/dev/null
"$LEAKAUDIT" report "$T/s" >"$T/r.txt"
assert_contains "$T/r.txt" "2 stacks \(0 leak, 0 plateau, 2 stable"
assert_contains "$T/r.txt" "4\.9 KiB -> 4\.9 KiB"
assert_contains "$T/r.txt" "100 B -> 100 B"
ok "stacks that trade ids between snapshots keep their own rows"
