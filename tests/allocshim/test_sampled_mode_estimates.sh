#!/usr/bin/env bash
# Sampled mode records only ~1 allocation per sample period of bytes, marks
# the counts as estimates, and its estimate of a large leak is close to the
# truth (20,000,000 bytes); the churn around it (100,000 blocks malloc'ed and
# freed) was sampled too and every sampled block's free was seen (the free
# path's filter let none of them through as "not sampled"): nothing live.
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
# the churn stack: the one with frames through churn() and the most allocations
churn=$(grep '^heap ' "$T/d" | sort -t= -k6 -n | tail -1)
echo "churn: $churn" | cut -c1-160
read -r clive ccount < <(echo "$churn" | sed -n 's/.* live_bytes=\([0-9]*\) .* total_count=\([0-9]*\) .*/\1 \2/p')
[ "${ccount:-0}" -gt 50000 ] || fail "churn estimated at ${ccount:-?} allocations (truth 100000)"
[ "$clive" = 0 ] || fail "churn shows $clive bytes live: frees of sampled blocks were missed"
ok "sampled estimate within 25%; sampled churn freed: nothing live"
