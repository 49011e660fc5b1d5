#!/usr/bin/env bash
# Installs, with apt-get, only the Debian 12 packages leakaudit needs that are
# missing. Safe to run again: it does nothing when everything is present.
# Usage: scripts/deps.sh            (build + test + demo dependencies)
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
    bpftrace golang-go chromium procps psmisc curl wrk iproute2 file
    # make install's man pages (man -l) and promtool for the Prometheus output
    man-db groff-base prometheus
)

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
if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] ||
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
