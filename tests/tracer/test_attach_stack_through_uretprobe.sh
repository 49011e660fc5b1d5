#!/usr/bin/env bash
# timeout: 90
# A block allocated inside a function that is tracked as a resource with a
# return probe: while make_obj() runs, the kernel has replaced its return
# address with the uretprobe trampoline, so a plain frame-pointer walk from
# malloc would show "[uprobes]" where leak_wrapped() is. The heap walk puts
# the real return address back; the stack is make_obj <- leak_wrapped.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"

start_target wrap "$LEAKER" leak
attach_and_plant "$T/wrap" --no-fds \
    --track-resource 'name=obj;create=make_obj:ret;destroy=drop_obj:arg0'
assert_contains "$T/attach.log" 'resources: 1 kinds?, 2 of 2 functions found'
"$DUMP" "$T/wrap" >"$T/d"
n=$(counter wrapped_count)
[ "$(grep -c '^res kind=obj ' "$T/d")" -ge 1 ] || fail "no obj resource record"
expect_heap "$T/d" make_obj $((n * 48)) "$n" "[through uretprobe] "
line=
while IFS= read -r l; do
    f=${l##*frames=}
    if [ "$(func_of "${f%%,*}")" = make_obj ]; then
        line=$l
        break
    fi
done < <(grep '^heap ' "$T/d")
frames=${line##*frames=}
second=$(echo "$frames" | cut -d, -f2)
[ -n "$second" ] || fail "make_obj's block has no second frame: $line"
got=$(func_of "$second")
[ "$got" = leak_wrapped ] || fail "second frame is '$got' ($second), not leak_wrapped: $line"
ok "heap stack through a pending uretprobe: make_obj <- leak_wrapped"
no_drops "$T/d"
