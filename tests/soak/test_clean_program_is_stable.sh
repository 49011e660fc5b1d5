#!/usr/bin/env bash
# A program that frees everything it allocates is `stable` under every
# allocator, its RSS slope small next to a leaker's.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
soak "$T/leak" -a glibc -d 2s -i 200ms -- "$SOAKLOAD" leak
leak_slope=$(field "$T/leak" glibc rss_slope_bytes_per_h)
[ "$leak_slope" -gt 0 ] || fail "the leaker's slope is $leak_slope"
soak "$T/clean" -a glibc,jemalloc,tcmalloc,mimalloc -d 2s -i 200ms --warmup 25 -- "$SOAKLOAD" clean
for a in glibc jemalloc tcmalloc mimalloc; do
    slope=$(field "$T/clean" "$a" rss_slope_bytes_per_h)
    abs=${slope#-}
    # Allocator caches settle in the first fraction of a second; what is left
    # must be a small fraction of the leaker's growth.
    [ "$abs" -lt $((leak_slope / 10)) ] ||
        fail "$a: clean slope $slope bytes/h is not small next to the leaker's $leak_slope"
    verdict=$(field "$T/clean" "$a" verdict)
    [ "$verdict" = stable ] || fail "$a: verdict '$verdict', expected stable"
    ok "$a: slope $slope bytes/h (leaker: $leak_slope), stable"
done
