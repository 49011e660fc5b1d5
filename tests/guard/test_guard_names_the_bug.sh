#!/usr/bin/env bash
# Guard mode catches each kind of heap bug with the right kind and names the
# function involved (canary mode for redzone/free checks, guard pages for the
# exact faulting access), under glibc, jemalloc, tcmalloc and mimalloc;
# calloc overflow still returns NULL/ENOMEM; a clean program gets no report.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
CXX=$TESTBIN/guard/corrupt_cxx
need_file "$C"

# guarded MODE ALLOC SCENARIO [prog]: runs under guard, leaves the dump in $T/d
# (EXTRA: more `leakaudit run` options)
guarded() {
    local mode=$1 alloc=$2 sc=$3 prog=${4:-$C}
    rm -rf "$T/o"
    "$LEAKAUDIT" run -q --guard="$mode" --guard-sample 1 ${EXTRA:-} -a "$alloc" -o "$T/o" -- "$prog" "$sc" \
        >"$T/stdout" 2>"$T/stderr" || true
    dump_last "$T/o" >"$T/d"
}

# expect KIND FUNC-OF-FIELD FIELD(alloc|access|free) LABEL
expect() {
    local kind=$1 func=$2 field=$3 label=$4 line frames f0
    line=$(grep -m1 "^corruption kind=$kind " "$T/d")
    [ -n "$line" ] || { cat "$T/stderr" | head -20; fail "$label: no $kind event"; }
    frames=${line#* $field frames=}; frames=${frames%% *}
    local found=0 fr
    IFS=, read -ra fr <<<"$frames"
    for f0 in "${fr[@]:0:3}"; do
        [ "$(func_of "$f0")" = "$func" ] && found=1
    done
    [ $found = 1 ] || fail "$label: $kind's $field stack does not name $func: $line"
    grep -q "==leakaudit== $kind" "$T/stderr" || fail "$label: no report block on stderr"
    ok "$label: $kind, $field in $func"
}

for a in $ALLOCATORS; do
    guarded canary $a overflow1;  expect heap-buffer-overflow alloc_block alloc "[$a canary] overflow by 1"
    grep -q 'offset=100' "$T/d" || fail "overflow by 1: wrong offset"
    guarded canary $a overflow16; expect heap-buffer-overflow alloc_block alloc "[$a canary] overflow by 16"
    guarded canary $a underflow;  expect heap-buffer-underflow alloc_block alloc "[$a canary] underflow"
    guarded canary $a uaf_write;  expect use-after-free-write alloc_block alloc "[$a canary] UAF write"
    expect use-after-free-write main free "[$a canary] UAF write (free stack)"
    "$LEAKAUDIT" report "$T/o" >"$T/r" 2>&1 || true
    grep -q 'found by the periodic scan of the quarantine' "$T/r" || fail "[$a canary] UAF not found by the quarantine scan"
    guarded canary $a uaf_evicted; expect use-after-free-write alloc_block alloc "[$a canary] UAF write found at eviction"
    "$LEAKAUDIT" report "$T/o" >"$T/r" 2>&1 || true
    grep -q 'found when the block left the quarantine' "$T/r" || fail "[$a canary] UAF not found at eviction: $(grep -A1 '^#1 use' "$T/r")"
    expect use-after-free-write main free "[$a canary] UAF write found at eviction (free stack)"
    guarded canary $a double_free; expect double-free free_twice access "[$a canary] double free"
    guarded canary $a interior_free; expect invalid-free free_interior access "[$a canary] interior free"
    guarded canary $a stack_free; expect invalid-free free_stack access "[$a canary] stack free"
    guarded canary $a memalign_overflow; expect heap-buffer-overflow main alloc "[$a canary] memalign(256) overflow"
    guarded canary $a realloc_freed; expect double-free alloc_block alloc "[$a canary] realloc of a freed block"
    guarded canary $a calloc_overflow
    grep -q 'calloc overflow: NULL ENOMEM' "$T/stdout" || fail "[$a] calloc overflow did not fail with ENOMEM"
    ! grep -q '^corruption' "$T/d" || fail "[$a] calloc overflow reported as corruption"
    ok "[$a canary] calloc overflow: NULL/ENOMEM, no report"
    guarded canary $a mismatch "$CXX"; expect mismatched-free "mismatched_delete()" access "[$a canary] new[]/delete"
    guarded canary $a clean
    ! grep -q '^corruption' "$T/d" || fail "[$a] clean program reported: $(grep corruption "$T/d")"
    grep -q '^clean$' "$T/stdout" || fail "[$a] clean program did not finish"
    ok "[$a canary] clean program: no report"
    for m in canary both; do
        guarded $m $a fork_busy
        grep -q '^forked 300$' "$T/stdout" ||
            fail "[$a $m] fork while threads churn: $(cat "$T/stdout") $(head -40 "$T/stderr")"
        ! grep -q '^corruption' "$T/d" || fail "[$a $m] fork_busy reported: $(grep corruption "$T/d")"
    done
    ok "[$a canary, both] 300 forks while two threads churn: every child finished"
    guarded canary $a big_frees
    grep -q '^freed 2000$' "$T/stdout" ||
        fail "[$a canary] blocks larger than the quarantine freed while threads churn: $(cat "$T/stdout") $(head -3 "$T/stderr")"
    ! grep -q '^corruption' "$T/d" || fail "[$a canary] big_frees reported: $(grep corruption "$T/d")"
    ok "[$a canary] 2000 frees of blocks larger than the quarantine while two threads churn"

    guarded pages $a uaf_read;   expect use-after-free-read read_after_free access "[$a pages] UAF read"
    # C++ blocks get guard pages too (jemalloc's and tcmalloc's new never call malloc)
    guarded pages $a uaf_read "$CXX"
    expect use-after-free-read "read_after_delete(int const*)" access "[$a pages] C++ use after delete"
    expect use-after-free-read "alloc_ints()" alloc "[$a pages] C++ use after delete (alloc stack)"
    # after a new that threw, sampling goes on (mimalloc aborts on a request
    # that large instead of throwing: nothing to test there)
    if [ $a != mimalloc ]; then
        EXTRA="--track fd,mmap" guarded pages $a bad_alloc_then_uaf "$CXX"
        grep -q '^bad_alloc$' "$T/stdout" || fail "[$a pages] a failed new did not throw: $(cat "$T/stdout")"
        expect use-after-free-read "read_after_delete(int const*)" access \
            "[$a pages, heap tracking off] C++ use after delete after std::bad_alloc"
    fi
    guarded pages $a uaf_write;  expect use-after-free-write write_after_free access "[$a pages] UAF write"
done
# Guard pages alone, the always-on configuration (heap tracking off): the
# page blocks still carry their stacks.
EXTRA="--track fd,mmap" guarded pages glibc uaf_write
expect use-after-free-write write_after_free access "[pages, heap tracking off] UAF write"
expect use-after-free-write alloc_block alloc "[pages, heap tracking off] UAF write (alloc stack)"
expect use-after-free-write main free "[pages, heap tracking off] UAF write (free stack)"
for a in glibc jemalloc; do
    EXTRA="--track fd,mmap" guarded pages $a uaf_read
    expect use-after-free-read read_after_free access "[$a pages, heap tracking off] UAF read"
    expect use-after-free-read main free "[$a pages, heap tracking off] UAF read (free stack)"
    EXTRA="--track fd,mmap" guarded pages $a overflow16
    expect heap-buffer-overflow write_past_end access "[$a pages, heap tracking off] overflow by 16"
    # malloc, realloc (page blocks growing into ordinary ones) and free, all sampled
    EXTRA="--track fd,mmap" guarded pages $a clean
    grep -q '^clean$' "$T/stdout" && ! grep -q '^corruption' "$T/d" ||
        fail "[$a pages, heap tracking off] clean program: $(cat "$T/stdout") $(grep corruption "$T/d" | head -3)"
    ok "[$a pages, heap tracking off] clean program with realloc: finished, no report"
    EXTRA="--track fd,mmap" guarded pages $a calloc_overflow
    grep -q 'calloc overflow: NULL ENOMEM' "$T/stdout" ||
        fail "[$a pages, heap tracking off] calloc overflow did not fail with ENOMEM"
    ok "[$a pages, heap tracking off] calloc overflow: NULL/ENOMEM"
    EXTRA="--track fd,mmap" guarded pages $a fork_busy
    grep -q '^forked 300$' "$T/stdout" && ! grep -q '^corruption' "$T/d" ||
        fail "[$a pages, heap tracking off] fork while threads churn: $(cat "$T/stdout") $(head -3 "$T/stderr")"
    ok "[$a pages, heap tracking off] 300 forks while two threads churn: every child finished"
done
