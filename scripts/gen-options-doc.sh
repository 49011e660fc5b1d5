#!/usr/bin/env bash
# Rewrites the generated table of docs/options.md (between its two marker
# comments) with `leakaudit run --options-markdown`: the table of the shim's
# settings comes from the one option table, common/audit_options.c.
# Used by `make options-doc`.
#
#   scripts/gen-options-doc.sh BUILD/bin/leakaudit docs/options.md
set -euo pipefail
bin=$1
doc=$2
begin='<!-- generated from common/audit_options.c by `make options-doc`: edit the table there -->'
end='<!-- end of the generated table -->'
grep -qxF "$begin" "$doc" || { echo "gen-options-doc: $doc has no line '$begin'" >&2; exit 1; }
grep -qxF "$end" "$doc" || { echo "gen-options-doc: $doc has no line '$end'" >&2; exit 1; }
table=$(mktemp)
out=$(mktemp "$doc.XXXXXX")
trap 'rm -f "$table" "$out"' EXIT
"$bin" run --options-markdown >"$table"
awk -v begin="$begin" -v end="$end" -v table="$table" '
    $0 == begin { print; while ((getline line < table) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip' "$doc" >"$out"
chmod --reference="$doc" "$out"
mv "$out" "$doc"
trap 'rm -f "$table"' EXIT
