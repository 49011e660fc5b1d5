#!/usr/bin/env bash
# compare-valgrind.sh [-o DIR] [NAME=COMMAND ...]: runs each command under
# `leakaudit run` and under valgrind memcheck (--trace-children=yes,
# --run-libc-freeres=no) and compares the exit reachability scan process by
# process (docs/reachability.md, "Measured against valgrind"):
#   - the four classes' totals, and still reachable ours/valgrind;
#   - recall: valgrind's definitely-lost records found by leakaudit as
#     definitely or indirectly lost (matched by the first frame outside the
#     allocator and libc's allocation wrappers);
#   - precision: leakaudit's lost stacks that valgrind calls definitely or
#     indirectly lost.
# Without arguments it runs a default set of distro programs. Needs
# valgrind and python3; run from the top of the tree after `make`.
# COMPARE_ONLY=1 compares the logs of a previous run in DIR again.
set -euo pipefail
cd "$(dirname "$0")/.."
LA=${LA:-build/bin/leakaudit}
OUT=build/compare-valgrind
if [ "${1:-}" = -o ]; then
    OUT=$2
    shift 2
fi
command -v valgrind >/dev/null || { echo "compare-valgrind: valgrind is not installed" >&2; exit 1; }
[ -n "${COMPARE_ONLY:-}" ] || rm -rf "$OUT"
mkdir -p "$OUT"
printf 'int main(void) { return 0; }\n' >"$OUT/hello.c"
head -c 200000 /dev/urandom >"$OUT/blob"
if [ $# -eq 0 ]; then
    set -- \
        "git=git -C $PWD log --oneline -5" \
        "sqlite3=sqlite3 :memory: 'create table t(a); insert into t values (1); select * from t;'" \
        "python3=/usr/bin/python3 -c 'import json, threading; t = threading.Thread(target=print); t.start(); t.join()'" \
        "bash=bash -c 'for i in 1 2 3; do echo \$i; done'" \
        "gcc=gcc -c -o $OUT/hello.o $OUT/hello.c" \
        "xz=xz -9 -k -c $OUT/blob" \
        "perl=perl -e 'my %h = map { \$_ => 1 } 1..1000; print scalar(keys %h), qq(\n)'" \
        "curl=curl -s -o /dev/null file:///etc/hostname" \
        "ffmpeg=ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=duration=1:size=320x240:rate=10 -threads 4 -c:v mpeg4 -f null -"
fi

for spec in "$@"; do
    [ -z "${COMPARE_ONLY:-}" ] || break
    name=${spec%%=*}
    cmd=${spec#*=}
    echo "compare-valgrind: $name: $cmd" >&2
    mkdir -p "$OUT/$name/la" "$OUT/$name/vg"
    eval "nice $LA run -q -o '$OUT/$name/la' -- $cmd" >/dev/null 2>&1 </dev/null || true
    eval "nice valgrind --trace-children=yes --leak-check=full --show-leak-kinds=all \
        --run-libc-freeres=no --log-file='$OUT/$name/vg/%p.log' $cmd" >/dev/null 2>&1 </dev/null || true
    # one JSON report per series (process): the newest snapshot of each
    for series in $(ls "$OUT/$name/la" | sed -n 's/\.[0-9]*\.snap$//p' | sort -u); do
        last=$(ls "$OUT/$name/la/$series".*.snap | sort | tail -1)
        "$LA" report -f json -n 0 -o "$OUT/$name/la/$series.json" "$last" 2>/dev/null || true
    done
done
python3 - "$OUT" "$@" <<'PY'
import glob, json, os, re, shutil, sys
from collections import defaultdict

out, specs = sys.argv[1], sys.argv[2:]
ALLOC = re.compile(r"^(malloc|calloc|realloc|reallocarray|free|memalign|aligned_alloc|posix_memalign|"
                   r"valloc|pvalloc|strdup|strndup|__strdup|__strndup|operator new.*|operator delete.*|"
                   r"xmalloc|xcalloc|xrealloc|xstrdup|g_malloc.*|g_realloc.*|g_strdup.*|"
                   r"_dl_.*|__libc_.*|alloc_block|\?\?|)$")
CLASSES = ("definitely", "indirectly", "possibly", "still")


def key_of(frames):
    """The first frame outside the allocator: its function, or, for a binary
    without symbols, its module and the low 12 bits of the call address
    (the same under any load address)."""
    for func, mod, addr in frames:
        if func and func not in ("??", "???"):
            if not ALLOC.match(func):
                return func.lstrip("_")  # aliases: __newlocale / newlocale
        elif mod and addr is not None and "vgpreload" not in mod:
            return "%s+%03x" % (os.path.basename(mod), addr & 0xfff)
    return "?"


def first_of(frames):
    """The caller of the allocator entry point (a coarser key for stacks
    one side could not unwind further)."""
    for func, mod, addr in frames:
        if mod and "vgpreload" in mod:
            continue
        if func and func not in ("??", "???"):
            return func.lstrip("_")
        return "%s+%03x" % (os.path.basename(mod or "?"), (addr or 0) & 0xfff)
    return "?"


def ours(path):
    """(exe, totals {class: [bytes, blocks]}, {key: set(classes)}, {key: first keys})"""
    j = json.load(open(path))
    tot = {c: [0, 0] for c in CLASSES}
    keys, firsts = defaultdict(set), defaultdict(set)
    r = j.get("reachability") or {}
    names = {"definitely_lost": "definitely", "indirectly_lost": "indirectly",
             "possibly_lost": "possibly", "still_reachable": "still"}
    for k, c in names.items():
        t = (r.get("totals") or {}).get(k) or {}
        tot[c] = [t.get("bytes", 0), t.get("blocks", 0)]
    for s in j["heap"]["stacks"]:
        rr = s.get("reachability") or {}
        frames = [(f.get("function"), f.get("module"),
                   int(f["offset"], 16) - 1 if f.get("offset") else None) for f in s["frames"]]
        for k, c in names.items():
            if (rr.get(k) or {}).get("blocks"):
                keys[key_of(frames)].add(c)
                keys["first:" + first_of(frames)].add(c)
                firsts[key_of(frames)].add("first:" + first_of(frames))
    return os.path.basename(j["series"]["exe"]), tot, keys, firsts


def valgrind(path):
    tot = {c: [0, 0] for c in CLASSES}
    keys, firsts = defaultdict(set), defaultdict(set)
    exe, cur, funcs = None, None, []
    for line in open(path, errors="replace"):
        line = re.sub(r"^==\d+==\s?", "", line.rstrip("\n"))
        m = re.match(r"Command: (\S+)", line)
        if m and exe is None:
            exe = os.path.basename(os.path.realpath(shutil.which(m.group(1)) or m.group(1)))
        m = re.match(r"([\d,]+) (?:\([^)]*\) )?bytes in ([\d,]+) blocks are (\w+)", line)
        if m:
            cur, funcs = m.group(3), []
            continue
        if cur:
            f = re.search(r"(?:at|by) 0x([0-9A-F]+): (.+?) \((?:in ([^)]*)|[^)]*:\d+)\)$", line)
            if f:
                funcs.append((re.sub(r"\(.*", "", f.group(2)).strip(), f.group(3),
                              int(f.group(1), 16)))
                continue
            if not line.strip():
                keys[key_of(funcs)].add(cur)
                keys["first:" + first_of(funcs)].add(cur)
                firsts[key_of(funcs)].add("first:" + first_of(funcs))
                cur = None
        for c, pat in (("definitely", "definitely lost"), ("indirectly", "indirectly lost"),
                       ("possibly", "possibly lost"), ("still", "still reachable")):
            m = re.match(r"\s*%s: ([\d,]+) bytes in ([\d,]+) blocks" % pat, line)
            if m:
                tot[c] = [int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))]
    return exe, tot, keys, firsts


def fmt(t):
    return "/".join("%d" % t[c][0] for c in CLASSES)


print("| program | process | leakaudit D/I/P/R bytes | valgrind D/I/P/R bytes | reachable ratio | "
      "vg definite found | our lost rows vg agrees |")
print("|---|---|---|---|---|---|---|")
notes = []
for spec in specs:
    name = spec.split("=", 1)[0]
    la = [ours(p) for p in sorted(glob.glob(os.path.join(out, name, "la", "*.json")))]
    vg = [valgrind(p) for p in sorted(glob.glob(os.path.join(out, name, "vg", "*.log")))]
    used = set()
    for exe, t, keys, ofirst in la:
        match = next((i for i, v in enumerate(vg) if v[0] == exe and i not in used), None)
        if match is None:
            print("| %s | %s | %s | (no valgrind log) | | | |" % (name, exe, fmt(t)))
            continue
        used.add(match)
        _, vt, vkeys, vfirst = vg[match]
        ratio = t["still"][0] / vt["still"][0] if vt["still"][0] else float("nan")
        lost_classes = {"definitely", "indirectly"}
        vdef = [k for k, c in vkeys.items() if "definitely" in c and not k.startswith("first:")]
        found = sum(1 for k in vdef if keys.get(k, set()) & lost_classes or
                    any(keys.get(f, set()) & lost_classes for f in vfirst[k]))
        lost = [k for k, c in keys.items() if c & lost_classes and not k.startswith("first:")]
        agree = sum(1 for k in lost if vkeys.get(k, set()) & lost_classes or
                    any(vkeys.get(f, set()) & lost_classes for f in ofirst[k]))
        missed = [k for k in vdef if not (keys.get(k, set()) & lost_classes or
                  any(keys.get(f, set()) & lost_classes for f in vfirst[k]))]
        if missed:
            notes.append("%s/%s: valgrind definitely lost, not matched: %s" % (name, exe, ", ".join(missed)))
        print("| %s | %s | %s | %s | %.2f | %d of %d | %d of %d |" % (
            name, exe, fmt(t), fmt(vt), ratio, found, len(vdef), agree, len(lost)))
for n in notes:
    print(n)
PY
