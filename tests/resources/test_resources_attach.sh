#!/usr/bin/env bash
# timeout: 180
# Attached to a running program with `leakaudit attach --track-resource`,
# the tracer finds the same planted defects as the shim: the handle leaked
# every 10th request at handle_request(), the out-pointer creates leaked at
# open_request(), a double destroy (close_session then finalize_session),
# a use after destroy in run_after_close(), and 20 unmatched references
# last taken in on_reconnect(). Nothing of ours stays in the kernel.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
need_root
need_cmd bpftool

# attach_run NAME MODE N: starts vendor_app MODE N waiting on $T/NAME.go,
# attaches, lets it plant, detaches; dump in $T/NAME.d.
attach_run() {
    local name=$1 mode=$2 n=$3 log=$T/$1.log i
    GO=$T/$name.go "$RES/vendor_app" "$mode" "$n" &
    local tpid=$!
    on_exit "kill $tpid 2>/dev/null"
    wait_mapped "$tpid" 'libvendor\.so' 'libc\.so'
    "$LEAKAUDIT" attach -p "$tpid" -o "$T/$name" --no-heap --no-fds -v -d 60 \
        --track-resource "$VENDOR_SPEC" --track-resource "$VBUF_SPEC" 2>"$log" &
    local apid=$!
    on_exit "kill $apid 2>/dev/null"
    wait_attached "$log" "$apid"
    grep -q "resources: 2 kinds, 7 of 7 functions found" "$log" || { cat "$log"; fail "probes"; }
    touch "$T/$name.go"
    wait_until 60 test -e "$T/$name.go.done" || fail "$name: target did not finish in 60 s"
    kill -INT $apid
    wait $apid || { cat "$log"; fail "attach exited with $?"; }
    kill $tpid 2>/dev/null || true
    "$RESDUMP" "$T/$name" >"$T/$name.d"
}

attach_run leak leak 100
assert_contains "$T/leak.d" '^header source=tracer'
assert_eq "$(res_at "$T/leak.d" vendor handle_request)" "10 100 90 0 " "attach leak"
ok "attach: 10 of 100 handles leaked at handle_request"

attach_run out outptr 50
assert_eq "$(res_at "$T/out.d" vendor open_request)" "10 50 40 0 " "attach out-pointer"
ok "attach: out-pointer creates, 10 of 50 leaked at open_request"

attach_run dd double 1
assert_eq "$(event_funcs "$T/dd.d" double-destroy)" "main close_session finalize_session"
ok "attach: double destroy in finalize_session after close_session"

attach_run uad uad 1
assert_eq "$(event_funcs "$T/uad.d" use-after-destroy)" "main main run_after_close"
assert_contains "$T/uad.d" 'detail="vendor: vendor_run\(0x[0-9a-f]+\) after vendor_destroy"'
ok "attach: use after destroy in run_after_close"

attach_run refs refs 20
assert_eq "$(res_at "$T/refs.d" vbuf main)" "1 1 0 20 on_reconnect" "attach refs"
ok "attach: 20 unmatched references, the last in on_reconnect"

bad=$(grep '^loss resource_' "$T/leak.d" | grep -v '=0$' || true)
[ -z "$bad" ] || fail "losses: $bad"
left=""
for i in $(seq 30); do
    left=$( (bpftool prog show; bpftool link show) 2>/dev/null | grep -E 'name la_res|prog_name la_res' || true)
    [ -z "$left" ] && break
    sleep 0.1
done
[ -z "$left" ] || fail "BPF programs left behind: $left"
ok "no losses; no resource probes left in the kernel"

"$LEAKAUDIT" attach -p $$ --track-resource 'name=x;create=nosuch_create:ret;destroy=nosuch_destroy:arg0' \
    -d 1 2>"$T/err" && fail "attach with no function found succeeded"
assert_contains "$T/err" "none of the 2 functions is defined in pid $$"
"$LEAKAUDIT" attach -p $$ --track-resource 'name=x;create=a' 2>"$T/err2" && fail "bad spec accepted"
assert_contains "$T/err2" "^leakaudit attach: --track-resource name=x;create=a: spec 1: function without"
ok "errors: no function found, bad spec"
