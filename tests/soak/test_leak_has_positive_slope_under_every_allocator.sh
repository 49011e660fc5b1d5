#!/usr/bin/env bash
# A program that leaks ~5 MB/s shows a positive RSS slope and the `leaks`
# verdict under glibc, jemalloc, tcmalloc and mimalloc.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
soak "$T/out" -a glibc,jemalloc,tcmalloc,mimalloc -d 2s -i 200ms -- "$SOAKLOAD" leak
for a in glibc jemalloc tcmalloc mimalloc; do
    slope=$(field "$T/out" "$a" rss_slope_bytes_per_h)
    # 5 MB/s is 18 GB/h; anything above 1 GB/h is unmistakably growth.
    [ "$slope" -gt 1000000000 ] || fail "$a: RSS slope $slope bytes/h, expected a clear growth"
    verdict=$(field "$T/out" "$a" verdict)
    [[ "$verdict" == *leaks* ]] || fail "$a: verdict '$verdict', expected leaks"
    [ "$(field "$T/out" "$a" crashed)" = no ] || fail "$a: recorded as crashed"
    [ "$(wc -l <"$T/out/$a.csv")" -ge 6 ] || fail "$a: too few samples in $a.csv"
    ok "$a: slope $slope bytes/h, $verdict"
done
assert_contains "$T/out.table" '^mimalloc .* leaks'
