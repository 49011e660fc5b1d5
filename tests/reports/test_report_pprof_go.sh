#!/usr/bin/env bash
# pprof output loads in `go tool pprof` (offline): inuse_space default with
# the planted leak on top, inlined frame marked, alloc_space and the verdict
# label available; fds and mmap_space sample types name the fd and mmap sites.
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

# fds and mmap_space sample types: the fd and mmap leak sites
go tool pprof -top -sample_index=fds "$T/heap.pb.gz" >"$T/fds.txt" 2>&1 || { cat "$T/fds.txt"; fail "pprof -sample_index=fds"; }
assert_contains "$T/fds.txt" '^Type: fds$'
assert_contains "$T/fds.txt" '^ +24 +100% .* dup_buffer_fd$'
go tool pprof -top -sample_index=mmap_space "$T/heap.pb.gz" >"$T/mmap.txt" 2>&1
assert_contains "$T/mmap.txt" '^Type: mmap_space$'
assert_contains "$T/mmap.txt" '8MB +100% .* map_frame_buffer$'
go tool pprof -top -tagfocus=class=fds -sample_index=fds "$T/heap.pb.gz" >"$T/cls.txt" 2>&1
assert_contains "$T/cls.txt" 'dup_buffer_fd$'
ok "pprof -sample_index=fds and mmap_space list the fd and mmap leak sites"

# the same on a real program under the shim
PLANTED=$TESTBIN/allocshim/planted
if [ -x "$PLANTED" ]; then
    "$LEAKAUDIT" run -q -o "$T/fdrun" -- "$PLANTED" fds
    "$LEAKAUDIT" report -f pprof -o - "$T/fdrun" >"$T/fdrun.pb.gz"
    go tool pprof -top -sample_index=fds "$T/fdrun.pb.gz" >"$T/fdrun.txt" 2>&1
    assert_contains "$T/fdrun.txt" ' leak_dup$'
    assert_contains "$T/fdrun.txt" ' leak_pipe$'
    ok "a real fd leak site under -sample_index=fds (report -o - to a pipe)"
fi

# gzipped protobuf is refused on a terminal (script(1) gives it one)
if command -v script >/dev/null; then
    script -qec "'$LEAKAUDIT' report -f pprof '$T/mixed'" /dev/null >"$T/tty.txt" 2>&1 </dev/null && fail "pprof written to a terminal"
    assert_contains "$T/tty.txt" 'leakaudit report: --format pprof writes gzipped protobuf: not to a terminal'
    ok "report -f pprof refuses a terminal"
fi
