#!/usr/bin/env bash
# The snapshot format is architecture-neutral: a series written by the arm64
# shim (a leaky service under qemu-aarch64) gives the x86-64 `leakaudit
# report` the same report, text and JSON, as the arm64 `leakaudit report`,
# with the planted leak on top at its file:line; and a series written on
# x86-64 reads the same on arm64.
# timeout: 300
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_arm64.sh"
need_arm64_exec
need_file "$NATIVE_LEAKAUDIT"
SVC=reports/leaky_service
need_file "$TESTBIN/$SVC"
need_file "$NATIVE_BUILD/tests/$SVC"
LEAK_LINE=$(grep -n 'SERVICE-LEAK-SITE' "$ROOT/tests/reports/leaky_service.c" | cut -d: -f1)

# report_both DIR NAME: the text and JSON reports of DIR by both builds.
report_both() {
    local dir=$1 name=$2 b
    for b in arm64:"$LEAKAUDIT" x86_64:"$NATIVE_LEAKAUDIT"; do
        "${b#*:}" report "$dir" >"$T/$name.${b%%:*}.txt" || fail "${b%%:*} report of $name failed"
        "${b#*:}" report -f json "$dir" >"$T/$name.${b%%:*}.json" ||
            fail "${b%%:*} JSON report of $name failed"
    done
    for f in txt json; do
        diff -u "$T/$name.arm64.$f" "$T/$name.x86_64.$f" >"$T/$name.$f.diff" || {
            head -40 "$T/$name.$f.diff"
            fail "$name: the arm64 and x86-64 $f reports differ"
        }
    done
}

# 1. Written on arm64.
"$LEAKAUDIT" run -q -i 0 -o "$T/a64" -- "$TESTBIN/$SVC" 12
exe=$("$NATIVE_BUILD/tests/common/snapdump" "$(ls "$T"/a64/*.snap | tail -1)" | sed -n 's/^header.* exe=\([^ ]*\).*/\1/p')
readelf -h "$exe" | grep 'Machine: *AArch64' >/dev/null || fail "the series was not written by an arm64 program: $exe"
report_both "$T/a64" a64
assert_contains "$T/a64.x86_64.txt" '^#1 LEAK '
first=$(grep -m1 -E '^ +#0 ' "$T/a64.x86_64.txt")
re="decode_frame +[^ ]*leaky_service\\.c:$LEAK_LINE "
[[ "$first" =~ $re ]] || fail "top frame is not decode_frame at leaky_service.c:$LEAK_LINE: $first"
ok "arm64 series: x86-64 and arm64 reports identical, decode_frame at leaky_service.c:$LEAK_LINE a LEAK"

# 2. Written on x86-64.
LEAKAUDIT_SHIM= "$NATIVE_LEAKAUDIT" run -q -i 0 -o "$T/x64" -- "$NATIVE_BUILD/tests/$SVC" 12
report_both "$T/x64" x64
assert_contains "$T/x64.arm64.txt" '^#1 LEAK '
ok "x86-64 series: arm64 and x86-64 reports identical"
