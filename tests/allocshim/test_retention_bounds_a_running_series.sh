#!/usr/bin/env bash
# A running program's series is retired as it goes: with --max-disk the
# directory never holds more than the bound (plus the protected first, peak
# and newest snapshots), the first snapshot stays, and the snapshots say how
# many were retired. Bad values are usage errors.
source "$(dirname "$0")/../lib.sh"
need_file "$LEAKAUDIT"
need_file "$SNAPDUMP"
cd "$T"

# The target (a shell, its commands not audited) waits -- a condition,
# bounded -- until the shim has written 30 snapshots of its series.
LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -q -i 20ms --max-disk 24K -o "$T/out" -- sh -c '
    unset LD_PRELOAD
    for i in $(seq 600); do
        n=$(ls "$1" | sed -n "s/.*\.0*\([0-9][0-9]*\)\.snap$/\1/p" | sort -n | tail -1)
        [ "${n:-0}" -ge 30 ] && exit 0
        sleep 0.05
    done
    exit 1' _ "$T/out" || fail "the shim did not write 30 snapshots"
bytes=$(du -sb --apparent-size "$T/out" | cut -f1)
n=$(ls "$T/out" | wc -l)
echo "# $n snapshots kept, $bytes bytes (bound 24K + first, peak, newest)"
first=$(ls "$T/out" | grep '\.000000\.snap$' | sed -n 1p)
[ -n "$first" ] || fail "the first snapshot was retired"
size=$(stat -c %s "$T/out/$first")
[ "$bytes" -le $((24 * 1024 + 3 * size + 4096)) ] || fail "$bytes bytes on disk, over the bound"
last=$(ls "$T/out" | sort -t. -k4,4n | tail -1)
"$SNAPDUMP" "$T/out/$last" >"$T/dump"
assert_contains "$T/dump" "snapshots_retired[= ][1-9]"
ok "--max-disk bounds a running series, first kept, retirements counted"

rc=0
"$LEAKAUDIT" run -q --max-disk lots -- true 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "--max-disk lots: exit $rc"
rc=0
"$LEAKAUDIT" run -q --keep-for forever -- true 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "--keep-for forever: exit $rc"
rc=0
"$LEAKAUDIT" run -q --thin maybe -- true 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "--thin maybe: exit $rc"
ok "bad retention values are usage errors"
