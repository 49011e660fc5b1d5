#!/usr/bin/env bash
# Installs, with apt-get, only the Debian 12 packages leakaudit needs that are
# missing. Safe to run again: it does nothing when everything is present.
# Usage: scripts/deps.sh            (build + test + demo dependencies)
#        scripts/deps.sh arm64      (those, and the arm64 cross-build and
#                                   qemu-user test dependencies: make test-arm64)
set -euo pipefail

PACKAGES=(
    # build
    build-essential clang llvm pkg-config bpftool libbpf-dev libelf-dev libdw-dev
    # aarch64: the unwind-table tests read arm64 objects and run them under qemu-user
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    libunwind-dev zlib1g-dev libcmocka-dev clang-format
    # allocators compared and supported
    libjemalloc-dev libjemalloc2 libgoogle-perftools-dev libtcmalloc-minimal4
    libmimalloc-dev libmimalloc2.0
    # inferd: decode, convert, OCR backend, JPEG, HTTP, JSON
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
    libtesseract-dev tesseract-ocr-eng libleptonica-dev libturbojpeg0-dev
    libmicrohttpd-dev libjansson-dev fonts-dejavu-core
    # tests: real programs under the shim, peers, viewers
    python3 libpython3.11-testsuite sqlite3 git bash gcc valgrind heaptrack jq xz-utils
    libc6-dbg  # libc frames with file:line; the symbolizer is checked against llvm-symbolizer on them
    bpftrace golang-go chromium procps psmisc curl wrk iproute2 file
    # make install's man pages (man -l) and promtool for the Prometheus output
    man-db groff-base prometheus
)

# make ARCH=arm64 / make test-arm64 (docs/architectures.md): the cross
# toolchain, the static qemu-aarch64 for binfmt_misc, and arm64 libraries
# from Debian's multiarch (dpkg --add-architecture arm64). Not
# libtesseract-dev:arm64: it cannot be installed beside the amd64 one
# (libleptonica-dev is not Multi-Arch: same); inferd/part.mk links the
# runtime libraries below with the build machine's headers.
ARM64_PACKAGES=(
    crossbuild-essential-arm64 qemu-user-static binutils-aarch64-linux-gnu
    libc6:arm64 libc6-dev:arm64 libc6-dbg:arm64 libstdc++6:arm64 libcmocka-dev:arm64
    libdw-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 libbpf-dev:arm64
    libjemalloc2:arm64 libtcmalloc-minimal4:arm64 libmimalloc2.0:arm64
    libavformat-dev:arm64 libavcodec-dev:arm64 libavutil-dev:arm64 libswscale-dev:arm64
    libtesseract5:arm64 liblept5:arm64 libturbojpeg0-dev:arm64 libmicrohttpd-dev:arm64
    libjansson-dev:arm64
)
force_update=0
if [ "${1:-}" = arm64 ]; then
    PACKAGES+=("${ARM64_PACKAGES[@]}")
    if ! dpkg --print-foreign-architectures | grep -qx arm64 && [ "$(dpkg --print-architecture)" != arm64 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "deps: run as root to add the arm64 architecture (dpkg --add-architecture arm64)" >&2
            exit 1
        fi
        dpkg --add-architecture arm64
        force_update=1
    fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
    # dpkg-query prints "install ok installed" only for a fully installed package.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run as root (or: sudo $0) to install them" >&2
    exit 1
fi

echo "deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/update-success-stamp
if [ $force_update = 1 ] || [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] ||
    [ -n "$(find /var/lib/apt/lists -maxdepth 0 -mmin +360 2>/dev/null)" ]; then
    apt-get update -qq
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/leakaudit-deps.log 2>&1; then
    # A stale package list is the usual cause: refresh once and retry.
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/leakaudit-deps.log 2>&1 || {
        tail -20 /tmp/leakaudit-deps.log >&2
        echo "deps: apt-get install failed (log: /tmp/leakaudit-deps.log)" >&2
        exit 1
    }
fi
: "$stamp"
echo "deps: done"
