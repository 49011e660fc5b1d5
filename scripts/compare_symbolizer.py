#!/usr/bin/env python3
"""Checks `leakaudit report`'s symbolization against llvm-symbolizer.

usage: scripts/compare_symbolizer.py [-v] REPORT.json [REPORT.json ...]

Every distinct return address (module + file offset) in the reports' heap,
fd, mmap and resource stacks is looked up again with `llvm-symbolizer
--inlines` (LLVM's own DWARF reader; separate debug files found by build-id
under /usr/lib/debug, like ours), at the call instruction (the address minus
one), and the chain of frames is compared: as many frames (inlined ones and
the function they are in), each with the same source line and file name, and
inlined frames with the same function name. Names of the outermost frame are
not compared: we name it from the symbol table (`__libc_start_main@@GLIBC_2.34`),
DWARF names it `__libc_start_main_impl`.

Not GNU addr2line: binutils 2.40 names the wrong file for some DWARF 5 line
entries (libc's call of main: `libc-start.c:58`, where llvm-symbolizer, gdb
and we say `libc_start_call_main.h:58`, the header that line is in).

Addresses the reference cannot place (`??`: no debug info) are counted, not
compared. Prints one summary line, then up to 10 disagreements (all with -v);
exits 1 on any disagreement, 0 otherwise.
"""
import collections
import json
import os
import re
import subprocess
import sys


def load_segments(path):
    """PT_LOAD (offset, filesz, vaddr) of an ELF file, via readelf."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    segs = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[1], 16), int(f[4], 16), int(f[2], 16)))
    return segs


def to_vaddr(segs, off):
    for o, size, v in segs:
        if o <= off < o + size:
            return off - o + v
    return off


def addresses(report):
    """{(module, offset): [frame, ...]} for every stack in one report."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            frames = node.get("frames")
            if isinstance(frames, list) and frames and isinstance(frames[0], dict):
                by_index = collections.OrderedDict()
                for fr in frames:
                    if "module" in fr and "offset" in fr:
                        by_index.setdefault(fr["index"], []).append(fr)
                for chain in by_index.values():
                    key = (chain[0]["module"], int(chain[0]["offset"], 16))
                    found.setdefault(key, chain)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(report)
    return found


def reference(module, vaddrs):
    """{vaddr: [(function, file, line), ...]} innermost first, from one batch."""
    inp = "".join("0x%x\n" % (a - 1) for a in vaddrs)
    out = subprocess.run(["llvm-symbolizer", "--obj=" + module, "--print-address", "--inlines",
                          "--demangle"], input=inp, capture_output=True, text=True).stdout
    res = {}
    for block in out.split("\n\n"):
        lines = block.strip("\n").splitlines()
        if not lines or not re.fullmatch(r"0x[0-9a-f]+", lines[0]):
            continue
        chain = []
        for fn, loc in zip(lines[1::2], lines[2::2]):
            m = re.fullmatch(r"(.*):(\d+):(\d+)", loc)
            chain.append((fn, m.group(1) if m else "??", int(m.group(2)) if m else 0))
        res[int(lines[0], 16) + 1] = chain
    return res


def ours(chain):
    return [(f.get("function") or "??", f.get("file") or "", f.get("line") or 0,
             bool(f.get("inlined"))) for f in chain]


def disagreement(mine, theirs):
    if len(mine) != len(theirs):
        return "%d frames, the reference %d" % (len(mine), len(theirs))
    for k, ((fn, file, line, inl), (tfn, tfile, tline)) in enumerate(zip(mine, theirs)):
        if line != tline or os.path.basename(file) != os.path.basename(tfile):
            return "frame %d at %s:%d, the reference %s:%d" % (k, os.path.basename(file), line,
                                                          os.path.basename(tfile), tline)
        if inl and fn != tfn:
            return "frame %d is %s, the reference %s" % (k, fn, tfn)
    return None


def main(argv):
    verbose = "-v" in argv
    paths = [a for a in argv if a != "-v"]
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    found = {}
    for p in paths:
        with open(p) as f:
            for k, v in addresses(json.load(f)).items():
                found.setdefault(k, v)
    by_module = collections.defaultdict(list)
    for (mod, off) in found:
        by_module[mod].append(off)
    compared = agreed = unplaced = deepest = 0
    bad = []
    for mod, offs in sorted(by_module.items()):
        if not os.path.isfile(mod):
            unplaced += len(offs)
            continue
        segs = load_segments(mod)
        va = {off: to_vaddr(segs, off) for off in offs}
        theirs = reference(mod, sorted(set(va.values())))
        for off in offs:
            t = theirs.get(va[off], [])
            if not t or t[-1][2] == 0:
                unplaced += 1
                continue
            compared += 1
            mine = ours(found[(mod, off)])
            why = disagreement(mine, t)
            if why:
                bad.append("%s+0x%x: %s\n    ours:      %s\n    reference: %s" % (
                    os.path.basename(mod), off, why,
                    " <- ".join("%s %s:%d" % (f, os.path.basename(fl), ln) for f, fl, ln, _ in mine),
                    " <- ".join("%s %s:%d" % (f, os.path.basename(fl), ln) for f, fl, ln in t)))
            else:
                agreed += 1
                deepest = max(deepest, len(t))
    print("addresses %d: compared %d, agree %d, disagree %d, not placed by llvm-symbolizer %d; "
          "deepest chain %d frames" % (len(found), compared, agreed, len(bad), unplaced, deepest))
    for b in bad if verbose else bad[:10]:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
