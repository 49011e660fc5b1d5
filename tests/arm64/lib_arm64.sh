# Helpers for the tests of tests/arm64/ (sourced after tests/lib.sh). They
# run only under `make test-arm64` (tests/run.sh with LEAKAUDIT_ARCH=arm64),
# where $BUILD is the arm64 build and the native one is $NATIVE_BUILD.
NATIVE_BUILD=${LEAKAUDIT_NATIVE_BUILD:-$ROOT/build}
NATIVE_LEAKAUDIT=$NATIVE_BUILD/bin/leakaudit

# need_arm64_exec: arm64 programs run here (binfmt_misc + qemu-aarch64,
# scripts/qemu-binfmt.sh), and $BUILD holds an arm64 leakaudit.
need_arm64_exec() {
    need_file "$LEAKAUDIT"
    readelf -h "$LEAKAUDIT" | grep 'Machine: *AArch64' >/dev/null || skip "$LEAKAUDIT is not an arm64 build"
    "$LEAKAUDIT" --help >/dev/null 2>&1 ||
        skip "arm64 programs do not run here (bash scripts/qemu-binfmt.sh registers qemu-aarch64)"
}
