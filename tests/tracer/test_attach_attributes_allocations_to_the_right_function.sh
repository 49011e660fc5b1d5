#!/usr/bin/env bash
# timeout: 120
# With attach's default unwinding (-u dwarf: the modules' unwind tables, in
# the kernel), allocations and fds made through code without frame
# pointers are attributed to the application function that made them, with
# its callers: through strdup, opendir and fopen (C library, no frame
# pointers), a qsort callback, a destructor run by a C++ exception's cleanup,
# a -O2 -fomit-frame-pointer library two calls deep, and a function with
# garbage in %rbp. (An allocation in a library constructor happens before
# any attach can see it: nothing to test here.)
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
TARGET=$TESTBIN/tracer/target_unwind
need_file "$TARGET"

start_target unwind "$TARGET" leak
attach_and_plant "$T/out"
"$DUMP" "$T/out" >"$T/d"
assert_contains "$T/attach.log" 'stacks: unwind tables: [0-9]+ modules'
app_frames "$T/d" heap >"$T/heap"
app_frames "$T/d" fd >"$T/fd"

expect_stack "$T/heap" 'app_strdup run_all main _start$' "strdup"
expect_stack "$T/heap" 'app_opendir run_all main _start$' "opendir (heap)"
expect_stack "$T/fd" 'app_opendir run_all main _start$' "opendir (fd)"
expect_stack "$T/heap" 'app_fopen run_all main _start$' "fopen (heap)"
expect_stack "$T/fd" 'app_fopen run_all main _start$' "fopen (fd)"
expect_stack "$T/heap" 'app_cmp app_qsort run_all main _start$' "qsort callback"
expect_stack "$T/heap" 'Guard::~Guard\(\) lib_thrower(\.cold)? lib_exception_leak app_exception run_all main _start$' \
    "C++ exception cleanup"
expect_stack "$T/heap" 'lib_inner lib_outer app_deep run_all main _start$' "library two calls deep"
expect_stack "$T/heap" 'app_bad_rbp run_all main _start$' "garbage in %rbp"
assert_not_contains "$T/d" '[=,]\?:0x' "a frame outside every module"
echo "SKIP-PART: allocations in a library constructor run before any attach"
