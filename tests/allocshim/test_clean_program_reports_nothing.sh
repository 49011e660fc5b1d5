#!/usr/bin/env bash
# A program that frees and closes everything has no outstanding heap, fds or
# mmaps attributed to its own code.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
for a in $ALLOCATORS; do
    audit "$T/$a" "$a" "$PLANTED" clean
    dump_last "$T/$a" >"$T/d"
    own=$(grep '^heap ' "$T/d" | grep -v 'live_bytes=0 ' | grep "frames=$PLANTED:" || true)
    [ -z "$own" ] || fail "[$a] clean program has outstanding heap: $own"
    created=$(grep '^fd ' "$T/d" | grep -v 'origin=pre-existing' || true)
    [ -z "$created" ] || fail "[$a] clean program has open fds: $created"
    ! grep -q '^mmap ' "$T/d" || fail "[$a] clean program has mmaps"
    ok "[$a] clean"
done
