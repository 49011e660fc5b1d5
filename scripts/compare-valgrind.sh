#!/usr/bin/env bash
# Runs installed distro programs once under valgrind memcheck and once under
# `leakaudit run`, doing the same work both times, and prints one line per
# program comparing the two: leak rows, rows with a bad stack, valgrind's
# definitely-lost records matched on their first three frames outside libc,
# definitely-lost blocks found, precision of leakaudit's "definitely lost"
# rows, still-reachable totals. The acceptance tool of issues 17 and 18;
# every column is defined in docs/compare-valgrind.md.
#
# usage: scripts/compare-valgrind.sh [-o DIR] [-V DIR] [-h]
#   -o DIR   keep every output in DIR (default: a temporary directory, removed)
#   -V DIR   reuse the valgrind runs kept in DIR by an earlier -o run (valgrind
#            does not depend on LEAKAUDIT_RUN_OPTS: compare two unwinders
#            without running valgrind twice)
#
# environment:
#   PROGRAMS            programs to run (default: git sqlite3 ffmpeg python3
#                       bash gcc xz perl curl jq). An entry with a '/' is a
#                       command of our own, its arguments joined by ',':
#                       PROGRAMS="build/tests/allocshim/planted,errpath"
#   LEAKAUDIT_RUN_OPTS  extra `leakaudit run` options, e.g. "-u dwarf"
#   VALGRIND_OPTS       extra valgrind options
#   BUILD               build directory (default build)
#
# The table goes to stdout, progress to stderr. Run from anywhere; programs
# only touch files in the work directory and 127.0.0.1 (curl's server).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LEAKAUDIT=$BUILD/bin/leakaudit
COMPARE_PY=$ROOT/scripts/compare_valgrind.py
DEFAULT_PROGRAMS="git sqlite3 ffmpeg python3 bash gcc xz perl curl jq"
PROGRAMS=${PROGRAMS:-$DEFAULT_PROGRAMS}
LEAKAUDIT_RUN_OPTS=${LEAKAUDIT_RUN_OPTS:-}
VALGRIND_OPTS=${VALGRIND_OPTS:-}
# Python as the distro ships it: a pyenv or venv python3 first in PATH is a
# wrapper script, and under --trace-children it would be audited too.
PY=/usr/bin/python3

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
keep='' vg_from=''
while getopts "o:V:h" opt; do
    case $opt in
    o) keep=$OPTARG ;;
    V) vg_from=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }

die() { echo "compare-valgrind: $*" >&2; exit 1; }
say() { echo "compare-valgrind: $*" >&2; }
[ -x "$LEAKAUDIT" ] || die "$LEAKAUDIT is missing (make all)"
command -v valgrind >/dev/null || [ -n "$vg_from" ] || die "valgrind is not installed (make deps)"
[ -x "$PY" ] || die "$PY is missing"
[ -z "$vg_from" ] || [ -d "$vg_from" ] || die "-V $vg_from: no such directory"

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    OUT=$(cd "$keep" && pwd)
else
    OUT=$(mktemp -d /tmp/compare-valgrind.XXXXXX)
    trap 'rm -rf "$OUT"' EXIT
fi
[ -z "$vg_from" ] || vg_from=$(cd "$vg_from" && pwd)

# Valgrind as the reference: every leak kind, deep stacks, children followed
# (gcc's cc1 and as; the shim follows them too), each process in its own
# text log (valgrind reopens --log-file in a forked child but not
# --xml-file: bash's subshells would write into their parent's XML). No
# libc freeres (the program's own exit, which is what the shim sees); C++
# freeres as valgrind's default (libstdc++'s emergency exception pool is
# released, and the shim releases it before its exit scan too).
# -d prints each process's memory layout at exit (to stderr), from which
# frames get their module and offset.
VG_ARGS=(--leak-check=full --show-leak-kinds=all --num-callers=40 --trace-children=yes
    --run-libc-freeres=no --keep-debuginfo=yes -d)
# shellcheck disable=SC2206 # word splitting of the user's options is wanted
VG_ARGS+=($VALGRIND_OPTS)
# shellcheck disable=SC2206
LA_ARGS=(-q -i 0 $LEAKAUDIT_RUN_OPTS)

MEASURED=0
# measure CMD ARGS...: one measured process (and its children) under the tool
# of this pass; everything else a workload runs is preparation.
measure() {
    case $TOOL in
    valgrind)
        # -d writes to stderr, every line tagged with its pid; the program's
        # own stderr goes there too (only tagged lines are read).
        MEASURED=$((MEASURED + 1))
        nice -n 10 valgrind "${VG_ARGS[@]}" --log-file="$DATA/vg.%p.log" -- "$@" \
            2>"$DATA/stderr.$MEASURED.log"
        ;;
    leakaudit) nice -n 10 "$LEAKAUDIT" run "${LA_ARGS[@]}" -o "$DATA" -- "$@" ;;
    esac
}

# Workloads: each runs in a fresh, empty work directory (the cwd), offline,
# and does the same work in both passes.

workload_git() {
    export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_PAGER=cat PAGER=cat
    export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t
    export GIT_COMMITTER_EMAIL=t@example.invalid
    export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
    measure git init -q -b main repo
    local i
    for i in $(seq 40); do printf 'line %s\n%s\n' "$i" "$(seq "$i")" >"repo/f$i.txt"; done
    measure git -C repo add .
    measure git -C repo commit -q -m "first"
    for i in $(seq 1 3 40); do echo "change $i" >>"repo/f$i.txt"; done
    measure git -C repo commit -q -a -m "second"
    measure git -C repo log --stat
    measure git -C repo status
    measure git -C repo diff HEAD~1 --stat
}

workload_sqlite3() {
    {
        echo "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL);"
        echo "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);"
        echo "BEGIN;"
        local i
        for i in $(seq 0 19); do echo "INSERT INTO grp VALUES($i, 'group $i');"; done
        for i in $(seq 1 4000); do
            echo "INSERT INTO item(name, grp, price) VALUES('item $i', $((i % 20)), $i.5);"
        done
        echo "COMMIT;"
        echo "CREATE INDEX item_grp ON item(grp);"
        echo "SELECT g.label, count(*), sum(i.price) FROM item i JOIN grp g ON g.id = i.grp"
        echo "  GROUP BY g.label ORDER BY 3 DESC;"
        echo "SELECT name FROM item WHERE name LIKE 'item 39%' ORDER BY price LIMIT 5;"
        echo "UPDATE item SET price = price * 2 WHERE grp = 3;"
        echo "DELETE FROM item WHERE id % 7 = 0;"
        echo "SELECT count(*), avg(price) FROM item;"
    } >work.sql
    measure sqlite3 db.sqlite <work.sql
}

workload_ffmpeg() {
    local common=(-nostdin -hide_banner -loglevel error -y)
    measure ffmpeg "${common[@]}" -f lavfi -i testsrc=duration=1:size=320x240:rate=25 \
        -c:v mpeg4 -threads 2 clip.mkv
    measure ffmpeg "${common[@]}" -threads 2 -i clip.mkv -vf scale=160:120 -c:v mjpeg \
        -threads 2 small.avi
}

workload_python3() {
    cat >work.py <<'EOF'
import collections, json, re
text = " ".join("alpha%d beta gamma%d delta" % (i, i * 7) for i in range(5000))
words = re.findall(r"[a-z]+", text)
counts = collections.Counter(words)
doc = {"n": len(words), "top": counts.most_common(20),
       "groups": {k: [w for w in counts if w.startswith(k)][:50] for k in "abgd"}}
text = json.dumps(doc, sort_keys=True)
back = json.loads(text)
assert back["n"] == doc["n"]
dq = collections.deque(maxlen=100)
for m in re.finditer(r"(\w+?)(\d+)", text):
    dq.append((m.group(1), int(m.group(2))))
print(len(text), len(dq), sum(v for _, v in dq))
EOF
    measure "$PY" work.py
}

workload_bash() {
    cat >work.sh <<'EOF'
declare -A seen
total=0
for ((i = 0; i < 2000; i++)); do
    key="k$((i % 97))"
    seen[$key]=$(( ${seen[$key]:-0} + i ))
    total=$((total + i))
done
words=()
for ((i = 0; i < 200; i++)); do words+=("w$i"); done
sub=$(for w in "${words[@]}"; do echo "$w"; done |
    { n=0; while read -r l; do n=$((n + ${#l})); done; echo $n; })
f() { local x=$1; [ "$x" -le 0 ] && { echo 0; return; }; echo $(( x + $(f $((x - 1))) )); }
( for k in "${!seen[@]}"; do echo "$k=${seen[$k]}"; done ) > seen.txt
printf '%s %s %s %s\n' "$total" "$sub" "$(f 20)" "${#seen[@]}"
EOF
    measure bash work.sh
}

workload_gcc() {
    cat >prog.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct item { char name[32]; int weight; struct item *next; };
static int by_weight(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return (x->weight > y->weight) - (x->weight < y->weight);
}
int main(int argc, char **argv)
{
    struct item items[64];
    for (int i = 0; i < 64; i++) {
        snprintf(items[i].name, sizeof(items[i].name), "item-%d", i * 37 % 64);
        items[i].weight = (i * 7919) % 101;
        items[i].next = i ? &items[i - 1] : NULL;
    }
    qsort(items, 64, sizeof(items[0]), by_weight);
    char *s = strdup(argc > 1 ? argv[1] : "none");
    printf("%s %s %d\n", s, items[0].name, items[63].weight);
    free(s);
    return 0;
}
EOF
    measure gcc -O2 -g -Wall -c prog.c -o prog.o
}

workload_xz() {
    local i
    for i in $(seq 1 20000); do echo "record $i $((i * i % 9973)) abcdefghij"; done >data.txt
    measure xz -6 -T2 -k data.txt
    measure xz -d -T2 -c data.txt.xz >data.out
    cmp data.txt data.out
}

workload_perl() {
    cat >work.pl <<'EOF'
use strict; use warnings;
my %h; my @list;
for my $i (1 .. 20000) {
    my $k = "key" . ($i % 500);
    $h{$k} .= "$i,";
    push @list, { id => $i, name => "n$i" } if $i % 10 == 0;
}
my $n = 0;
for my $k (sort keys %h) { my @parts = split /,/, $h{$k}; $n += scalar grep { /7$/ } @parts; }
my $text = join " ", map { $_->{name} } @list;
(my $copy = $text) =~ s/n(\d+)/<$1>/g;
my %by = map { $_->{id} => $_ } @list;
printf "%d %d %d %d\n", $n, length($copy), scalar(keys %by), scalar(() = $text =~ /n1\d*/g);
EOF
    measure perl work.pl
}

workload_curl() {
    mkdir -p www
    head -c 300000 /dev/zero | tr '\0' 'x' >www/file.txt
    measure curl -s -o got-file.txt "file://$PWD/www/file.txt"
    # A loopback HTTP server, started outside the measured runs.
    "$PY" - www >port.txt 2>server.log <<'EOF' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
    local server=$! i port=
    for i in $(seq 100); do
        port=$(cat port.txt 2>/dev/null || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -n "$port" ]; then
        measure curl -s -o got-http.txt "http://127.0.0.1:$port/file.txt" || true
    else
        echo "compare-valgrind: loopback server did not start" >&2
    fi
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    cmp www/file.txt got-file.txt
    [ -z "$port" ] || cmp www/file.txt got-http.txt
}

workload_jq() {
    "$PY" -c '
import json
print(json.dumps([{"id": i, "name": "n%d" % i, "tags": ["t%d" % (i % 7), "x"], "v": i * 1.5}
                  for i in range(3000)]))' >data.json
    measure jq -c '[.[] | select(.id % 3 == 0) | {id, tag: .tags[0]}] | group_by(.tag)
        | map({tag: .[0].tag, n: length})' data.json
    measure jq -r '.[] | "\(.id) \(.name | ascii_upcase) \(.v)"' data.json >lines.txt
}

# A command of our own: PATH,ARG,ARG...
workload_custom() {
    local -a cmd
    IFS=, read -r -a cmd <<<"$1"
    measure "${cmd[@]}"
}

# run_pass TOOL NAME ENTRY: the workload of one program under one tool.
run_pass() {
    TOOL=$1
    local name=$2 entry=$3 dir=$OUT/$2
    DATA=$dir/$TOOL
    rm -rf "$DATA" "$dir/work-$TOOL"
    mkdir -p "$DATA" "$dir/work-$TOOL"
    local t0=$SECONDS rc=0
    (
        cd "$dir/work-$TOOL"
        set -e
        if [[ "$entry" == */* ]]; then workload_custom "$entry"; else "workload_$name"; fi
    ) >"$dir/workload-$TOOL.log" 2>&1 </dev/null || rc=$?
    [ $rc -eq 0 ] || say "$name: workload failed under $TOOL (exit $rc, $dir/workload-$TOOL.log)"
    say "$name: $TOOL $((SECONDS - t0)) s"
    [ -n "$keep" ] || rm -rf "$dir/work-$TOOL"
    return 0
}

names=()
start=$SECONDS
for entry in $PROGRAMS; do
    if [[ "$entry" == */* ]]; then
        exe=${entry%%,*}
        case "$exe" in /*) ;; *) exe=$PWD/$exe ;; esac
        [ -x "$exe" ] || die "$exe: not an executable"
        name=$(basename "$exe")
        entry=$exe${entry#"${entry%%,*}"}
    else
        name=$entry
        declare -F "workload_$name" >/dev/null ||
            die "no workload for '$name' (known: $DEFAULT_PROGRAMS)"
        if ! command -v "$name" >/dev/null; then
            say "$name: not installed, skipped"
            continue
        fi
    fi
    names+=("$name")
    if [ -n "$vg_from" ]; then
        [ -d "$vg_from/$name/valgrind" ] || die "$vg_from/$name/valgrind: no valgrind run kept"
        if [ "$vg_from" != "$OUT" ]; then
            rm -rf "$OUT/$name/valgrind"
            mkdir -p "$OUT/$name"
            cp -r "$vg_from/$name/valgrind" "$OUT/$name/valgrind"
        fi
    else
        run_pass valgrind "$name" "$entry"
    fi
    run_pass leakaudit "$name" "$entry"
done
[ ${#names[@]} -gt 0 ] || die "no program to compare"
say "runs done in $((SECONDS - start)) s; comparing"
"$PY" "$COMPARE_PY" --leakaudit "$LEAKAUDIT" "$OUT" "${names[@]}"
