#!/usr/bin/env bash
# Guard pages sample 1 in N allocations at random distances (mean N), not
# every N-th: a program that allocates from 10 sites in the same order every
# round gets blocks from all 10 sites guarded at N=10 -- with a fixed period
# it would be the same site every time and the other nine never. And
# --guard-size restricts the sampling to blocks of a size range.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
need_file "$C"

for a in glibc jemalloc; do
    rm -rf "$T/o"
    # heap tracking off: the only blocks recorded are the guarded ones
    "$LEAKAUDIT" run -q --guard=pages --guard-sample 10 --track fd,mmap -a $a -o "$T/o" -- \
        "$C" periodic_sites >"$T/stdout" 2>"$T/stderr" || fail "[$a] periodic_sites failed: $(head -5 "$T/stderr")"
    grep -q '^kept 2000$' "$T/stdout" || fail "[$a] periodic_sites did not finish: $(cat "$T/stdout")"
    dump_last "$T/o" >"$T/d"
    total=$(sed -n 's/^heap .* live_count=\([0-9]*\) .*/\1/p' "$T/d" | awk '{s += $1} END {print s + 0}')
    [ "$total" -ge 120 ] && [ "$total" -le 300 ] ||
        fail "[$a] $total of 2000 blocks got a guard page at 1 in 10"
    "$LEAKAUDIT" report --top 50 "$T/o" >"$T/r" 2>&1 || true
    sites=$(grep -o '\bsite[0-9]\b' "$T/r" | sort -u | wc -l)
    [ "$sites" -ge 9 ] || fail "[$a] guarded blocks came from $sites of the 10 sites: $(grep -o '\bsite[0-9]\b' "$T/r" | sort | uniq -c | tr '\n' ' ')"
    ok "[$a] 1 in 10 of 2000 allocations from 10 sites in a fixed order: $total guarded, from $sites sites"
done

# --guard-size: only blocks of that size range are sampled
count_guarded() { # count_guarded SIZE-RANGE: guarded blocks of periodic_sites at 1 in 1
    rm -rf "$T/o"
    "$LEAKAUDIT" run -q --guard=pages --guard-sample 1 --guard-size "$1" --track fd,mmap -o "$T/o" -- \
        "$C" periodic_sites >"$T/stdout" 2>"$T/stderr" || fail "periodic_sites --guard-size $1 failed"
    dump_last "$T/o" | sed -n 's/^heap .* live_count=\([0-9]*\) .*/\1/p' | awk '{s += $1} END {print s + 0}'
}
n=$(count_guarded 64)
[ "$n" = 2000 ] || fail "--guard-size 64: $n of the 2000 64-byte blocks guarded"
n=$(count_guarded 65-4k)
[ "$n" = 0 ] || fail "--guard-size 65-4k: $n 64-byte blocks guarded"
n=$(count_guarded -64)
[ "$n" -ge 2000 ] || fail "--guard-size -64: $n blocks guarded"
ok "--guard-size: 64 guards all 2000 blocks of 64 bytes, 65-4k none of them, -64 all"
"$LEAKAUDIT" run --guard=pages --guard-size 10-5 -- true 2>"$T/err" && fail "--guard-size 10-5 accepted"
grep -q 'guard-size 10-5: expected' "$T/err" || fail "no clear error for --guard-size 10-5: $(cat "$T/err")"
ok "--guard-size 10-5 refused with a clear error"
