#!/usr/bin/env bash
# The quarantine's promise: a freed canary block is not handed out again
# before LEAKAUDIT_QUARANTINE bytes of later frees -- and soon after, since a
# block of the same real size is recycled straight from the quarantine
# (checked for use-after-free writes on the way out). Under glibc and
# jemalloc, with a 1 MiB quarantine.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
need_file "$C"
Q=1048576

for a in glibc jemalloc; do
    rm -rf "$T/o"
    LEAKAUDIT_QUARANTINE=$Q "$LEAKAUDIT" run -q --guard=canary -a $a -o "$T/o" -- "$C" recycle_window \
        >"$T/stdout" 2>"$T/stderr" || fail "[$a] recycle_window failed: $(head -5 "$T/stderr")"
    n=$(sed -n 's/^reused after \(-*[0-9]*\) bytes$/\1/p' "$T/stdout")
    [ -n "$n" ] || fail "[$a] no result: $(cat "$T/stdout")"
    [ "$n" -ge $Q ] || fail "[$a] a freed block came back after $n bytes of frees (quarantine $Q)"
    [ "$n" -le $((Q + 2000)) ] || fail "[$a] a freed block came back only after $n bytes of frees (quarantine $Q)"
    ok "[$a] a freed block is handed out again after $n bytes of later frees (quarantine $Q)"

    rm -rf "$T/o"
    LEAKAUDIT_QUARANTINE=$Q "$LEAKAUDIT" run -q --guard=canary -a $a -o "$T/o" -- "$C" uaf_recycled \
        >"$T/stdout" 2>"$T/stderr" || true
    ! grep -q '^churned' "$T/stdout" || fail "[$a] use-after-free write not stopped before the churn ended"
    "$LEAKAUDIT" report "$T/o" >"$T/r" 2>&1 || true
    grep -q '^#1 use-after-free-write .*block of 200 bytes, offset 8' "$T/r" ||
        fail "[$a] no use-after-free write reported: $(head -20 "$T/r")"
    grep -q 'found when the block left the quarantine' "$T/r" ||
        fail "[$a] not found as the block was handed out again: $(grep -A1 '^#1' "$T/r")"
    ok "[$a] a use-after-free write is reported when its block is handed out again"
done
