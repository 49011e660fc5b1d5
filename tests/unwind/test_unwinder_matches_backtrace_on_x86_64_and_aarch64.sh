#!/usr/bin/env bash
# The user-space unwinder (unw_step over unwind tables) walks its own stack
# -- through a qsort callback in libc and functions built -O2
# -fomit-frame-pointer -- to the same return addresses as glibc's
# backtrace() (libgcc's DWARF unwinder), on x86-64 natively and on aarch64
# under qemu-aarch64 (statically linked), with and without pointer
# authentication.
source "$(dirname "$0")/../lib.sh"
need_cmd aarch64-linux-gnu-gcc
need_cmd qemu-aarch64
SRC="$ROOT/tests/unwind/selfunwind.c $ROOT/common/unwind_table.c $ROOT/common/unwind_rows.c \
    $ROOT/common/unwind_elf.c"
F="-std=gnu11 -D_GNU_SOURCE -O2 -g -fomit-frame-pointer -fno-optimize-sibling-calls -I$ROOT/common"

# shellcheck disable=SC2086
gcc $F -o "$T/x86" $SRC
"$T/x86" | sed 's/^/[x86-64] /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "x86-64: the unwinder disagrees with backtrace()"

# shellcheck disable=SC2086
aarch64-linux-gnu-gcc $F -static -Wl,--eh-frame-hdr -o "$T/a64" $SRC
qemu-aarch64 "$T/a64" | sed 's/^/[aarch64] /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "aarch64: the unwinder disagrees with backtrace()"

# shellcheck disable=SC2086
aarch64-linux-gnu-gcc $F -mbranch-protection=standard -static -Wl,--eh-frame-hdr -o "$T/pac" $SRC
qemu-aarch64 -cpu max "$T/pac" | sed 's/^/[aarch64+pac] /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "aarch64 with pointer authentication: the unwinder disagrees"
