#!/usr/bin/env bash
# pprof output loads in `go tool pprof` (offline): inuse_space default with
# the planted leak on top, inlined frame marked, alloc_space and the verdict
# label available.
# timeout: 180
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
need_cmd go
export HOME=$T/home GOCACHE=$T/gocache GOPATH=$T/gopath GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
mkdir -p "$HOME"

"$GEN" mixed "$T/mixed" >/dev/null
"$LEAKAUDIT" report -f pprof -o "$T/heap.pb.gz" "$T/mixed"
[ "$(head -c2 "$T/heap.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "not gzip"
go tool pprof -top "$T/heap.pb.gz" >"$T/top.txt" 2>&1 || { cat "$T/top.txt"; fail "go tool pprof failed"; }
cat "$T/top.txt"
assert_contains "$T/top.txt" '^Type: inuse_space$'
first=$(grep -m1 -E '^ +[0-9.]+[kMG]?B ' "$T/top.txt")
[[ "$first" == *leaky_decode_frame ]] || fail "top entry is not the leak: $first"
assert_contains "$T/top.txt" '12(288kB|MB) .* leaky_decode_frame$'
assert_contains "$T/top.txt" 'cache_slot_alloc \(inline\)$'
go tool pprof -top -sample_index=alloc_space "$T/heap.pb.gz" >"$T/alloc.txt" 2>&1
assert_contains "$T/alloc.txt" '^Type: alloc_space$'
go tool pprof -traces -tagfocus=verdict=plateau "$T/heap.pb.gz" >"$T/traces.txt" 2>&1
assert_contains "$T/traces.txt" 'cache_insert'
assert_not_contains "$T/traces.txt" 'leaky_decode_frame'
ok "go tool pprof reads the profile"
