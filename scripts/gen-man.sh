#!/usr/bin/env bash
# Writes the man pages leakaudit(1) and leakaudit-CMD(1) from the built
# binary's --help texts, so a page never disagrees with the program (options,
# exit statuses). Used by `make man` / `make install`.
#
#   scripts/gen-man.sh BUILD/bin/leakaudit OUTDIR
set -euo pipefail
bin=$1
out=$2
mkdir -p "$out"
version=$("$bin" --version | awk '{print $NF}')
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)

# roff-safe text: backslashes doubled, a leading . or ' escaped
escape() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

# page NAME SUMMARY HELPFILE
page() {
    local name=$1 summary=$2 help=$3
    {
        printf '.TH %s 1 "%s" "leakaudit %s" "User Commands"\n' "${name^^}" "$date" "$version"
        printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
        printf '.SH SYNOPSIS\n.nf\n'
        sed -n 's/^usage: //p' "$help" | escape
        printf '.fi\n.SH DESCRIPTION\n.nf\n'
        sed '1{/^usage: /d}' "$help" | grep -v '^exit status' | escape
        printf '.fi\n.SH EXIT STATUS\n.nf\n'
        # the exit-status paragraph: from its first line to the next blank line
        awk '/^exit status/ {on = 1} on && /^$/ {exit} on' "$help" | escape
        printf '.fi\n.SH SEE ALSO\n'
        if [ "$name" = leakaudit ]; then
            printf '.BR leakaudit-run (1),\n.BR leakaudit-attach (1),\n.BR leakaudit-report (1),\n'
            printf '.BR leakaudit-diff (1),\n.BR leakaudit-soak (1)\n'
        else
            printf '.BR leakaudit (1)\n'
        fi
        printf '.PP\nEvery option has a LEAKAUDIT_* environment variable where it applies; see\n'
        printf 'docs/options.md in the source tree.\n'
    } >"$out/$name.1"
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" --help >"$tmp"
page leakaudit "find memory and file-descriptor leaks by call stack" "$tmp"
"$bin" --help | sed -n 's/^  \([a-z]*\) \{2,\}\(.*\)/\1 \2/p' | while read -r cmd summary; do
    summary=${summary% (not built)}
    "$bin" "$cmd" --help >"$tmp"
    page "leakaudit-$cmd" "$summary" "$tmp"
done
