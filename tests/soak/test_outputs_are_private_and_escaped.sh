#!/usr/bin/env bash
# Results are private (directory 0700, files 0600); report.html is one
# self-contained page with SVG charts and escapes text from the command line;
# summary.md does not let it break the table.
# timeout: 30
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_soak.sh"
soak "$T/out" -a glibc -d 1s -i 200ms -- "$SOAKLOAD" clean '<script>alert(1)</script>|x'
assert_eq "$(stat -c %a "$T/out")" 700 "output directory mode"
for f in "$T/out"/*; do
    assert_eq "$(stat -c %a "$f")" 600 "mode of $(basename "$f")"
done
for f in summary.md summary.tsv report.html glibc.csv glibc.stderr; do
    [ -s "$T/out/$f" ] || [ "$f" = glibc.stderr ] || fail "$f missing or empty"
done
html=$T/out/report.html
assert_not_contains "$html" '<script'
assert_contains "$html" '&lt;script&gt;alert\(1\)&lt;/script&gt;'
assert_contains "$html" '<svg '
assert_contains "$html" '<polyline '
assert_contains "$html" 'RSS over time'
assert_not_contains "$html" '(src|href)="?https?:'
assert_contains "$T/out/summary.md" '&lt;script&gt;alert\(1\)&lt;/script&gt;\\\|x'
head -1 "$T/out/glibc.csv" | grep '^t_s,rss_bytes,pss_bytes,anon_bytes,cpu_s,cpu_pct,threads,fds,major_faults,' >/dev/null ||
    fail "CSV header"
awk -F, 'NR > 1 && $2 > 0 && $3 > 0 && $4 > 0 && $7 >= 1 && $8 >= 3 { n++ } END { exit !(n >= 3) }' \
    "$T/out/glibc.csv" || { cat "$T/out/glibc.csv"; fail "samples without RSS/PSS/anon/threads/fds"; }
