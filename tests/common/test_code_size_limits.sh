#!/usr/bin/env bash
# No .c file over 900 lines and no function over 120 lines in allocshim/,
# common/, tracer/, reports/, soak/ and cli/ (scripts/check-size.sh; the
# limits are docs/ARCHITECTURE.md's). The checker itself is checked first:
# a file made too long and a function made too long must both be caught.
# check: no
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 ||
    skip "not a git checkout (the checker lists the sources with git ls-files)"

# the checker catches what it is there to catch
{
    echo "/* a file that is too long */"
    echo "static int long_function(void)"
    echo "{"
    for i in $(seq 1 121); do echo "    (void)$i;"; done
    echo "    return 0;"
    echo "}"
    for i in $(seq 1 800); do echo "/* $i */"; done
} >"$T/too_long.c"
out=$(bash scripts/check-size.sh "$T/too_long.c" || true)
[[ "$out" == *"too_long.c: 926 lines (limit 900)"* ]] || fail "a 926-line file was not caught: $out"
[[ "$out" == *"long_function: 122 lines (limit 120)"* ]] || fail "a 122-line function was not caught: $out"
ok "the checker finds a file and a function over their limits"

if ! out=$(bash scripts/check-size.sh); then
    echo "$out" >&2
    fail "files or functions over the limits (split them by concern)"
fi
ok "every .c file and function of allocshim common tracer reports soak cli is within its limit"
