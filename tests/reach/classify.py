#!/usr/bin/env python3
"""Turns reachability results into "case class blocks" lines for the reach
tests, naming each stack by its first case_* function.

  classify.py leakaudit BINARY < reachdump-output
  classify.py valgrind < valgrind-log
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

# valgrind's log is parsed by the comparison script's parser, the one copy
# (and no __pycache__ left in scripts/ by a test)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import compare_valgrind  # noqa: E402


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
    kinds = {"definitely_lost": "definite", "indirectly_lost": "indirect",
             "possibly_lost": "possible", "still_reachable": "reachable"}
    for lines in compare_valgrind.valgrind_lines_by_pid(sys.stdin).values():
        for rec in compare_valgrind.parse_valgrind_lines(lines)["records"]:
            case = next((f["function"] for f in rec["frames"]
                         if (f["function"] or "").startswith("case_")), None)
            if case:
                totals[(case, kinds[rec["kind"]])] += rec["blocks"]
    return totals


t = from_leakaudit(sys.argv[2]) if sys.argv[1] == "leakaudit" else from_valgrind()
for (case, cls), n in sorted(t.items()):
    print(case, cls, n)
