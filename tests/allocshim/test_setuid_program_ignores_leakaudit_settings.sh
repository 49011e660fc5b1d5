#!/usr/bin/env bash
# A setuid-root program under a preloaded shim (the system-wide preload
# case) stays untouched: it ignores LEAKAUDIT_OUT and every other setting,
# writes nothing and tracks nothing -- unless root created the allow file
# (/etc/leakaudit/allow-setuid). In secure-execution mode ld.so preloads only
# setuid libraries from system directories, so the shim is bind-mounted over
# an unused system library inside a private mount namespace: nothing outside
# this test sees it.
source "$(dirname "$0")/../lib.sh"
need_root
need_cmd setpriv
need_cmd unshare
need_file "$SHIM"
need_cmd gcc
SYSLIB=/usr/lib/x86_64-linux-gnu/libBrokenLocale.so.1
[ -f "$SYSLIB" ] || skip "$SYSLIB (the library the shim is mounted over) is missing"
unshare -m true 2>/dev/null || skip "cannot create a mount namespace here"

chmod 711 "$T"
gcc -O1 -o "$T/suid_helper" "$ROOT/tests/allocshim/suid_helper.c"
chmod 4755 "$T/suid_helper"
cp "$SHIM" "$T/libshim.so"
chmod 4755 "$T/libshim.so"
mkdir -m 1777 "$T/pub"
secret=$T/secret
echo "first line of a root-only file" >"$secret"
chmod 600 "$secret"

# run_as_nobody OUTDIR [ALLOW]: the helper, as nobody, with the shim preloaded
# and LEAKAUDIT_* pointing where the user wants.
run_as_nobody() {
    unshare -m bash -c '
        mount --bind "$1" "$2" || exit 90
        if [ "$4" = allow ]; then
            mount -t tmpfs tmpfs /etc/leakaudit || exit 91
            touch /etc/leakaudit/allow-setuid && chmod 644 /etc/leakaudit/allow-setuid
        fi
        exec setpriv --reuid=65534 --regid=65534 --clear-groups \
            env LD_PRELOAD=libBrokenLocale.so.1 LEAKAUDIT_OUT="$3" \
            LEAKAUDIT_TRACK_FILE="$5" LEAKAUDIT_INTERVAL=0 "$6"
    ' _ "$T/libshim.so" "$SYSLIB" "$1" "${2:-deny}" "$secret" "$T/suid_helper"
}

run_as_nobody "$T/pub/out" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "the helper failed"; }
assert_contains "$T/out" "ruid=65534 euid=0 at_secure=1"
# the shim was loaded (so the test tests something)
unshare -m bash -c 'mount --bind "$1" "$2" && LEAKAUDIT_OUT="$3" LD_PRELOAD=libBrokenLocale.so.1 cat /proc/self/maps' \
    _ "$T/libshim.so" "$SYSLIB" "$T/maps-out" >"$T/maps"
assert_contains "$T/maps" "libBrokenLocale.so.1" "the shim was not preloaded from the system directory"
[ ! -e "$T/pub/out" ] || fail "a setuid program honoured LEAKAUDIT_OUT: $(ls -la "$T/pub/out")"
assert_not_contains "$T/err" "first line of a root-only file"
assert_not_contains "$T/err" "leakaudit"
ok "a setuid-root program ignores LEAKAUDIT_OUT and LEAKAUDIT_TRACK_FILE, prints nothing"

# Root can allow it explicitly. The allow file lives on a tmpfs private to
# the namespace; the empty mount point is created if missing, removed after.
if [ ! -d /etc/leakaudit ]; then
    mkdir /etc/leakaudit
    on_exit "rmdir /etc/leakaudit"
fi
run_as_nobody "$T/pub/allowed" allow >"$T/out" 2>"$T/err" || true
ls "$T/pub/allowed"/*.snap >/dev/null 2>&1 || { cat "$T/err"; fail "root's allow file did not enable the shim"; }
ok "with root's /etc/leakaudit/allow-setuid the shim audits it"
