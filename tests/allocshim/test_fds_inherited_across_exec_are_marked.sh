#!/usr/bin/env bash
# Each open fd's close-on-exec flag is in the snapshot (flags=1) as the kernel
# sees it at snapshot time -- set at open (O_CLOEXEC, SOCK_CLOEXEC,
# F_DUPFD_CLOEXEC) or later (fcntl F_SETFD), and not copied by dup -- and the
# report's fd rows say how many of their fds are close-on-exec: the others
# leak into every program the process execs.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
PROG=$TESTBIN/allocshim/cloexec_fds
need_file "$PROG"

"$LEAKAUDIT" run -q -o "$T/out" -- "$PROG" "$T/fds" || fail "the program failed"
read -r _ inherited < <(grep '^inherited' "$T/fds")
read -r _ cloexec < <(grep '^cloexec' "$T/fds")
dump_last "$T/out" cloexec_fds >"$T/d"
check_flags() { # FLAGS FD...
    local want=$1 fd
    shift
    for fd in "$@"; do
        grep -q "^fd fd=$fd .*flags=$want " "$T/d" ||
            { grep "^fd fd=$fd " "$T/d"; fail "fd $fd: expected flags=$want"; }
    done
}
# shellcheck disable=SC2086 # lists of fd numbers
check_flags 0 $inherited
# shellcheck disable=SC2086
check_flags 1 $cloexec
ok "flags=1 on the close-on-exec fds ($cloexec), 0 on the inherited ones ($inherited)"

"$LEAKAUDIT" report -f text "$T/out" >"$T/report" || fail "report failed"
row() { # FUNC: the kind line of the fd row whose stack shows FUNC
    awk -v f="$1" '/^#[0-9]+ / { kind = "" } /^   kind:/ { kind = $0 } $0 ~ f && kind { print kind; exit }' \
        "$T/report"
}
for f in open_plain dup_of_cloexec; do
    row "$f" | grep "cloexec 0/1" >/dev/null || { row "$f"; fail "$f's row: expected cloexec 0/1"; }
done
for f in open_cloexec open_then_setfd socket_cloexec dupfd_cloexec; do
    row "$f" | grep "cloexec 1/1" >/dev/null || { row "$f"; fail "$f's row: expected cloexec 1/1"; }
done
ok "text report: cloexec 0/1 on open_plain and dup_of_cloexec, 1/1 on the others"

"$LEAKAUDIT" report -f json "$T/out" >"$T/json" || fail "json report failed"
python3 - "$T/json" <<'PY' || fail "json: cloexec counts wrong"
import json, sys
rep = json.load(open(sys.argv[1]))
rows = rep["fds"]["stacks"]
def of(func):
    for r in rows:
        if any(func in (fr.get("function") or "") for fr in r.get("frames", [])):
            return r
    sys.exit(f"no fd row for {func}")
for func, want in [("open_plain", 0), ("open_cloexec", 1), ("dup_of_cloexec", 0)]:
    r = of(func)
    if r.get("open") != 1 or r.get("cloexec") != want:
        sys.exit(f"{func}: open={r.get('open')} cloexec={r.get('cloexec')}, expected 1/{want}")
PY
ok "json report: open and cloexec per fd row"
