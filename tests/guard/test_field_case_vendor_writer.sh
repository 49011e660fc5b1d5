#!/usr/bin/env bash
# Field case 1: a "vendor runtime" thread writes past a tensor buffer; plain
# glibc aborts later in the innocent JPEG path; guard pages name the vendor
# writer, the block it hit and who allocated it; canary mode names the block
# and its allocator; jemalloc without the guard just survives (hides it).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
need_file "$C"
rc=0
"$C" field >"$T/bare.out" 2>"$T/bare.err" || rc=$?
[ $rc -ne 0 ] || fail "plain glibc did not crash on the field case"
grep -Eq 'free\(\)|malloc\(\)|corrupt' "$T/bare.err" || fail "no glibc message: $(cat "$T/bare.err")"
ok "plain glibc aborts later, elsewhere: $(head -1 "$T/bare.err") (exit $rc)"

LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 "$C" field >"$T/je.out" 2>&1 || true
grep -q survived "$T/je.out" && ok "jemalloc alone survives: the corruption is hidden"

"$LEAKAUDIT" run -q --guard=pages --guard-sample 1 -o "$T/p" -- "$C" field >"$T/p.out" 2>"$T/p.err" || true
dump_last "$T/p" >"$T/d"
line=$(grep -m1 '^corruption kind=heap-buffer-overflow' "$T/d")
[ -n "$line" ] || { cat "$T/p.err"; fail "guard pages did not catch the write"; }
acc=${line#* access frames=}
found=0
IFS=, read -ra fr <<<"$acc"
for f in "${fr[@]:0:3}"; do [ "$(func_of "$f")" = vendor_runtime_thread ] && found=1; done
[ $found = 1 ] || fail "the writer is not named: $line"
al=${line#* alloc frames=}; al=${al%%,*}
[ "$(func_of "$al")" = alloc_tensor ] || fail "the block's allocator is not named: $line"
ok "guard pages: writer vendor_runtime_thread, block from alloc_tensor"
# the symbolized report names them with file:line too
"$LEAKAUDIT" report "$T/p" >"$T/r.txt" 2>&1 || true
grep -A4 'bad access at' "$T/r.txt" | grep 'vendor_runtime_thread  .*corrupt.c:' >/dev/null ||
    fail "report does not name the writer with file:line"
ok "report: writer with file:line"

"$LEAKAUDIT" run -q --guard=canary -o "$T/c" -- "$C" field >"$T/c.out" 2>"$T/c.err" || true
dump_last "$T/c" >"$T/d"
line=$(grep -m1 '^corruption kind=heap-buffer-overflow' "$T/d")
al=${line#* alloc frames=}; al=${al%%,*}
[ "$(func_of "$al")" = alloc_tensor ] || fail "canary mode does not name the block's allocator: $line"
ok "canary: the overwritten block and its allocator (alloc_tensor) are named"
