#!/usr/bin/env bash
# timeout: 120
# `leakaudit soak --with-shim` on a fragmenting program (tests/memory/
# fragment: ~100 MB of small blocks, 99 % freed, every 100th kept) gives each
# allocator its own retained figure from the shim's memory breakdown -- the
# table's "retained" column, summary.tsv's retained_bytes -- and one line per
# allocator saying how much more (or less) freed memory it returns than glibc.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
need_file "$SHIM"
FRAG=$TESTBIN/memory/fragment
need_file "$FRAG"
soak "$T/out" --with-shim -a glibc,jemalloc,tcmalloc,mimalloc -d 4s -i 250ms -- "$FRAG" 2
MIB=1048576
for a in glibc jemalloc tcmalloc mimalloc; do
    kept=$(field "$T/out" "$a-shim" retained_bytes)
    live=$(field "$T/out" "$a-shim" live_heap_bytes)
    [ "$kept" != - ] && [ "$kept" -ge $((20 * MIB)) ] || fail "[$a] retained $kept, expected >= 20 MiB"
    [ "$live" -ge $((MIB - 4096)) ] && [ "$live" -le $((2 * MIB)) ] || fail "[$a] live heap $live, expected ~1 MiB"
    ok "[$a] retained $((kept / MIB)) MiB of freed memory, live heap $((live / 1024)) KiB"
done
assert_contains "$T/out.table" '^run .* retained '
for a in jemalloc tcmalloc mimalloc; do
    assert_contains "$T/out.table" "^retention: $a (returns|keeps) [0-9.]+ [KMG]?i?B more of freed memory than glibc"
    assert_contains "$T/out/summary.md" "^- Retention: $a (returns|keeps) "
done
grep '^retention:' "$T/out.table"
