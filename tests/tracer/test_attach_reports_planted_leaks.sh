#!/usr/bin/env bash
# timeout: 90
# Attached to a running program, the tracer reports the heap leak planted in
# leak_heap() with the bytes and blocks the program itself counted (within
# 5%), and the fds leaked through dup, fcntl(F_DUPFD) and memfd_create at
# their functions with the right origin; churn and fds closed again are not
# reported. A clean program has nothing outstanding in its own code.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"

start_target leak "$LEAKER" leak
attach_and_plant "$T/leak"
"$DUMP" "$T/leak" >"$T/d"
assert_contains "$T/d" '^header .*source=tracer .*allocator=glibc'
expect_heap "$T/d" leak_heap "$(counter leaked_bytes)" "$(counter leaked_count)"
expect_heap "$T/d" churn 0 0
[ "$(site "$T/d" fd leak_dup)" = "$(counter dup)" ] || fail "dup leaks: $(site "$T/d" fd leak_dup)"
[ "$(site "$T/d" fd leak_fcntl)" = "$(counter fcntl)" ] || fail "fcntl leaks wrong"
[ "$(site "$T/d" fd leak_memfd)" = "$(counter memfd)" ] || fail "memfd leaks wrong"
[ "$(site "$T/d" fd clean_fds)" = 0 ] || fail "fds closed again are reported"
[ "$(grep -c 'origin=fcntl-dupfd' "$T/d")" = "$(counter fcntl)" ] || fail "fcntl origin"
[ "$(grep 'origin=memfd_create' "$T/d" | grep -c 'kind=memfd.*target=/memfd:tracer-frame')" = 3 ] ||
    fail "memfd kind/target wrong"
# The dups' source is the target's /dev/null fd (not always 3: an fd the
# target inherited, such as flock(1)'s lock file, takes the lowest number).
src=$(sed -n 's/^fd .*origin=dup source=\([0-9]*\) .*/\1/p' "$T/d" | sed -n 1p)
grep -q "^fd fd=${src:-none} .*target=/dev/null" "$T/d" || { grep "^fd " "$T/d"; fail "dup source fd missing"; }
grep -q 'origin=pre-existing.*target=/dev/null' "$T/d" || fail "pre-existing fds not listed"
no_drops "$T/d"
ok "planted heap and fd leaks reported at their functions"

start_target clean "$LEAKER" clean
attach_and_plant "$T/clean"
"$DUMP" "$T/clean" >"$T/c"
# The clean program allocates/frees and opens/closes in a loop: a snapshot
# may catch one block or one open+dup pair in flight, never more.
own=$(grep '^heap ' "$T/c" | grep "frames=$LEAKER:" | grep -Ev 'live_count=[01] ' || true)
[ -z "$own" ] || fail "clean program has outstanding heap: $own"
created=$(grep '^fd ' "$T/c" | grep -v 'origin=pre-existing' || true)
[ "$(printf '%s' "$created" | grep -c .)" -le 2 ] || fail "clean program has fds: $created"
grep -q '^heap .*total_count=[1-9]' "$T/c" || fail "clean program: no allocations seen at all"
no_drops "$T/c"
ok "clean program: nothing outstanding"
