#!/usr/bin/env bash
# `leakaudit run` turns every setup problem into one line and a non-zero
# exit: unknown option values, a command that cannot be executed (127, no
# output directory left behind), an output directory it cannot write, a
# full disk (ENOSPC named) -- before the program starts, and after it when
# the disk filled up meanwhile, without presenting an older snapshot as the
# state at exit.
source "$(dirname "$0")/../lib.sh"
need_file "$LEAKAUDIT"
cd "$T"

expect_rc() { # expect_rc RC REGEX CMD...
    local want=$1 re=$2 rc=0
    shift 2
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want" ] || { cat "$T/err"; fail "$*: exit $rc, expected $want"; }
    assert_contains "$T/err" "$re"
    [ "$(wc -l <"$T/err")" -le 2 ] || { cat "$T/err"; fail "$*: more than one line of error"; }
}
expect_rc 2 "--track bogus: expected" "$LEAKAUDIT" run -q --track bogus -- true
expect_rc 2 "--signal KILL: expected" "$LEAKAUDIT" run -q --signal KILL -- true
expect_rc 2 "--max-stacks 0: expected" "$LEAKAUDIT" run -q --max-stacks 0 -- true
ok "unknown option values are usage errors"

expect_rc 127 "run: /nonexistent: command not found" "$LEAKAUDIT" run -q -- /nonexistent
[ -z "$(ls -d leakaudit-* 2>/dev/null)" ] || fail "an empty output directory was left behind"
expect_rc 1 "soak: /nonexistent: command not found" "$LEAKAUDIT" soak -a glibc -d 1s -o "$T/s" -- /nonexistent
ok "a command that cannot be executed is an error, not a crash"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 711 "$T"
    mkdir -m 500 "$T/ro" && chown 65534:65534 "$T/ro"
    expect_rc 1 "cannot write snapshots into .*ro: Permission denied" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$LEAKAUDIT" run -q -o "$T/ro" -- true
    ok "an output directory the user cannot write is an error before the run"
else
    echo "# (unwritable directory: needs root and setpriv to act as another user)"
fi

if [ "$(id -u)" = 0 ] && mkdir "$T/mnt" && mount -t tmpfs -o size=2m tmpfs "$T/mnt" 2>/dev/null; then
    on_exit "umount -l '$T/mnt'"
    mkdir -m 700 "$T/mnt/out"
    dd if=/dev/zero of="$T/mnt/fill" bs=64k count=64 2>/dev/null || true
    expect_rc 1 "cannot write snapshots into .*: No space left on device \(ENOSPC\)" \
        "$LEAKAUDIT" run -q -o "$T/mnt/out" -- true
    rm -f "$T/mnt/fill"
    # The disk fills after the first periodic snapshots: the target waits
    # for snapshot #1 to exist, fills the disk, and exits 0.
    rc=0
    LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -i 200ms -o "$T/mnt/out" -- sh -c '
        for i in $(seq 300); do ls "$1"/*.000001.snap >/dev/null 2>&1 && break; sleep 0.1; done
        dd if=/dev/zero of="$2" bs=64k count=64 2>/dev/null
        exit 0' _ "$T/mnt/out" "$T/mnt/fill" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] || { cat "$T/err"; fail "disk full during the run: exit $rc, expected 1"; }
    assert_contains "$T/err" "run: cannot write snapshots into .*No space left on device \(ENOSPC\)"
    assert_contains "$T/err" "no exit snapshot: what follows is not the state at exit"
    assert_not_contains "$T/err" "outstanding at exit"
    ok "a disk that fills during the run: ENOSPC named, exit 1, no stale figures shown as current"
else
    echo "# (full disk: needs root to mount a small tmpfs)"
fi
