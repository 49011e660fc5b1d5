#!/usr/bin/env python3
"""Checks the heap stacks of a `leakaudit report --format json` of
tests/unwind/unwind_cases: every case is attributed to its application
function with the callers in order, the garbage-frame stack ends at
app_garbage, and no frame anywhere lies outside a module. Prints one "ok -"
line per case; exits 1 with the stacks seen on the first failure.

usage: check_stacks.py REPORT.json [CASE ...]   (default: every case)
"""
import json
import sys

# case -> functions that must appear in this order (not necessarily adjacent:
# libc frames in between), the first one within the first 3 frames.
CASES = {
    "strdup": ["app_strdup", "run_round", "main"],
    "opendir": ["app_opendir", "run_round", "main"],
    "fopen": ["app_fopen", "run_round", "main"],
    "qsort": ["cmp_alloc", "app_qsort", "run_round", "main"],
    "deep": ["deep_inner", "deep_outer", "app_deep", "run_round", "main"],
    "cxx_exception": ["__cxa_allocate_exception", "app_throw", "run_round", "main"],
    "constructor": ["ctor_helper", "deep_ctor", "call_init"],
    "dlopen": ["plugin_alloc", "plugin_entry", "app_dlopen", "run_round", "main"],
    # other stacks: the immediate caller at least (nothing above it is read)
    "altstack": ["altstack_alloc"],
    "coroutine": ["coro_alloc"],
}

report = json.load(open(sys.argv[1]))
wanted = sys.argv[2:] or list(CASES) + ["garbage", "no_bad_frames", "no_shim_frames"]
stacks = [[(f.get("function") or "??", f.get("module")) for f in s["frames"]]
          for s in report["heap"]["stacks"]]


def names(st):
    return [fn.split("@")[0] for fn, _ in st]


def show():
    for st in stacks:
        print("   ", " <- ".join(f"{fn}[{(m or '??').rsplit('/', 1)[-1]}]" for fn, m in st))


def fail(msg):
    print("FAIL:", msg)
    show()
    sys.exit(1)


def in_order(ns, want):
    pos = -1
    for w in want:
        try:
            pos = ns.index(w, pos + 1)
        except ValueError:
            return False
    return True


for case in wanted:
    if case in CASES:
        want = CASES[case]
        hits = [st for st in stacks if want[0] in names(st)[:3] and in_order(names(st), want)]
        if not hits:
            fail(f"{case}: no stack has {' <- '.join(want)}")
        print(f"ok - {case}: {' <- '.join(names(hits[0])[:len(want) + 3])}")
    elif case == "garbage":
        hits = [st for st in stacks if names(st)[:1] == ["app_garbage"]]
        if not hits:
            fail("garbage: no stack starts at app_garbage")
        for st in hits:
            if len(st) != 1:
                fail(f"garbage: the stack goes on past the lying frame record: {names(st)}")
        print("ok - garbage: the stack ends at app_garbage")
    elif case == "no_bad_frames":
        for st in stacks:
            for fn, mod in st:
                if not mod:
                    fail(f"a frame outside every module: {fn}")
        print(f"ok - no frame outside a module in {len(stacks)} stacks")
    elif case == "no_shim_frames":
        for st in stacks:
            for fn, mod in st:
                if mod and "libleakaudit" in mod:
                    fail(f"a frame of the tool itself in a user's stack: {fn}")
        print(f"ok - no frame of libleakaudit.so in {len(stacks)} stacks")
    else:
        fail(f"unknown case {case}")
