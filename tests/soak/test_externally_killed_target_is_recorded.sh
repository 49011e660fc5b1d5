#!/usr/bin/env bash
# A target killed from outside (kill -9) ends its run at once, is recorded as
# crashed with the signal, and the soak goes on with the next allocator.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
export SOAKLOAD_PIDFILE=$T/pid
timeout -k 5 60 "$LEAKAUDIT" soak -o "$T/out" -a glibc,jemalloc -d 4s -i 200ms -- "$SOAKLOAD" clean \
    >"$T/table" 2>"$T/log" &
soak_pid=$!
on_exit "kill $soak_pid 2>/dev/null"
for _ in $(seq 100); do [ -s "$T/pid" ] && break; sleep 0.05; done
[ -s "$T/pid" ] || fail "the first run never started"
victim=$(cat "$T/pid")
sleep 0.5
kill -9 "$victim"
wait "$soak_pid" || { cat "$T/log"; fail "soak failed (124 = it hung)"; }
[ "$(field "$T/out" glibc crashed)" = yes ] || fail "the killed run is not recorded as crashed"
[[ "$(field "$T/out" glibc crash_message)" == *SIGKILL* ]] || fail "the signal is not named"
t=$(field "$T/out" glibc crash_time_s)
awk -v t="$t" 'BEGIN { exit !(t < 4.0) }' || fail "crash time $t is not before the end of the run"
[ "$(field "$T/out" jemalloc crashed)" = no ] || fail "the next run did not carry on"
[ "$(field "$T/out" jemalloc samples)" -ge 10 ] || fail "the next run has too few samples"
ok "glibc: $(field "$T/out" glibc verdict); jemalloc ran on"
