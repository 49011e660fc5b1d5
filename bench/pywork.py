"""A deep-stack allocation workload for bench/python.sh: JSON, regular
expressions and dict/list churn in nested calls, run with
PYTHONMALLOC=malloc so every object goes through the allocator (and the
shim). Prints ns per iteration of the timed loop (start-up excluded).

usage: python3 bench/pywork.py ITERATIONS"""
import json
import re
import sys
import time

WORD = re.compile(r"(\w+)@(\w+)\.(com|org|net)")
DOC = {"users": [{"id": i, "mail": f"user{i}@host{i % 7}.org", "tags": ["a", "b", str(i)]}
                 for i in range(40)]}


def depth(n, f):
    return f() if n == 0 else depth(n - 1, f)


def one():
    text = json.dumps(DOC)
    back = json.loads(text)
    hosts = {}
    for u in back["users"]:
        m = WORD.match(u["mail"])
        hosts.setdefault(m.group(2), []).append((u["id"], tuple(u["tags"])))
    return sum(len(v) for v in hosts.values())


def main():
    n = int(sys.argv[1])
    t0 = time.perf_counter_ns()
    total = 0
    for i in range(n):
        total += depth(20 + i % 10, one)  # 20-30 extra Python frames, ~60-90 C frames
    dt = time.perf_counter_ns() - t0
    print(f"checksum={total} ns_per_call={dt / n:.1f}")


main()
