#!/usr/bin/env bash
# Real programs behave exactly as without the shim (same exit status, same
# output) and are audited while they do: CPython's own regression tests,
# sqlite3, git, bash, gcc and ffmpeg.
# timeout: 900
# check: no
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
need_cmd sqlite3
need_cmd git
need_cmd ffmpeg
need_cmd gcc
PY=/usr/bin/python3.11
need_file "$PY"
need_file /usr/lib/python3.11/test/test_json/__init__.py

# same NAME CMD...: runs CMD bare and under the shim; stdout and exit status
# must be identical, and the shim must have written a readable snapshot.
same() {
    local name=$1
    shift
    local rc_bare=0 rc_shim=0
    (cd "$T/work-bare" && "$@") >"$T/$name.bare" 2>"$T/$name.bare.err" || rc_bare=$?
    (cd "$T/work-shim" && "$LEAKAUDIT" run -q -i 0 ${RUN_EXTRA:-} -o "$T/out-$name" -- "$@") \
        >"$T/$name.shim" \
        2>"$T/$name.shim.err" || rc_shim=$?
    [ "$rc_bare" = "$rc_shim" ] || { tail "$T/$name.shim.err"; fail "$name: exit $rc_bare bare, $rc_shim under the shim"; }
    if ! cmp -s "$T/$name.bare" "$T/$name.shim"; then
        diff "$T/$name.bare" "$T/$name.shim" | head -20
        fail "$name: output differs under the shim"
    fi
    ls "$T/out-$name"/*.snap >/dev/null 2>&1 || fail "$name: no snapshot written"
    for f in "$T/out-$name"/*.snap; do
        "$SNAPDUMP" "$f" >"$T/dump" || fail "$name: unreadable snapshot $f"
        grep -Eq '^loss (stack_table_full|heap_node_alloc_failed|snapshot_write_failed)=[1-9]' "$T/dump" &&
            fail "$name: data lost: $(grep '^loss' "$T/dump" | tr '\n' ' ')"
        grep -q '^corruption ' "$T/dump" && fail "$name: false corruption report: $(grep '^corruption' "$T/dump" | head -2)"
    done
    grep -q '==leakaudit==' "$T/$name.shim.err" && fail "$name: guard report on stderr: $(grep -m3 '==leakaudit==' "$T/$name.shim.err")"
    ok "$name: same status ($rc_bare) and output, $(ls "$T/out-$name"/*.snap | wc -l) snapshots${RUN_EXTRA:+ ($RUN_EXTRA)}"
}
mkdir -p "$T/work-bare" "$T/work-shim"

# CPython's regression suite: the summary line is the output compared.
pytest_mods="${LEAKAUDIT_PY_TESTS:-test_json test_re test_collections test_threading test_subprocess}"
py_summary() { "$PY" -m test --timeout 300 $pytest_mods 2>&1 | grep -E '^(Tests result|All [0-9]+ tests OK)'; }
export -f py_summary; export PY pytest_mods
same python-regrtest bash -c py_summary
# The summaries are identical (checked above); say what they were. A suite
# that fails bare too (a loaded machine can time out test_threading) is not
# the shim's doing.
cat "$T/python-regrtest.shim"

# sqlite3 on a scripted workload
cat >"$T/work.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000)
INSERT INTO t SELECT x, printf('row-%05d', x), x * 0.5 FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(v), max(name) FROM t;
UPDATE t SET v = v * 2 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 7 = 0;
SELECT count(*), round(avg(v), 3) FROM t;
SELECT name FROM t WHERE name LIKE 'row-1999%' ORDER BY name;
SQL
same sqlite3-memory bash -c "sqlite3 :memory: < '$T/work.sql'"
same sqlite3-file bash -c "rm -f db.sqlite && sqlite3 db.sqlite < '$T/work.sql'"

# git: init, commit, branch, log, diff (fixed identity and dates)
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.com GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" \
    GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
git_script='rm -rf r && git init -q -b main r && cd r && for i in 1 2 3; do seq $i 500 > f$i; git add f$i;
  git commit -qm "c$i"; done && git checkout -qb side && sed -i s/7/seven/ f1 && git commit -qam side &&
  git log --oneline --stat && git diff main side | head -40 && git gc -q && git count-objects -v | grep -c .'
same git bash -c "$git_script"

# bash: loops, subshells, pipes, here-documents, arithmetic, arrays
bash_script='declare -A m; for i in $(seq 1 300); do m[$i]=$((i*i)); done; s=0;
  for k in "${!m[@]}"; do s=$((s+m[$k])); done; echo sum=$s;
  echo "$(seq 1 1000 | sort -r | head -3 | tr "\n" ,)"; (cd /; ls -d usr); cat <<EOT | wc -c
here document $s
EOT
  printf "%s\n" a b c | while read -r x; do echo "[$x]"; done; exit 3'
same bash bash -c "$bash_script"

# gcc compiling a real file: identical object code
same gcc bash -c "gcc -O2 -g0 -c '$ROOT/tests/allocshim/planted.c' -o p.o && md5sum < p.o"

# ffmpeg: make a clip and transcode it, bit-exact
ff="ffmpeg -nostdin -v error -f lavfi -i testsrc=size=320x240:rate=25:duration=2 -c:v mpeg4"
ff+=" -threads 1 -bitexact -y a.mp4 && ffmpeg -nostdin -v error -i a.mp4 -vf scale=160:120"
ff+=" -c:v mjpeg -threads 1 -bitexact -y b.avi && ffmpeg -nostdin -v error -i b.avi -f framemd5 -"
ff+=" | tail -5"
same ffmpeg bash -c "$ff"
grep -q '^0, *49,' "$T/ffmpeg.shim" || fail "ffmpeg did not decode all 50 frames under the shim"
