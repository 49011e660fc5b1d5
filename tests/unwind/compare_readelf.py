#!/usr/bin/env python3
"""Compares leakaudit's compiled unwind table of an ELF file (tests/common/unwdump)
with binutils' interpretation of the same call-frame information (readelf -wF),
row by row: at every location readelf lists, the CFA rule, the return-address
rule and the frame-pointer rule must agree. Prints a summary line and the
first mismatches; exits 1 on any mismatch.

usage: compare_readelf.py UNWDUMP ELF [READELF]
"""
import bisect
import re
import subprocess
import sys

unwdump, elf = sys.argv[1], sys.argv[2]
readelf = sys.argv[3] if len(sys.argv) > 3 else "readelf"

rows = []  # (pc, cfa, off, ra, fp)
for line in subprocess.run([unwdump, elf], check=True, capture_output=True, text=True).stdout.splitlines():
    if line.startswith("#"):
        header = line
        continue
    f = line.split()
    rows.append((int(f[0], 16), f[1], int(f[2]), f[3], f[4]))
pcs = [r[0] for r in rows]


def ours(pc):
    i = bisect.bisect_right(pcs, pc) - 1
    return rows[i] if i >= 0 else None


out = subprocess.run([readelf, "-wF", elf], check=False, capture_output=True, text=True).stdout
arch_fp, arch_sp, arch_ra = ("rbp", "rsp", "ra")
aarch64 = "x29" in out
if aarch64:
    arch_fp, arch_sp = ("x29", "sp")

cie_rows = {}
fdes = []  # (lo, hi, [(loc, cells dict)])
cur = None
cols = None
for line in out.splitlines():
    m = re.match(r"^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ CIE", line)
    if m:
        cur = ("cie", m.group(1), [])
        cie_rows[m.group(1)] = cur[2]
        cols = None
        continue
    m = re.match(r"^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)", line)
    if m:
        cur = ("fde", m.group(1), [])
        fdes.append((int(m.group(2), 16), int(m.group(3), 16), m.group(1), cur[2]))
        cols = None
        continue
    if line.strip().startswith("LOC"):
        cols = line.split()[1:]
        continue
    m = re.match(r"^([0-9a-f]{8,16}) (.*)$", line)
    if m and cols and cur:
        cells = re.sub(r" \(\w+\)", "", m.group(2)).split()  # "r10 (r10)" -> "r10"
        cur[2].append((int(m.group(1), 16), dict(zip(cols, cells))))

checked = mismatched = skipped = 0
examples = []
for lo, hi, cie, frows in fdes:
    if lo == hi or lo == 0:
        continue
    if not frows:
        base = cie_rows.get(cie) or [(0, {})]
        frows = [(lo, base[-1][1])]
    for idx, (loc, cells) in enumerate(frows):
        end = frows[idx + 1][0] if idx + 1 < len(frows) else hi
        if end <= loc or loc < lo or loc >= hi:
            continue  # readelf prints locations outside the FDE for some set_loc programs
        want_cfa = cells.get("CFA", "")
        ra = cells.get("ra", cells.get("x30", "u"))
        fp = cells.get(arch_fp, "u")
        got = ours(loc)
        checked += 1
        if got is None:
            ok = False
        else:
            _, gcfa, goff, gra, gfp = got
            if ra == "u" and not aarch64:
                ok = gcfa == "end"
            elif re.match(r"^[rx]\d+$", ra) or ra == "exp":  # RA in another register
                ok = gcfa == "unsupported"
            elif gcfa == "unsupported" and any(
                    c.startswith("c") and abs(int(c[1:])) > 32767 for c in (ra, fp)):
                skipped += 1  # a save slot beyond the row's 16-bit offsets (docs/unwinding.md)
                continue
            elif aarch64 and ra == "u" and gcfa == "end":
                ok = True  # readelf prints "u" for undefined and for unset alike
            elif want_cfa.startswith(arch_sp + "+") or want_cfa.startswith(arch_sp + "-"):
                ok = gcfa == "sp" and goff == int(want_cfa[len(arch_sp):])
            elif want_cfa.startswith(arch_fp + "+") or want_cfa.startswith(arch_fp + "-"):
                ok = gcfa == "fp" and goff == int(want_cfa[len(arch_fp):])
            else:  # exp or another register: deref rule or unsupported
                ok = gcfa in ("*sp", "*fp", "unsupported")
                if ok and gcfa == "unsupported":
                    skipped += 1
                    continue
            if ok and gcfa not in ("end", "unsupported"):
                if ra.startswith("c"):
                    ok = gra not in ("lr",) and int(gra) == int(ra[1:])
                elif aarch64:
                    ok = gra == "lr" if ra in ("u", "s") else False
                if fp.startswith("c"):
                    ok = ok and gfp != "u" and int(gfp) == int(fp[1:])
                elif fp in ("u", "s") or fp.startswith("r") or fp.startswith("x") or fp == "exp":
                    ok = ok and gfp == "u"
        if not ok:
            mismatched += 1
            if len(examples) < 10:
                examples.append(f"  {loc:#x} (FDE {lo:#x}..{hi:#x}): readelf CFA={want_cfa} {arch_fp}={fp} ra={ra}; ours={got}")

print(f"{elf}: {checked} readelf rows checked, {mismatched} mismatched, {skipped} not expressible "
      f"({header.lstrip('# ')})")
for e in examples:
    print(e)
sys.exit(1 if mismatched or checked == 0 else 0)
