#!/usr/bin/env bash
# timeout: 120
# CAP_BPF + CAP_PERFMON (the documented alternative to root) do not make a
# user able to trace someone else's process: attach applies ptrace's rule
# (same real uid/gid, or CAP_SYS_PTRACE) and refuses with one clear line.
# On the user's own process the capabilities work (with --no-heap; heap
# tracking's uprobes need CAP_SYS_ADMIN too, and the error says so).
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
need_cmd setpriv
as_nobody_bpf() {
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+bpf,+perfmon \
        --ambient-caps=+bpf,+perfmon "$@"
}
as_nobody_bpf true 2>/dev/null || skip "setpriv cannot grant ambient CAP_BPF/CAP_PERFMON here"
chmod 711 "$T"
mkdir -m 777 "$T/pub"

# root's process
"$LEAKER" clean "$T/never" "$T/counters" &
RPID=$!
on_exit "kill $RPID 2>/dev/null"
rc=0
as_nobody_bpf "$LEAKAUDIT" attach -p $RPID -d 1 -o "$T/pub/root" >"$T/out" 2>"$T/err" || rc=$?
[ $rc = 1 ] || { cat "$T/err"; fail "attach to another user's process: exit $rc, expected 1"; }
[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err"; fail "not one line"; }
assert_contains "$T/err" "^leakaudit attach: permission denied: pid $RPID runs as uid 0, you as uid 65534.*CAP_SYS_PTRACE"
[ ! -e "$T/pub/root" ] || fail "an output directory was created for a refused attach"
[ -z "$(our_bpf_left)" ] || fail "left behind: $(our_bpf_left)"
ok "CAP_BPF+CAP_PERFMON as another user: refused, $(cat "$T/err")"

# nobody's own process
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 60 &
NPID=$!
on_exit "kill $NPID 2>/dev/null"
for _ in $(seq 100); do [ "$(stat -c %u /proc/$NPID 2>/dev/null)" = 65534 ] && break; sleep 0.05; done
rc=0
as_nobody_bpf "$LEAKAUDIT" attach --no-heap -p $NPID -d 1 -o "$T/pub/own" >"$T/out" 2>"$T/err" || rc=$?
[ $rc = 0 ] || { cat "$T/err"; fail "attach --no-heap to one's own process failed (exit $rc)"; }
ls "$T/pub/own"/*.snap >/dev/null || fail "no snapshot"
rc=0
as_nobody_bpf "$LEAKAUDIT" attach -p $NPID -d 1 -o "$T/pub/own-heap" >"$T/out" 2>"$T/err" || rc=$?
if [ $rc != 0 ]; then
    assert_contains "$T/err" "need CAP_SYS_ADMIN"
    echo "# heap tracking without CAP_SYS_ADMIN: $(cat "$T/err")"
fi
[ -z "$(our_bpf_left)" ] || fail "left behind: $(our_bpf_left)"
ok "on one's own process CAP_BPF+CAP_PERFMON work (heap needs CAP_SYS_ADMIN: said so)"
