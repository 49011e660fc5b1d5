#!/usr/bin/env python3
"""Turns reachability results into "case class blocks" lines for the reach
tests, naming each stack by its first case_* function.

  classify.py leakaudit BINARY < reachdump-output
  classify.py valgrind < valgrind-log
"""
import re
import subprocess
import sys
from collections import defaultdict


def from_leakaudit(binary):
    totals = defaultdict(int)
    names = {}
    for line in sys.stdin:
        m = re.match(r"stack \d+ (\w+) (\d+) \d+ :(.*)", line)
        if not m:
            continue
        cls, blocks, frames = m.group(1), int(m.group(2)), m.group(3).split()
        case = None
        for f in frames:
            mod, _, off = f.rpartition("+")
            if mod != binary:
                continue
            if off not in names:
                out = subprocess.run(["addr2line", "-f", "-e", binary, off],
                                     capture_output=True, text=True).stdout.split("\n")
                names[off] = out[0]
            if names[off].startswith("case_"):
                case = names[off]
                break
        if case:
            totals[(case, cls)] += blocks
    return totals


def from_valgrind():
    totals = defaultdict(int)
    kinds = {"definitely": "definite", "indirectly": "indirect", "possibly": "possible",
             "still": "reachable"}
    cur = None
    for line in sys.stdin:
        line = re.sub(r"^==\d+==\s?", "", line.rstrip("\n"))
        m = re.match(r"[\d,]+ (?:\([^)]*\) )?bytes in ([\d,]+) blocks are (\w+)", line)
        if m:
            cur = [kinds[m.group(2)], int(m.group(1).replace(",", "")), None]
            continue
        if cur and cur[2] is None:
            f = re.search(r"(?:at|by) 0x[0-9A-F]+: (case_\w+)", line)
            if f:
                cur[2] = f.group(1)
                totals[(cur[2], cur[0])] += cur[1]
        if not line.strip():
            cur = None
    return totals


t = from_leakaudit(sys.argv[2]) if sys.argv[1] == "leakaudit" else from_valgrind()
for (case, cls), n in sorted(t.items()):
    print(case, cls, n)
