#!/usr/bin/env bash
# `report -o` and `diff -o` on a full disk: an error naming ENOSPC's text,
# a non-zero exit, and no 0-byte or partial file left at the target (an
# existing report there stays as it was).
source "$(dirname "$0")/../lib.sh"
need_root
need_file "$LEAKAUDIT"
mkdir "$T/mnt"
mount -t tmpfs -o size=1m tmpfs "$T/mnt" 2>/dev/null || skip "cannot mount a tmpfs here"
on_exit "umount -l '$T/mnt'"

"$LEAKAUDIT" run -q -o "$T/snaps" -- /bin/true
snap=$(ls "$T/snaps"/*.snap | sed -n 1p)
echo "previous report" >"$T/mnt/old.txt"
dd if=/dev/zero of="$T/mnt/fill" bs=64k count=64 2>/dev/null || true

for fmt in text html json; do
    rc=0
    "$LEAKAUDIT" report --format $fmt -o "$T/mnt/r.$fmt" "$T/snaps" 2>"$T/err" || rc=$?
    [ "$rc" != 0 ] || fail "report --format $fmt -o on a full disk exited 0"
    assert_contains "$T/err" "r.$fmt: .*No space left on device"
    [ ! -e "$T/mnt/r.$fmt" ] || fail "report -o left $(stat -c %s "$T/mnt/r.$fmt") bytes at the target"
done
rc=0
"$LEAKAUDIT" report -o "$T/mnt/old.txt" "$T/snaps" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] || fail "report -o over an existing file on a full disk exited 0"
assert_eq "$(cat "$T/mnt/old.txt")" "previous report" "the existing report was damaged"
rc=0
"$LEAKAUDIT" diff -o "$T/mnt/d.txt" "$snap" "$snap" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] || fail "diff -o on a full disk exited 0"
[ ! -e "$T/mnt/d.txt" ] || fail "diff -o left a file at the target"
[ -z "$(ls -A "$T/mnt" | grep '\.tmp$')" ] || fail "temporaries left behind: $(ls -A "$T/mnt")"
ok "report -o / diff -o on a full disk: error, non-zero exit, nothing left at the target"
