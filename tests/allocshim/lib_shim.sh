# Helpers for the shim tests (sourced after tests/lib.sh).
PLANTED=$TESTBIN/allocshim/planted
PLANTED_NOFP=$TESTBIN/allocshim/planted_nofp
PLANTED_CXX=$TESTBIN/allocshim/planted_cxx
SNAPDUMP=$TESTBIN/common/snapdump
ALLOCATORS="glibc jemalloc tcmalloc mimalloc"
need_file "$PLANTED"
need_file "$SHIM"
need_cmd addr2line

# audit OUTDIR ALLOCATOR CMD...: run CMD under the shim, quietly.
audit() {
    local out=$1 alloc=$2
    shift 2
    "$LEAKAUDIT" run -q -o "$out" -a "$alloc" -- "$@"
}

# dump_last OUTDIR [EXE-REGEX]: snapdump of the newest snapshot whose exe matches.
dump_last() {
    local out=$1 re=${2:-.} f last=""
    for f in "$out"/*.snap; do
        # no pipe into head: with pipefail, a SIGPIPE'd snapdump would fail the test
        "$SNAPDUMP" "$f" >"$T/.hdr" && grep -m1 '^header' "$T/.hdr" | grep -Eq "exe=.*$re" && last=$f
    done
    [ -n "$last" ] || fail "no snapshot matching $re in $out"
    "$SNAPDUMP" "$last"
}

# expect_site DUMPFILE KIND FUNC EXPECTED [LABEL]
expect_site() {
    local got
    got=$(site "$1" "$2" "$3")
    [ "$got" = "$4" ] || { grep "^$2 " "$1" | head -30; fail "${5:-}$2 at $3: expected '$4', got '$got'"; }
    ok "${5:-}$2 at $3 = $4"
}
