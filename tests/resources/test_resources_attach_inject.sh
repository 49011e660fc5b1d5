#!/usr/bin/env bash
# timeout: 180
# `leakaudit attach --inject --track-resource` (docs/inject.md): the injected
# shim patches the running program's imports of the tracked functions to its
# wrappers. A handle leaked after the attach is reported at its creating
# stack (handle_request, 10 of 100); a handle created before the attach and
# destroyed after it is neither a double destroy nor an event of any kind;
# at the detach the executable's GOT slot goes back to libvendor.so, and the
# program keeps working and exits normally.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
need_root

wait_file() { # FILE WHAT
    for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done
    fail "$2"
}
wait_line() { # FILE REGEX
    for _ in $(seq 300); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "no '$2' in $1: $(cat "$1")"
}

GO=$T/go "$RES/vendor_app" inject 100 >"$T/out" &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_line "$T/out" '^ready$'
assert_eq "$(sed -n 1p "$T/out")" "slot libvendor.so" "before the attach"

"$LEAKAUDIT" attach --inject -p "$tpid" -o "$T/o" -i 1s -d 120 \
    --track-resource "$VENDOR_SPEC" --track-resource "$VBUF_SPEC" 2>"$T/log" &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_line "$T/log" "injected into pid $tpid"
touch "$T/go"
wait_file "$T/go.done" "the target did not finish its requests: $(cat "$T/out")"
assert_eq "$(sed -n 3p "$T/out")" "slot libleakaudit.so" "while attached"
ok "attached: the executable's import of vendor_create goes to the shim"

kill -INT "$apid"
wait "$apid" || { cat "$T/log"; fail "attach --inject exited with $?"; }
assert_contains "$T/log" "detached from pid $tpid"
touch "$T/go.detached"
wait "$tpid" || fail "the target exited with $? after the detach: $(cat "$T/out")"
assert_eq "$(sed -n 4p "$T/out")" "slot libvendor.so" "after the detach"
assert_eq "$(sed -n 5p "$T/out")" "worked" "after the detach"
ok "detached: the slot goes back to libvendor.so; the program keeps working and exits 0"

"$RESDUMP" "$T/o" >"$T/o.d"
assert_contains "$T/o.d" '^header source=injected'
assert_eq "$(res_at "$T/o.d" vendor handle_request)" "10 100 90 0 " "leaked after the attach"
ok "a handle leaked after the attach: 10 of 100 at handle_request"

assert_not_contains "$T/o.d" '^event kind=(double-destroy|use-after-destroy)'
assert_eq "$(res_at "$T/o.d" vendor destroy_old)" "0 0 0 0 " "the handle from before the attach"
bad=$(grep '^loss resource_' "$T/o.d" | grep -v '=0$' || true)
[ -z "$bad" ] || fail "losses: $bad"
ok "a handle from before the attach destroyed after it: no event, no row, no loss"
