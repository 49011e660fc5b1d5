#!/usr/bin/env bash
# 64 malloc call sites, each reached at 8 depths from two callers whose
# frames are laid out alike: 1,024 stacks taken in an irregular order, far
# more than a thread's first call-site memos hold, so the memos keep
# refilling and grow (allocshim/callsite.c, site_grow), and the two stacks of
# one leaf and depth share a memo key. Every stack must still get exactly
# its own blocks: 1,024 still-reachable rows, one per (caller, leaf,
# depth), 6 blocks of 40 bytes each, with the default unwinder and -u fp.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
MANY_SITES=$TESTBIN/allocshim/many_sites
need_file "$MANY_SITES"

for unwind in dwarf fp; do
    "$LEAKAUDIT" run -q -u "$unwind" -o "$T/$unwind" -- "$MANY_SITES" >/dev/null
    "$LEAKAUDIT" report -f collapsed -n 0 "$T/$unwind" >"$T/c.$unwind"
    # "leafN DEPTH BYTES" per still-reachable stack ending in a leaf
    grep '^\[still reachable\];.*;main;via_' "$T/c.$unwind" | sed 's/^\[still reachable\];//' |
        awk '{n = split($1, f, ";"); d = 0; v = "";
              for (i = 1; i <= n; i++) { if (f[i] == "descend") d++; if (f[i] ~ /^via_/) v = f[i] }
              print v "/" f[n], d, $2}' | sort >"$T/rows.$unwind"
    rows=$(wc -l <"$T/rows.$unwind")
    distinct=$(awk '{print $1, $2}' "$T/rows.$unwind" | sort -u | wc -l)
    wrong=$(awk '$3 != 240 || $1 !~ /^via_[ab]\/leaf[1-8][0-7]$/ || $2 < 1 || $2 > 8' "$T/rows.$unwind" | head -5)
    [ "$rows" -eq 1024 ] && [ "$distinct" -eq 1024 ] && [ -z "$wrong" ] ||
        { head -20 "$T/rows.$unwind"; fail "[$unwind] $rows rows, $distinct distinct (want 1024 each); wrong: $wrong"; }
    ok "[$unwind] 1,024 stacks from 64 call sites, 8 depths, 2 callers: each with its 6 blocks"
done
