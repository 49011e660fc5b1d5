#!/usr/bin/env bash
# timeout: 120
# tests/unwind/unwind_cases (the cases `run` is held to, built -O2
# -fomit-frame-pointer) under attach's default unwinding: strdup, opendir,
# fopen, a qsort callback, a library two levels deep, a C++ exception, a
# plugin dlopen'ed before the attach, the alternate signal stack and a
# coroutine are attributed to their application functions with their
# callers; the lying frame record ends its stack at app_garbage; no frame
# lies outside a module. (Its library constructor ran before any attach.)
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
CASES=$TESTBIN/unwind/unwind_cases
CHECK=$ROOT/tests/unwind/check_stacks.py
need_file "$CASES"
need_cmd python3

"$CASES" loop 60 &
TPID=$!
on_exit "kill $TPID 2>/dev/null"
"$LEAKAUDIT" attach -p "$TPID" -o "$T/out" -d 3 -v 2>"$T/attach.log" ||
    { cat "$T/attach.log"; fail "attach failed"; }
"$LEAKAUDIT" report --format json --top 1000 "$T/out" >"$T/report.json"
python3 "$CHECK" "$T/report.json" strdup opendir fopen qsort deep cxx_exception dlopen \
    altstack coroutine garbage no_bad_frames || fail "wrong stacks under attach"
