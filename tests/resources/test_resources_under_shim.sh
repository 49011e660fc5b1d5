#!/usr/bin/env bash
# timeout: 120
# Under the shim (GOT patching), a vendor C API's handles are tracked by
# creating stack: the handle leaked on every 10th request is found at
# handle_request(), handles made through an out-pointer at open_request(),
# a double destroy names close_session() and finalize_session(), a use after
# destroy names run_after_close(), an unmatched reference is attributed to
# on_reconnect() while balanced ref/unref pairs are not; a clean program has
# nothing outstanding. Lazy and immediate binding, and a library reached
# through dlopen, all work.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"

run_app() { # run_app OUT PROGRAM ARGS...
    local out=$1
    shift
    "$LEAKAUDIT" run -q -i 0 -o "$out" --track-resource "$VENDOR_SPEC" \
        --track-resource "$VBUF_SPEC" -- "$@"
    "$RESDUMP" "$out" >"$out.d"
}

for app in vendor_app vendor_app_now; do
    run_app "$T/leak.$app" "$RES/$app" leak 100
    got=$(res_at "$T/leak.$app.d" vendor handle_request)
    assert_eq "$got" "10 100 90 0 " "$app leak: live created destroyed balance"
    ok "$app: 10 of 100 handles leaked at handle_request"
done

run_app "$T/out" "$RES/vendor_app" outptr 50
assert_eq "$(res_at "$T/out.d" vendor open_request)" "10 50 40 0 " "out-pointer creates"
[ "$(grep -c '^res kind=vendor' "$T/out.d")" = 1 ] || fail "vendor_open's inner vendor_create counted apart"
ok "handles created through vendor_open(&h): 10 of 50 leaked at open_request"

run_app "$T/dd" "$RES/vendor_app" double
assert_eq "$(event_funcs "$T/dd.d" double-destroy)" "main close_session finalize_session"
assert_contains "$T/dd.d" 'detail="vendor: vendor_destroy\(0x[0-9a-f]+\) destroyed twice, first by vendor_destroy"'
ok "double destroy: created in main, destroyed in close_session, again in finalize_session"

run_app "$T/uad" "$RES/vendor_app" uad
assert_eq "$(event_funcs "$T/uad.d" use-after-destroy)" "main main run_after_close"
assert_contains "$T/uad.d" 'detail="vendor: vendor_run\(0x[0-9a-f]+\) after vendor_destroy"'
assert_not_contains "$T/uad.d" '^event kind=double-destroy'
ok "use after destroy: vendor_run in run_after_close"

run_app "$T/refs" "$RES/vendor_app" refs 20
got=$(res_at "$T/refs.d" vbuf main)
assert_eq "$got" "1 1 0 20 on_reconnect" "reference balance: $got"
assert_contains "$T/refs.d" '^res kind=vbuf .*refs=120 unrefs=100 '
ok "ref/unref imbalance: 20 unmatched references, the last taken in on_reconnect"

run_app "$T/clean" "$RES/vendor_app" clean 200
assert_eq "$(res_at "$T/clean.d" vendor clean_request)" "0 200 200 0 " "clean run"
assert_not_contains "$T/clean.d" '^event '
assert_not_contains "$T/clean.d" 'loss resource_(objects_full|rows_full|events_dropped)=[1-9]'
ok "clean program: 200 created, 200 destroyed, nothing outstanding, no events"

run_app "$T/dl" "$RES/vendor_dlopen" "$RES/libvendorplugin.so" 100
assert_eq "$(res_at "$T/dl.d" vendor plugin_request)" "10 100 90 0 " "dlopen'd plugin"
ok "a plugin loaded with dlopen is patched: 10 of 100 leaked at plugin_request"

# The program's output and exit status are its own.
out=$("$LEAKAUDIT" run -q -i 0 -o "$T/spin" --track-resource "$VENDOR_SPEC" -- \
    "$RES/vendor_app" spin 1000)
[[ "$out" =~ ^[0-9]+$ ]] || fail "program output changed: $out"
LD_PRELOAD=$SHIM LEAKAUDIT_OUT=$T/env LEAKAUDIT_TRACK_RESOURCES='name=bad;creat=x:ret' \
    "$RES/vendor_app" clean 3 2>"$T/err"
assert_contains "$T/err" "LEAKAUDIT_TRACK_RESOURCES: spec 1: unknown field .*'creat'"
ok "a bad spec in the environment is named on stderr; the program still runs"
