#!/usr/bin/env bash
# Lets this machine run aarch64 programs as if they were its own: registers
# qemu-aarch64 (qemu-user) with the kernel's binfmt_misc, so that execve of
# an arm64 ELF -- `leakaudit run` starting its command, a shell test
# starting build-arm64/bin/leakaudit -- goes through the emulator. The arm64
# libraries come from the multiarch root (libc6:arm64 etc. in
# /usr/lib/aarch64-linux-gnu), so no -L prefix is needed. The static
# emulator (qemu-user-static) is preferred: the dynamic one is itself
# subject to LD_PRELOAD, and its loader complains about the arm64 shim in
# it before passing it on to the program. Safe to run again: a registration
# of that emulator is kept. Needs root. Prints why when it cannot.
set -euo pipefail
BINFMT=/proc/sys/fs/binfmt_misc
QEMU=${QEMU_AARCH64:-/usr/bin/qemu-aarch64-static}
[ -x "$QEMU" ] || QEMU=/usr/bin/qemu-aarch64
NAME=qemu-aarch64

[ -x "$QEMU" ] || { echo "qemu-binfmt: no qemu-aarch64 (apt-get install qemu-user-static)" >&2; exit 1; }
if [ ! -e "$BINFMT/register" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "qemu-binfmt: binfmt_misc is not mounted and we are not root" >&2; exit 1; }
    mount -t binfmt_misc binfmt_misc "$BINFMT" || {
        echo "qemu-binfmt: cannot mount binfmt_misc on $BINFMT" >&2
        exit 1
    }
fi
for f in "$BINFMT"/*; do
    [ -f "$f" ] && grep -qx "interpreter $QEMU" "$f" 2>/dev/null && grep -q '^enabled' "$f" && exit 0
done
[ "$(id -u)" -eq 0 ] || { echo "qemu-binfmt: registering $NAME needs root" >&2; exit 1; }
# another emulator under our name (an older run with the dynamic one): replace it
[ -e "$BINFMT/$NAME" ] && echo -1 >"$BINFMT/$NAME"
# ELF64, little-endian, e_machine EM_AARCH64 (183), executable or shared
# object; the same magic and mask as qemu's own qemu-binfmt-conf.sh. F: the
# kernel opens the emulator now, so it works in any mount namespace.
magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
printf ':%s:M::%s:%s:%s:F' "$NAME" "$magic" "$mask" "$QEMU" >"$BINFMT/register"
echo "qemu-binfmt: registered $QEMU for aarch64 programs"
