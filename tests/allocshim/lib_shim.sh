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

# func_of "path:0xoff": the function a frame is in (the outermost one when
# the address is inside inlined code).
func_of() {
    local mod=${1%:*} off=${1##*:}
    addr2line -f -C -i -e "$mod" "$off" 2>/dev/null | sed -n 'p;n' | tail -1
}

# site DUMPFILE KIND FUNC: sums over records of KIND (heap|fd|mmap) whose
# first frame is in FUNC; prints "bytes count" for heap, "count" otherwise.
site() {
    local dump=$1 kind=$2 func=$3 line frame f
    local bytes=0 count=0
    while IFS= read -r line; do
        frame=${line##*frames=}
        frame=${frame%%,*}
        [ -n "$frame" ] || continue
        f=$(func_of "$frame")
        [ "$f" = "$func" ] || continue
        if [ "$kind" = heap ]; then
            b=${line#*live_bytes=}; b=${b%% *}
            c=${line#*live_count=}; c=${c%% *}
            bytes=$((bytes + b)); count=$((count + c))
        else
            count=$((count + 1))
        fi
    done < <(grep "^$kind " "$dump")
    if [ "$kind" = heap ]; then echo "$bytes $count"; else echo "$count"; fi
}

# expect_site DUMPFILE KIND FUNC EXPECTED [LABEL]
expect_site() {
    local got
    got=$(site "$1" "$2" "$3")
    [ "$got" = "$4" ] || { grep "^$2 " "$1" | head -30; fail "${5:-}$2 at $3: expected '$4', got '$got'"; }
    ok "${5:-}$2 at $3 = $4"
}
