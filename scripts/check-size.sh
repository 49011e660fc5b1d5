#!/usr/bin/env bash
# Size limits of the C code (docs/ARCHITECTURE.md): no .c file over
# MAX_FILE_LINES lines and no function over MAX_FUNC_LINES lines in the parts
# that must stay readable (allocshim/ common/ tracer/ reports/ soak/ cli/).
# A function is counted from its opening "{" at column 0 to its closing "}"
# at column 0 (the layout clang-format gives every function here).
#   scripts/check-size.sh [FILES...]   (default: every .c of those parts)
# Prints each file or function over its limit; exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_FILE_LINES=${MAX_FILE_LINES:-900}
MAX_FUNC_LINES=${MAX_FUNC_LINES:-120}
if [ $# -gt 0 ]; then
    files=("$@")
else
    mapfile -t files < <(git ls-files 'allocshim/*.c' 'common/*.c' 'tracer/*.c' 'reports/*.c' \
        'soak/*.c' 'cli/*.c')
fi
over=0
for f in "${files[@]}"; do
    n=$(wc -l <"$f")
    if [ "$n" -gt "$MAX_FILE_LINES" ]; then
        echo "$f: $n lines (limit $MAX_FILE_LINES)"
        over=1
    fi
    if ! awk -v max="$MAX_FUNC_LINES" -v file="$f" '
        /^\{/ { start = NR; name = prev; next }
        /^\}/ && start { len = NR - start - 1
                         if (len > max) { sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
                                          printf "%s:%d: %s: %d lines (limit %d)\n", file, start, name, len, max; bad = 1 }
                         start = 0 }
        /^[A-Za-z_]/ && !start { prev = $0 }
        END { exit bad }' "$f"; then
        over=1
    fi
done
exit $over
