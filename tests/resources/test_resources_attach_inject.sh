#!/usr/bin/env bash
# timeout: 180
# `leakaudit attach --inject --track-resource` (docs/inject.md): the injected
# shim patches the running program's imports of the tracked functions to its
# wrappers. A handle leaked after the attach is reported at its creating
# stack (handle_request, 10 of 100); a handle created before the attach and
# destroyed after it is neither a double destroy nor an event of any kind;
# at the detach the executable's GOT slot goes back to libvendor.so and the
# program keeps working. A second attach (the library reused) starts a new
# series with the table empty, and patches a plugin the program dlopens
# then (plugin_request, 10 of 100); after its detach the program exits 0.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
need_root
need_file "$RES/libvendorplugin.so"

wait_file() { # FILE WHAT
    for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done
    fail "$2: $(cat "$T/out")"
}
wait_line() { # FILE REGEX
    for _ in $(seq 300); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "no '$2' in $1: $(cat "$1")"
}
attach() { # DIR: attach --inject in the background, waits for the hooks
    "$LEAKAUDIT" attach --inject -p "$tpid" -o "$1" -i 1s -d 120 \
        --track-resource "$VENDOR_SPEC" --track-resource "$VBUF_SPEC" 2>"$1.log" &
    apid=$!
    on_exit "kill $apid 2>/dev/null"
    wait_line "$1.log" "injected into pid $tpid"
}
detach() { # DIR
    kill -INT "$apid"
    wait "$apid" || { cat "$1.log"; fail "attach --inject exited with $?"; }
    assert_contains "$1.log" "detached from pid $tpid"
    "$RESDUMP" "$1" >"$1.d"
}

GO=$T/go PLUGIN=$RES/libvendorplugin.so "$RES/vendor_app" inject 100 >"$T/out" &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_line "$T/out" '^ready$'
assert_eq "$(sed -n 1p "$T/out")" "slot libvendor.so" "before the attach"

attach "$T/o1"
touch "$T/go"
wait_file "$T/go.done" "the target did not finish its requests"
assert_eq "$(sed -n 3p "$T/out")" "slot libleakaudit.so" "while attached"
ok "attached: the executable's import of vendor_create goes to the shim"
detach "$T/o1"
touch "$T/go.detached"
wait_file "$T/go.worked" "the target did not work after the detach"
assert_eq "$(sed -n 4p "$T/out")" "slot libvendor.so" "after the detach"
assert_eq "$(sed -n 5p "$T/out")" "worked" "after the detach"
ok "detached: the slot goes back to libvendor.so and the program keeps working"

assert_contains "$T/o1.d" '^header source=injected'
assert_eq "$(res_at "$T/o1.d" vendor handle_request)" "10 100 90 0 " "leaked after the attach"
ok "a handle leaked after the attach: 10 of 100 at handle_request"
assert_not_contains "$T/o1.d" '^event kind=(double-destroy|use-after-destroy)'
assert_eq "$(res_at "$T/o1.d" vendor destroy_old)" "0 0 0 0 " "the handle from before the attach"
bad=$(grep '^loss resource_' "$T/o1.d" | grep -v '=0$' || true)
[ -z "$bad" ] || fail "losses: $bad"
ok "a handle from before the attach destroyed after it: no event, no row, no loss"

attach "$T/o2"
assert_contains "$T/o2.log" "reusing the library loaded before"
touch "$T/go.again"
wait_file "$T/go.done2" "the target did not finish its second requests"
detach "$T/o2"
touch "$T/go.detached2"
wait "$tpid" || fail "the target exited with $?: $(cat "$T/out")"
assert_eq "$(sed -n 6p "$T/out")" "slot libvendor.so" "after the second detach"
assert_eq "$(sed -n 7p "$T/out")" "worked" "after the second detach"
assert_eq "$(res_at "$T/o2.d" vendor plugin_request)" "10 100 90 0 " "plugin dlopen'd while attached"
assert_eq "$(res_at "$T/o2.d" vendor handle_request)" "10 100 90 0 " "second series"
ok "attached again: a new series (10 of 100 at handle_request, not 20), the plugin dlopen'd then patched (10 of 100 at plugin_request); the program exits 0"

# Specs longer than the settings the injector passes: refused, not cut.
long=""
for k in $(seq 30); do
    f=$(printf 'f%02d_%076d' "$k" 0) # names of 84 characters (at most 95)
    long="$long${long:+|}name=k$k;create=${f}_new:ret;destroy=${f}_free:arg0;use=${f}_run:arg0"
done
sleep 60 &
spid=$!
on_exit "kill $spid 2>/dev/null"
rc=0
"$LEAKAUDIT" attach --inject -p "$spid" -o "$T/long" -d 1 --track-resource "$long" 2>"$T/long.err" || rc=$?
[ "$rc" -ne 0 ] || fail "specs of ${#long} bytes accepted"
assert_contains "$T/long.err" "^leakaudit attach --inject: the settings \(resource specs: ${#long} bytes\) exceed"
! grep -q libleakaudit "/proc/$spid/maps" || fail "the library was loaded anyway"
ok "specs of ${#long} bytes: refused before anything is injected"
