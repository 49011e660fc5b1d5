#!/usr/bin/env bash
# timeout: 180
# Field case 5: C handles owned by a garbage-collected runtime. A Go (cgo)
# program releases libvendor.so handles from a finalizer; a request that
# kept the raw handle calls vendor_run after the GC destroyed it, and an
# explicit Close() plus the finalizer destroy one handle twice. Both are
# reported with the destroying and offending calls, without rebuilding
# anything; a correct program reports nothing. (Go leaves with a raw
# exit_group, without atexit handlers: periodic snapshots are used.)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
need_cmd go

mkdir -p "$T/src" "$T/home"
cp "$ROOT/tests/resources/goapp/main.go" "$ROOT/tests/resources/goapp/go.mod" "$T/src/"
(cd "$T/src" && HOME=$T/home GOCACHE=$T/home/cache GOPATH=$T/home/go GOFLAGS=-mod=mod \
    GOPROXY=off CGO_ENABLED=1 CGO_LDFLAGS="-L$RES -Wl,-rpath,$RES" \
    go build -o "$T/goapp" .) >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "go build failed"; }

LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -q -i 100ms -o "$T/uad" --track-resource "$VENDOR_SPEC" -- "$T/goapp" uad >"$T/out"
assert_eq "$(cat "$T/out")" "run: -1" "the program's own output: $(cat "$T/out")"
"$RESDUMP" "$T/uad" >"$T/uad.d"
assert_contains "$T/uad.d" '^event kind=use-after-destroy detail="vendor: vendor_run\(0x[0-9a-f]+\) after vendor_destroy"'
"$LEAKAUDIT" report "$T/uad" >"$T/uad.txt"
assert_contains "$T/uad.txt" '!! use-after-destroy: vendor: vendor_run'
# cgo calls run on the thread's system stack: the stub is the frame we get
grep -A1 'offending call at:' "$T/uad.txt" | grep '_Cfunc_vendor_run' >/dev/null || fail "offender not named"
grep -A1 '^     destroyed at:' "$T/uad.txt" | grep '_Cfunc_vendor_destroy' >/dev/null || fail "destroy not named"
grep -A1 '^     created at:' "$T/uad.txt" | grep '_Cfunc_vendor_create' >/dev/null || fail "create not named"
ok "use after a finalizer's destroy: reported with the cgo calls that destroyed and used it"

LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -q -i 100ms -o "$T/dd" --track-resource "$VENDOR_SPEC" -- "$T/goapp" double >/dev/null
"$RESDUMP" "$T/dd" >"$T/dd.d"
assert_contains "$T/dd.d" '^event kind=double-destroy detail="vendor: vendor_destroy\(0x[0-9a-f]+\) destroyed twice'
ok "Close() then the finalizer: double destroy reported"

LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -q -i 100ms -o "$T/ok" --track-resource "$VENDOR_SPEC" -- "$T/goapp" clean >/dev/null
"$RESDUMP" "$T/ok" >"$T/ok.d"
assert_not_contains "$T/ok.d" '^event '
assert_contains "$T/ok.d" '^res kind=vendor live=0 created=1 destroyed=1 '
ok "a correct Go program: one handle created and destroyed, no events"
