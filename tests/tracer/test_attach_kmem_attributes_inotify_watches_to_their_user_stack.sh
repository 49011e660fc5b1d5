#!/usr/bin/env bash
# timeout: 120
# A kernel-side leak driven from user space: a program adds inotify watches
# in rounds and never removes them. attach --kmem reports kernel memory
# growing (verdict leak) at the user stack that calls inotify_add_watch
# (add_watches_and_forget), and the bytes of the two slab caches a watch
# takes (inotify_inode_mark, fsnotify_mark_connector) are within 20% of the
# kernel's own accounting of those caches over the same time. Detach leaves
# no BPF program of ours loaded.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
source "$(dirname "$0")/lib_kmem.sh"

[ -z "$(our_bpf_left)" ] || fail "programs of ours loaded before the test: $(our_bpf_left)"
before=$(($(slab_bytes inotify_inode_mark) + $(slab_bytes fsnotify_mark_connector)))
kmem_run leak 16 250
after=$(($(slab_bytes inotify_inode_mark) + $(slab_bytes fsnotify_mark_connector)))
left=$(our_bpf_left)
[ -z "$left" ] || fail "left behind after detach: $left"
ok "detach left no program of ours"

R=$T/report.json
verdict=$(jq -r '[.kernel_memory.stacks[] | select(.user_function == "add_watches_and_forget"
    and .kernel_site == "inotify_update_watch")][0].verdict' "$R")
[ "$verdict" = leak ] || {
    jq '.kernel_memory.stacks[] | {verdict, live_bytes, kernel_site, user_function, values}' "$R"
    fail "inotify marks at add_watches_and_forget: verdict '$verdict', expected leak"
}
ok "inotify marks allocated under add_watches_and_forget: verdict leak"

ours=$(jq '[.kernel_memory.stacks[] | select(.user_function == "add_watches_and_forget"
    and (.kernel_site == "inotify_update_watch" or .kernel_site == "fsnotify_add_mark_locked"))
    | .live_bytes] | add // 0' "$R")
kernel=$((after - before))
[ "$kernel" -gt 0 ] || fail "the kernel's slab accounting did not grow ($before -> $after)"
if [ $((ours * 100)) -lt $((kernel * 80)) ] || [ $((ours * 100)) -gt $((kernel * 120)) ]; then
    fail "attach says $ours bytes, the kernel's slab accounting grew by $kernel"
fi
ok "attach: $ours bytes of marks and connectors; kernel slab accounting: +$kernel bytes"
total=$(jq '.kernel_memory.live_bytes[-1]' "$R")
[ "$total" -ge "$ours" ] || fail "outstanding kernel total $total < the rows' $ours"
ok "outstanding kernel bytes at the last snapshot: $total"

# the report's first line: RSS is flat, the kernel memory grows, at the call
"$LEAKAUDIT" report "$T/out" >"$T/report.txt" || fail "text report failed"
head -1 "$T/report.txt" | grep '^memory: .*; kernel memory grows at inotify_add_watch (+' >/dev/null ||
    { head -3 "$T/report.txt"; fail "the first line does not say the kernel memory grows at inotify_add_watch"; }
ok "$(head -1 "$T/report.txt")"

# pprof: kernel_space samples, kernel frames above the user stack
if command -v go >/dev/null; then
    export HOME=$T/home GOCACHE=$T/gocache GOPATH=$T/gopath GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
    mkdir -p "$HOME"
    "$LEAKAUDIT" report -f pprof -o "$T/k.pb.gz" "$T/out" || fail "pprof report failed"
    go tool pprof -top -sample_index=kernel_space "$T/k.pb.gz" >"$T/k.txt" 2>&1 ||
        { cat "$T/k.txt"; fail "pprof kernel_space"; }
    go tool pprof -traces -sample_index=kernel_space "$T/k.pb.gz" >"$T/kt.txt" 2>&1 || fail "pprof -traces"
    grep -q 'add_watches_and_forget' "$T/kt.txt" && grep -q 'inotify_update_watch' "$T/kt.txt" ||
        { head -40 "$T/kt.txt"; fail "pprof kernel_space: no trace through inotify_update_watch and add_watches_and_forget"; }
    ok "pprof -sample_index=kernel_space: traces from inotify_update_watch up to add_watches_and_forget"
else
    skip "go not installed (pprof check)"
fi
