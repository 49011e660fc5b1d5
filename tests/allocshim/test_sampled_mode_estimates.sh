#!/usr/bin/env bash
# Sampled mode records only ~1 allocation per sample period of bytes, marks
# the counts as estimates, and its estimate of a large leak is close to the
# truth (20,000,000 bytes).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
"$LEAKAUDIT" run -q -o "$T/s" -m sampled --sample-period 64K -- "$PLANTED" bigleak
dump_last "$T/s" >"$T/d"
grep -q 'mode=sampled' "$T/d" || fail "header does not say sampled"
read -r bytes count < <(site "$T/d" heap leak_big)
echo "estimate: $bytes bytes in $count blocks (truth 20000000 in 2000)"
[ "$bytes" -gt 15000000 ] && [ "$bytes" -lt 25000000 ] || fail "estimate $bytes too far from 20000000"
total=$(grep -c '^heap ' "$T/d")
[ "$total" -lt 50 ] || fail "sampled mode recorded $total stacks: it is not sampling"
ok "sampled estimate within 25%"
