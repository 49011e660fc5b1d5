#!/usr/bin/env bash
# In a binary built with -fomit-frame-pointer the immediate caller of malloc
# is still right (taken at the hook's entry); --unwind=dwarf recovers the
# deeper frames through libunwind.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
need_file "$PLANTED_NOFP"
audit "$T/fp" glibc "$PLANTED_NOFP" steady
dump_last "$T/fp" >"$T/d"
expect_site "$T/d" heap leak_steady "100000 100" "[fp] "

"$LEAKAUDIT" run -q -o "$T/dw" -u dwarf -- "$PLANTED_NOFP" steady
dump_last "$T/dw" >"$T/d"
expect_site "$T/d" heap leak_steady "100000 100" "[dwarf] "
line=$(grep '^heap ' "$T/d" | grep 'live_count=100 ')
f2=${line##*frames=}; f2=$(echo "$f2" | cut -d, -f2)
[ "$(func_of "$f2")" = main ] || fail "dwarf unwinding did not find main as the second frame: $line"
ok "dwarf: second frame is main"
