#!/usr/bin/env bash
# timeout: 120
# A program that adds inotify watches and removes them again, round after
# round (the kernel frees the marks later, from a kworker): attach --kmem
# sees them allocated and freed, and no kernel-memory row of it is a leak.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
source "$(dirname "$0")/lib_kmem.sh"

kmem_run balance 16 250
R=$T/report.json
seen=$(jq '[.kernel_memory.stacks[]? | select(.user_function == "add_and_remove_watches")
    | .total_count] | add // 0' "$R")
# rows with nothing live at the end are not listed; the snapshots have them all
dump=$($TESTBIN/common/snapdump "$T/out" | grep '^kmem ' | grep -c 'inotify_update_watch' || true)
[ "$dump" -gt 0 ] || fail "no kernel allocation under inotify_update_watch was seen"
ok "inotify allocations seen ($dump rows, $seen objects still listed)"
leaks=$(jq -r '.kernel_memory.stacks[]? | select(.verdict == "leak")
    | "\(.user_function) \(.kernel_site) \(.values)"' "$R")
[ -z "$leaks" ] || fail "rows called leak in a balanced program: $leaks"
other=$($TESTBIN/common/snapdump "$T/out" | sed -n 's/^loss kmem_freed_by_other_context=//p')
ok "no kernel-memory leak verdict; freed by another context: ${other:-0}"
[ -z "$(our_bpf_left)" ] || fail "left behind after detach: $(our_bpf_left)"
