#!/usr/bin/env bash
# Writes the BTF of Debian's kernel for another architecture, for building
# the BPF programs CO-RE for that architecture (`make ARCH=arm64`): the
# running kernel's /sys/kernel/btf/vmlinux describes the build machine's
# struct pt_regs, not the target's. The kernel image comes from Debian's
# linux-image-ARCH package (apt-get download: nothing is installed); its BTF
# section is found by the BTF header (magic 0xeB9F) inside the image.
# Usage: scripts/vmlinux-btf.sh ARCH OUT.btf      (ARCH: Debian's name, arm64)
set -euo pipefail
arch=$1 out=$2
work=$(mktemp -d /tmp/leakaudit-vmlinux.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work" # apt-get download runs as _apt where it can

pkg=$(apt-cache depends "linux-image-$arch:$arch" 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {sub(/:.*/, "", $2); print $2; exit}')
if [ -z "$pkg" ]; then
    echo "vmlinux-btf: no linux-image-$arch package for $arch" \
        "(dpkg --add-architecture $arch && apt-get update)" >&2
    exit 1
fi
(cd "$work" && apt-get download -qq "$pkg:$arch" 2>/dev/null) || {
    echo "vmlinux-btf: apt-get download $pkg:$arch failed" >&2
    exit 1
}
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
python3 - "$work"/boot/vmlinuz-* "$out.tmp" <<'PY'
import gzip, struct, sys
data = open(sys.argv[1], 'rb').read()
if data[:2] == b'\x1f\x8b':  # an Image.gz
    data = gzip.decompress(data)
BTF_MAGIC = b'\x9f\xeb\x01\x00'  # magic 0xeB9F, version 1, flags 0
at = data.find(BTF_MAGIC)
while at >= 0:
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from('<5I', data, at + 4)
    # vmlinux's BTF: the standard header, types then strings, and big
    if hdr_len == 24 and type_off == 0 and str_off == type_len and type_len > (1 << 20):
        open(sys.argv[2], 'wb').write(data[at:at + hdr_len + type_len + str_len])
        sys.exit(0)
    at = data.find(BTF_MAGIC, at + 1)
sys.exit('vmlinux-btf: no BTF in %s (a kernel built without CONFIG_DEBUG_INFO_BTF)' % sys.argv[1])
PY
mv "$out.tmp" "$out"
echo "vmlinux-btf: $pkg:$arch -> $out"
