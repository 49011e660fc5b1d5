#!/usr/bin/env bash
# The unwind tables compiled from .eh_frame/.debug_frame (common/unwind_table.c)
# agree with binutils' own interpretation of the same call-frame information
# (readelf -wF) at every location it lists, on Debian's x86-64 libraries and
# programs and on aarch64 ones (the cross toolchain's libc, libstdc++, ld.so,
# and a library built -O2 -fomit-frame-pointer, with and without
# pointer authentication).
source "$(dirname "$0")/../lib.sh"
UNWDUMP=$TESTBIN/common/unwdump
CMP=$ROOT/tests/unwind/compare_readelf.py
need_file "$UNWDUMP"
need_cmd readelf
need_cmd python3
need_cmd aarch64-linux-gnu-gcc

check() {
    python3 "$CMP" "$UNWDUMP" "$1" || fail "table of $1 disagrees with readelf"
}

for lib in libc.so.6 libstdc++.so.6 libtesseract.so.5 libavcodec.so.59; do
    f=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !f {f = $NF} END {print f}')
    [ -n "$f" ] || fail "$lib is not installed (make deps)"
    check "$f"
done
check /lib64/ld-linux-x86-64.so.2
check "$(readlink -f /usr/bin/python3)"
check "$TESTBIN/unwind/unwind_cases"
check "$TESTBIN/unwind/libdeep.so"

A64=/usr/aarch64-linux-gnu/lib
for f in "$A64/libc.so.6" "$A64/libstdc++.so.6" "$A64/ld-linux-aarch64.so.1"; do
    need_file "$f"
    check "$f"
done
aarch64-linux-gnu-gcc -O2 -fomit-frame-pointer -fPIC -shared -o "$T/a64.so" "$ROOT/tests/unwind/libdeep.c"
check "$T/a64.so"
aarch64-linux-gnu-gcc -O2 -mbranch-protection=standard -fPIC -shared -o "$T/a64pac.so" \
    "$ROOT/tests/unwind/libdeep.c"
check "$T/a64pac.so"
# .debug_frame only (no .eh_frame): -fno-asynchronous-unwind-tables -g
gcc -O2 -g -fno-asynchronous-unwind-tables -fno-unwind-tables -fPIC -shared \
    -o "$T/dbgframe.so" "$ROOT/tests/unwind/libdeep.c"
readelf -S "$T/dbgframe.so" | grep '\.debug_frame' >/dev/null || fail "gcc made no .debug_frame"
check "$T/dbgframe.so"
ok "tables match readelf -wF"
