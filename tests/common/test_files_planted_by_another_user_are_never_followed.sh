#!/usr/bin/env bash
# Root writes into directories an unprivileged user can write (the issue's
# attacker): symlinks that user plants at `report -o`, `diff -o` and at
# snapshot temporaries are refused and their targets stay unchanged; output
# directories that are not root's own private ones are refused unless
# --allow-shared-dir says so; a dead writer's temporary is cleaned at the
# next start.
source "$(dirname "$0")/../lib.sh"
need_root
need_cmd setpriv
need_file "$LEAKAUDIT"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

chmod 711 "$T"
mkdir -m 1777 "$T/shared"
victim=$T/victim
echo "root secret" >"$victim"
chmod 644 "$victim"
check_victim() {
    assert_eq "$(cat "$victim")" "root secret" "the planted symlink's target was written"
    assert_eq "$(stat -c %a "$victim")" 644 "the planted symlink's target was chmodded"
}

"$LEAKAUDIT" run -q -o "$T/snaps" -- /bin/true
snap=$(ls "$T/snaps"/*.snap | sed -n 1p)

# report -o / diff -o onto a symlink planted by nobody
as_nobody ln -s "$victim" "$T/shared/report.txt"
if "$LEAKAUDIT" report -o "$T/shared/report.txt" "$T/snaps" 2>"$T/err"; then
    fail "report -o followed a planted symlink"
fi
assert_contains "$T/err" "report.txt: .*symlink"
check_victim
[ -L "$T/shared/report.txt" ] || fail "the planted symlink was replaced"
as_nobody ln -s "$victim" "$T/shared/diff.txt"
if "$LEAKAUDIT" diff -o "$T/shared/diff.txt" "$snap" "$snap" 2>"$T/err"; then
    fail "diff -o followed a planted symlink"
fi
assert_contains "$T/err" "diff.txt: .*symlink"
check_victim
ok "report -o and diff -o refuse a planted symlink, target unchanged"

# A regular file there is replaced (by rename), created 0600.
"$LEAKAUDIT" report -o "$T/shared/own.txt" "$T/snaps"
assert_eq "$(stat -c '%a %U' "$T/shared/own.txt")" "600 root"
ok "report -o writes a private regular file"

# Output directories owned by nobody, or writable by others, are refused.
as_nobody mkdir "$T/shared/nobodys"
if "$LEAKAUDIT" run -q -o "$T/shared/nobodys" -- /bin/true 2>"$T/err"; then
    fail "run -o accepted a directory owned by another user"
fi
assert_contains "$T/err" "output directory .*nobodys: is not owned by you"
if "$LEAKAUDIT" soak -a glibc -d 1s -o "$T/shared/nobodys" -- /bin/true 2>"$T/err"; then
    fail "soak -o accepted a directory owned by another user"
fi
assert_contains "$T/err" "output directory .*nobodys: is not owned by you"
LEAKAUDIT_OUT=$T/shared/nobodys LD_PRELOAD=$SHIM /bin/true 2>"$T/err"
assert_contains "$T/err" "cannot write snapshots into .*nobodys: is not owned by you"
[ -z "$(ls -A "$T/shared/nobodys")" ] || fail "the shim wrote into another user's directory"
if "$LEAKAUDIT" run -q -o "$T/shared" -- /bin/true 2>"$T/err"; then
    fail "run -o accepted a world-writable directory"
fi
assert_contains "$T/err" "writable by group or others"
ok "output directories not private to the caller are refused"

# With --allow-shared-dir, temporaries nobody plants are never written to.
as_nobody ln -s "$victim" "$T/shared/.true.1.000000.snap.1073741823.0123456789abcdef.tmp"
for i in 0 1 2 3; do
    as_nobody ln -s "$victim" "$T/shared/true.$$.00000$i.snap.tmp"
done
"$LEAKAUDIT" run -q --allow-shared-dir -o "$T/shared" -- /bin/true
check_victim
ls "$T/shared"/true.*.snap >/dev/null || fail "no snapshot written into the shared directory"
ok "--allow-shared-dir writes snapshots without following planted temporaries"

# A temporary of a writer that died (pid gone) is removed at the next start.
stale=$T/snaps/.true.1.000001.snap.1073741823.0123456789abcdef.tmp
echo partial >"$stale"
"$LEAKAUDIT" run -q -o "$T/snaps" -- /bin/true
[ ! -e "$stale" ] || fail "a dead writer's temporary was left in place"
ok "a dead writer's temporary is cleaned at the next run"
