#!/usr/bin/env bash
# Guard pages with exact placement (docs/guard.md, "Modes") name the very
# instruction of a one-byte bug: a 1-byte underflow write of a 10-byte block
# (LEAKAUDIT_GUARD_ALIGN=left), a 1-byte overflow write and a 1-byte
# over-read of a 10-byte block and a read one past a strdup'd string
# (LEAKAUDIT_GUARD_ALIGN=right: the block ends on the page boundary even
# when that breaks 16-byte alignment), under glibc and jemalloc.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
need_file "$C"

# fault ALIGN ALLOCATOR SCENARIO KIND FUNCTION
fault() {
    local align=$1 alloc=$2 sc=$3 kind=$4 func=$5 line frames
    rm -rf "$T/o"
    LEAKAUDIT_GUARD_ALIGN=$align "$LEAKAUDIT" run -q --guard=pages --guard-sample 1 -a "$alloc" \
        -o "$T/o" -- "$C" "$sc" >"$T/stdout" 2>"$T/stderr" || true
    dump_last "$T/o" >"$T/d"
    line=$(grep -m1 "^corruption kind=$kind " "$T/d")
    [ -n "$line" ] || { head -20 "$T/stderr"; fail "[$alloc] $sc: no $kind event"; }
    frames=${line#* access frames=}
    frames=${frames%% *}
    [ "$(func_of "${frames%%,*}")" = "$func" ] ||
        fail "[$alloc] $sc: the faulting frame is not $func: $line"
    ok "[$alloc] $sc: $kind at the access, in $func"
}

for a in glibc jemalloc; do
    fault left "$a" small_underflow_write heap-buffer-underflow underflow_write1
    fault right "$a" small_overflow_write heap-buffer-overflow overflow_write1
    fault right "$a" small_overflow_read heap-buffer-overflow-read overflow_read1
    fault right "$a" strdup_read_past heap-buffer-overflow-read read_past_string
done
