#!/usr/bin/env python3
"""Test helper: reads snapdump output of every snapshot given and checks that
the memory breakdown's components, without the unaccounted remainder, add up
to the RSS and PSS smaps_rollup reported, within TOLERANCE; that the heap
bucket's parts are not degenerate (file-backed and live heap present).
Usage: check_adds_up.py LABEL DUMP..."""
import re
import sys

TOLERANCE = 0.05
label, dumps = sys.argv[1], sys.argv[2:]
checked = 0
for path in dumps:
    lines = open(path).read().splitlines()
    info = [l for l in lines if l.startswith("meminfo ")]
    if not info:
        continue
    m = dict(re.findall(r"(\w+)=(\d+)", info[0]))
    rss, pss = int(m["rss"]), int(m["pss"])
    comp_rss, comp_pss = {}, {}
    for l in lines:
        if not l.startswith("mem "):
            continue
        key = re.search(r"component=(\w+)", l).group(1)
        f = dict(re.findall(r" (rss|pss)=(-?\d+)", l))
        comp_rss[key] = comp_rss.get(key, 0) + int(f["rss"])
        comp_pss[key] = comp_pss.get(key, 0) + int(f["pss"])
    measured_rss = sum(v for k, v in comp_rss.items() if k != "unaccounted")
    measured_pss = sum(v for k, v in comp_pss.items() if k != "unaccounted")
    assert abs(measured_rss - rss) <= TOLERANCE * rss, (label, path, "rss", measured_rss, rss)
    assert abs(measured_pss - pss) <= TOLERANCE * pss, (label, path, "pss", measured_pss, pss)
    assert comp_rss.get("file", 0) > 0, (label, path, comp_rss)
    assert comp_rss.get("heap_live", 0) > 0, (label, path, comp_rss)
    checked += 1
    last = (rss, measured_rss, comp_rss)
assert checked >= 2, (label, "snapshots with a breakdown", checked)
rss, measured, comps = last
print("ok - [%s] %d snapshots add up within %.0f %%; last: RSS %d, components %d (%+.2f %%): %s" % (
    label, checked, TOLERANCE * 100, rss, measured, 100.0 * (measured - rss) / rss,
    ", ".join("%s %d KiB" % (k, v // 1024) for k, v in sorted(comps.items()))))
