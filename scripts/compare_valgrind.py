#!/usr/bin/env python3
"""Compares leakaudit's exit reports with valgrind memcheck's leak records,
program by program, and prints the table of scripts/compare-valgrind.sh
(every column is defined in docs/compare-valgrind.md).

  compare_valgrind.py [--leakaudit BIN] DIR PROGRAM...

DIR/PROGRAM/valgrind/ holds vg.PID.log (--log-file=vg.%p.log) for each
process and stderr.N.log (-d: each process's memory layout at exit);
DIR/PROGRAM/leakaudit/ the snapshot series of `leakaudit run`, one per
process. Writes DIR/PROGRAM/details.txt (every record and row behind the
numbers) and the JSON reports it read into DIR/PROGRAM/leakaudit-json/.

The parsing and stack helpers are importable (stdlib only): tests and other
scripts use them instead of their own copies.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

# How many frames outside libc two stacks must share to be the same site.
MATCH_FRAMES = 3

CLASSES = ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")


# --------------------------------------------------------------- frames


def module_base(path):
    return os.path.basename(path) if path else None


def is_libc_module(mod):
    """libc, the dynamic loader, leakaudit's shim and valgrind's preloads:
    the frames that are not "outside libc"."""
    return bool(mod) and (mod.startswith(("libc.so", "libc-", "ld-linux", "ld64.so",
                                          "libleakaudit", "vgpreload_")))


ALLOCATOR_MODULES = ("libjemalloc", "libtcmalloc", "libmimalloc")


def is_allocator_entry(frame):
    """A frame of the allocator itself above the caller: an operator new
    (valgrind replaces libstdc++'s and an executable's own, e.g. cc1 links
    libstdc++ statically; the shim sees them call malloc) or another
    allocator's library (--allocator)."""
    mod, fn = frame["module"], frame["function"] or ""
    if mod and mod.startswith(ALLOCATOR_MODULES):
        return True
    return fn.startswith("operatornew")


def is_below_main(frame):
    """libc's frames that call main: valgrind stops a stack there ("(below
    main)"), leakaudit goes on to the executable's _start."""
    fn = frame["function"] or ""
    return is_libc_module(frame["module"]) and (fn == "(belowmain)"
                                                or fn.startswith("__libc_start"))


def outside_libc(frames):
    """The frames of a stack outside libc, ld.so, the shim, valgrind's
    preloads and the allocator's entry frames, innermost first, down to
    main."""
    i = 0
    while i < len(frames) and (is_libc_module(frames[i]["module"])
                               or is_allocator_entry(frames[i])):
        i += 1
    out = []
    for f in frames[i:]:
        if is_below_main(f):
            break
        if not is_libc_module(f["module"]):
            out.append(f)
    return out


def norm_function(name):
    """Demangled names compared without whitespace (demanglers differ in
    spaces around '*', '&' and template arguments)."""
    return re.sub(r"\s+", "", name) if name else None


def same_frame(a, b):
    """Function names equal; or, when a name is missing on either side or
    the two name different symbols of one address (aliases), the same
    module at the same offset."""
    if a["function"] and b["function"] and a["function"] == b["function"]:
        return True
    if a["module"] != b["module"] or a["module"] is None:
        return False
    if a["offset"] is None or b["offset"] is None:
        # no layout for valgrind's process: the module is all we can compare
        return not (a["function"] and b["function"])
    return a["offset"] == b["offset"]


def _below_tools(frames):
    i = 0
    while i < len(frames) and frames[i]["module"] and frames[i]["module"].startswith(
            ("libleakaudit", "vgpreload_")):
        i += 1
    return frames[i:]


def _until_no_module(frames):
    """A stack up to its first frame outside every module: valgrind's own
    unwinder walks past ld.so's entry into the initial stack (argc, argv
    words as frames) for allocations made in library constructors."""
    for i, f in enumerate(frames):
        if f["module"] is None:
            return frames[:i]
    return frames


def site_key(frames):
    """The frames that identify an allocation site, and whether they are
    outside libc: the first MATCH_FRAMES outside libc (up to a frame outside
    every module); for a stack that never leaves libc, its first frames
    below the allocator (libc's own)."""
    key = _until_no_module(outside_libc(frames))[:MATCH_FRAMES]
    if key:
        return key, True
    return _below_tools(frames)[:MATCH_FRAMES], False


def same_site(frames, site):
    """True when frames (a leakaudit row) begin, outside libc, with a site
    (site_key of a valgrind record)."""
    key, outside = site
    ours = outside_libc(frames) if outside else _below_tools(frames)
    if not key or len(ours) < len(key):
        return False
    return all(same_frame(a, b) for a, b in zip(ours, key))


def format_frame(f):
    off = "+0x%x" % f["offset"] if f["offset"] is not None else ""
    where = " %s:%s" % (f["file"], f["line"]) if f.get("file") and f.get("line") else ""
    return "%s [%s%s]%s" % (f["function"] or "??", f["module"] or "??", off, where)


def format_stack(frames, indent="      "):
    return "".join("%s%s\n" % (indent, format_frame(f)) for f in frames)


# --------------------------------------------------------------- valgrind

_DEBUG_RE = re.compile(r"^--(\d+):\d+:\s*aspacem\s+(.*)$")
_SEG_RE = re.compile(r"^\d+: (?:file|FILE) ([0-9a-f]+)-([0-9a-f]+)\s.*?o=(\d+)\s+\((\d+),(\d+)\)")
_NAME_RE = re.compile(r"^\((\d+),(\d+),\d+\) (\S.*)$")


def valgrind_layouts(paths):
    """{pid: [(start, end, file_offset, path)]}: each process's file mappings
    in the last memory layout `valgrind -d` printed for it (the one at exit)
    in the stderr files paths (lines "--PID:1: aspacem ...")."""
    segs, names, layouts = {}, {}, {}
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                m = _DEBUG_RE.match(line)
                if not m:
                    continue
                pid, rest = int(m.group(1)), m.group(2)
                if rest.startswith("<<< SHOW_SEGMENTS"):
                    segs[pid], names[pid] = [], {}
                    continue
                if rest.strip() == ">>>" and pid in segs:
                    layouts[pid] = [(s, e, o, names[pid].get(k)) for s, e, o, k in segs.pop(pid)
                                    if names[pid].get(k)]
                    continue
                if pid not in segs:
                    continue
                m = _NAME_RE.match(rest)
                if m:
                    names[pid][(m.group(1), m.group(2))] = m.group(3).strip()
                    continue
                m = _SEG_RE.match(rest)
                if m:
                    segs[pid].append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3)),
                                      (m.group(4), m.group(5))))
    return layouts


def _module_at(layout, ip):
    """(path, file offset) of an address in a layout, or (None, None)."""
    for start, end, off, path in layout:
        if start <= ip <= end:
            return path, ip - start + off
    return None, None


def layout_exe(layout):
    """The main executable of a layout: the lowest file mapping that is not
    valgrind's own (valgrind maps it below ld.so)."""
    for start, end, off, path in sorted(layout):
        if not path.startswith("/usr/libexec/valgrind/"):
            return os.path.realpath(path)
    return ""


_LOSS_RE = re.compile(r"^([\d,]+) (?:\(([\d,]+) direct, [\d,]+ indirect\) )?bytes in ([\d,]+) "
                      r"blocks are (definitely lost|indirectly lost|possibly lost|"
                      r"still reachable) in loss record")
_FRAME_RE = re.compile(r"^\s+(?:at|by) 0x([0-9A-Fa-f]+): (.*?)(?: \((?:in (.+)|(.+):(\d+))\))?$")
_TEXT_KINDS = {"definitely lost": "definitely_lost", "indirectly lost": "indirectly_lost",
               "possibly lost": "possibly_lost", "still reachable": "still_reachable"}


def parse_valgrind_lines(lines, layout=None):
    """One process's valgrind text output (its "==PID== " lines, prefix
    removed): {exe, finished, records}, each record {kind (definitely_lost,
    ...), bytes, blocks, frames}. Bytes are the blocks' own (a definitely
    lost record's "direct" bytes). Frames get their module and offset from
    layout (the text names the module only for frames without a source
    line)."""
    layout = layout or []
    proc = {"exe": layout_exe(layout), "finished": False, "records": []}
    cur = None
    for text in lines:
        if text.startswith("HEAP SUMMARY:"):
            proc["finished"] = True
        m = _LOSS_RE.match(text)
        if m:
            total, direct, blocks, kind = m.groups()
            cur = {"kind": _TEXT_KINDS[kind], "bytes": int((direct or total).replace(",", "")),
                   "blocks": int(blocks.replace(",", "")), "frames": []}
            proc["records"].append(cur)
            continue
        m = _FRAME_RE.match(text) if cur is not None else None
        if not m:
            cur = None
            continue
        ip = int(m.group(1), 16)
        fn, obj, file, fline = m.group(2), m.group(3), m.group(4), m.group(5)
        mod, off = _module_at(layout, ip)
        if off is not None and cur["frames"]:
            # valgrind shows a caller's frame at its return address minus 1
            # (inside the call); leakaudit's offsets are return addresses
            off += 1
        cur["frames"].append({
            "function": None if fn in ("???", "") else norm_function(fn),
            "module": module_base(mod or obj), "offset": off, "file": file,
            "line": int(fline or 0), "index": len(cur["frames"])})
    return proc


_TAG_RE = re.compile(r"^==(\d+)== ?(.*)$")


def valgrind_lines_by_pid(lines, into=None):
    """Valgrind's "==PID== text" lines grouped by pid: {pid: [text]}."""
    into = {} if into is None else into
    for line in lines:
        m = _TAG_RE.match(line.rstrip("\n"))
        if m:
            into.setdefault(int(m.group(1)), []).append(m.group(2))
    return into


def load_valgrind_dir(vgdir):
    """Every process valgrind ran in a directory of vg.PID.log files
    (--log-file=vg.%p.log) and stderr.N.log files (valgrind's stderr: the
    -d output, and the messages of forked children whose log file could
    not be reopened). Lines are picked out by their "==PID==" tag."""
    stderr_files = sorted(glob.glob(os.path.join(vgdir, "stderr.*.log")))
    layouts = valgrind_layouts(stderr_files)
    lines = {}
    for path in sorted(glob.glob(os.path.join(vgdir, "vg.*.log"))) + stderr_files:
        with open(path, errors="replace") as f:
            valgrind_lines_by_pid(f, lines)
    procs = []
    for pid in sorted(lines):
        proc = parse_valgrind_lines(lines[pid], layouts.get(pid))
        proc["pid"] = pid
        procs.append(proc)
    return procs


# --------------------------------------------------------------- leakaudit


def series_names(ladir):
    """Series in a `leakaudit run` directory: snapshot files are
    SERIES.SEQ.snap, SERIES being exe.pid.start."""
    names = set()
    for snap in glob.glob(os.path.join(ladir, "*.snap")):
        m = re.match(r"(.+)\.\d+\.snap$", os.path.basename(snap))
        if m:
            names.add(m.group(1))
    return sorted(names)


def leakaudit_report(leakaudit, ladir, series, json_out):
    """The JSON report of one series, written to json_out too."""
    res = subprocess.run([leakaudit, "report", "--format", "json", "--top", "0",
                          "--series", series, "-o", json_out, ladir],
                         capture_output=True, text=True)
    if res.returncode not in (0, 3):
        raise RuntimeError("leakaudit report --series %s %s: %s" % (series, ladir,
                                                                     res.stderr.strip()))
    with open(json_out) as f:
        return json.load(f)


def row_frames(row):
    return [{"function": norm_function(f["function"]), "module": module_base(f["module"]),
             "offset": int(f["offset"], 16) if f.get("offset") else None,
             "file": f.get("file"), "line": f.get("line") or 0, "index": f["index"]}
            for f in row["frames"]]


def leakaudit_process(report):
    """One series as {pid, exe, finished, rows}: heap rows with blocks live at
    the final reachability scan, each {classes, frames, stack_id}."""
    reach = report.get("reachability")
    proc = {"pid": report["series"]["pid"], "exe": os.path.realpath(report["series"]["exe"]),
            "finished": bool(reach and reach.get("final")), "rows": [],
            "totals": reach["totals"] if reach else None}
    for row in report["heap"]["stacks"]:
        classes = row.get("reachability")
        if not classes or not sum(classes[c]["blocks"] for c in CLASSES):
            continue
        proc["rows"].append({"stack_id": row["stack_id"], "classes": classes,
                             "frames": row_frames(row), "pid": proc["pid"]})
    return proc


def bad_stack(frames):
    """Why a stack is unusable, or None: a frame in no module, no frame
    outside libc/ld.so/the shim, or at most two frames ending in libc/ld.so."""
    if any(f["module"] is None for f in frames):
        return "frame outside every module"
    if not any(not is_libc_module(f["module"]) for f in frames):
        return "never leaves libc/ld.so"
    if len({f["index"] for f in frames}) <= 2 and is_libc_module(frames[-1]["module"]):
        return "<= 2 frames ending in libc/ld.so"
    return None


def lost_blocks(row):
    c = row["classes"]
    return c["definitely_lost"]["blocks"] + c["indirectly_lost"]["blocks"]


def lost_bytes(row):
    c = row["classes"]
    return c["definitely_lost"]["bytes"] + c["indirectly_lost"]["bytes"]


# --------------------------------------------------------------- comparison


class Result:
    FIELDS = ("procs_vg", "procs_la", "rows", "rows_no_module", "leak_rows", "bad_rows",
              "short_rows", "dl_records",
              "dl_matched", "dl_blocks", "dl_blocks_found", "dl_bytes", "dl_bytes_found",
              "dl_rows", "dl_rows_confirmed", "reach_la", "reach_vg", "pl_la", "pl_vg")

    def __init__(self):
        for f in self.FIELDS:
            setattr(self, f, 0)

    def add(self, other):
        for f in self.FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))


def _classes_text(c):
    return ", ".join("%s %d B/%d" % (k, c[k]["bytes"], c[k]["blocks"])
                     for k in CLASSES if c[k]["blocks"])


def _count_leak_rows(r, la_procs, details):
    details.write("== leakaudit rows with a frame outside every module (any class)\n")
    for p in la_procs:
        for row in p["rows"]:
            r.rows += 1
            if any(f["module"] is None for f in row["frames"]):
                r.rows_no_module += 1
                details.write("  %s pid %d row %s: %s\n%s" % (
                    os.path.basename(p["exe"]), p["pid"], row["stack_id"],
                    _classes_text(row["classes"]), format_stack(row["frames"])))
    details.write("\n== leakaudit rows lost at exit (definitely or indirectly)\n")
    for p in la_procs:
        for row in p["rows"]:
            if not lost_blocks(row):
                continue
            r.leak_rows += 1
            why = bad_stack(row["frames"])
            r.bad_rows += why is not None
            r.short_rows += len({f["index"] for f in row["frames"]}) <= 2
            details.write("  %s pid %d row %s: %s%s\n%s" % (
                os.path.basename(p["exe"]), p["pid"], row["stack_id"],
                _classes_text(row["classes"]), "  BAD STACK: " + why if why else "",
                format_stack(row["frames"])))


def _match_dl_records(r, vg_procs, rows_by_exe, details):
    """Each valgrind definitely-lost record: the leakaudit rows of the same
    executable whose first frames outside libc are the record's; the lost
    blocks of a row are counted as found once."""
    details.write("\n== valgrind definitely-lost records\n")
    capacity = {}
    for p in vg_procs:
        rows = rows_by_exe.get(p["exe"], [])
        for rec in p["records"]:
            if rec["kind"] != "definitely_lost":
                continue
            site = site_key(rec["frames"])
            matched = [row for row in rows if same_site(row["frames"], site)]
            r.dl_records += 1
            r.dl_matched += bool(matched)
            r.dl_blocks += rec["blocks"]
            r.dl_bytes += rec["bytes"]
            found_blocks = found_bytes = 0
            for row in matched:
                cap = capacity.setdefault(id(row), [lost_blocks(row), lost_bytes(row)])
                take = min(rec["blocks"] - found_blocks, cap[0])
                found_blocks += take
                cap[0] -= take
                take = min(rec["bytes"] - found_bytes, cap[1])
                found_bytes += take
                cap[1] -= take
            r.dl_blocks_found += found_blocks
            r.dl_bytes_found += found_bytes
            details.write("  %s pid %d: %d B in %d blocks: lost blocks found %d/%d, %s\n%s" % (
                os.path.basename(p["exe"]), p["pid"], rec["bytes"], rec["blocks"],
                found_blocks, rec["blocks"],
                "matching rows:" if matched else "NO ROW MATCHES",
                "".join("    pid %d row %s: %s\n" % (m["pid"], m["stack_id"],
                                                     _classes_text(m["classes"]))
                        for m in matched) + format_stack(rec["frames"])))


def _confirm_dl_rows(r, vg_procs, la_procs, details):
    """Each leakaudit row with definitely-lost blocks: does valgrind call
    blocks of that site definitely or indirectly lost?"""
    details.write("\n== leakaudit definitely-lost rows, by what valgrind says of the site\n")
    vg_by_exe = {}
    for p in vg_procs:
        vg_by_exe.setdefault(p["exe"], []).extend(p["records"])
    for p in la_procs:
        for row in p["rows"]:
            if not row["classes"]["definitely_lost"]["blocks"]:
                continue
            r.dl_rows += 1
            kinds = {}
            for rec in vg_by_exe.get(p["exe"], []):
                if same_site(row["frames"], site_key(rec["frames"])):
                    kinds[rec["kind"]] = kinds.get(rec["kind"], 0) + rec["blocks"]
            confirmed = bool(kinds.get("definitely_lost") or kinds.get("indirectly_lost"))
            r.dl_rows_confirmed += confirmed
            verdict = ("confirmed" if confirmed else "NOT CONFIRMED") + ": valgrind " + (
                ", ".join("%s %d blocks" % (k, n) for k, n in sorted(kinds.items()))
                if kinds else "has no record of this site")
            details.write("  %s pid %d row %s: DL %d blocks: %s\n%s" % (
                os.path.basename(p["exe"]), p["pid"], row["stack_id"],
                row["classes"]["definitely_lost"]["blocks"], verdict,
                format_stack(row["frames"])))


def _site_name(frames):
    """A site as text, for grouping both tools' bytes in details.txt."""
    key, _ = site_key(frames)
    return " < ".join(f["function"] or "%s+0x%x" % (f["module"], f["offset"] or 0) for f in key)


# Sites listed in details.txt where the still-reachable bytes differ most.
TOP_REACHABLE_SITES = 15


def _compare_still_reachable(r, vg_procs, la_procs, details):
    r.reach_la = sum(p["totals"]["still_reachable"]["bytes"] for p in la_procs if p["totals"])
    r.reach_vg = sum(rec["bytes"] for p in vg_procs for rec in p["records"]
                     if rec["kind"] == "still_reachable")
    r.pl_la = sum(p["totals"]["possibly_lost"]["bytes"] for p in la_procs if p["totals"])
    r.pl_vg = sum(rec["bytes"] for p in vg_procs for rec in p["records"]
                  if rec["kind"] == "possibly_lost")
    details.write("\n== totals by class: leakaudit B/blocks, valgrind B/blocks\n")
    for c in CLASSES:
        la = [sum(p["totals"][c][k] for p in la_procs if p["totals"]) for k in ("bytes", "blocks")]
        vg = [sum(rec[k] for p in vg_procs for rec in p["records"] if rec["kind"] == c)
              for k in ("bytes", "blocks")]
        details.write("  %-16s %10d/%-7d %10d/%d\n" % (c, la[0], la[1], vg[0], vg[1]))
    details.write("\n== still reachable: leakaudit %d B, valgrind %d B\n" % (r.reach_la,
                                                                          r.reach_vg))
    sites = {}
    for p in vg_procs:
        for rec in p["records"]:
            if rec["kind"] == "still_reachable":
                s = sites.setdefault((os.path.basename(p["exe"]), _site_name(rec["frames"])),
                                     [0, 0])
                s[1] += rec["bytes"]
    for p in la_procs:
        for row in p["rows"]:
            s = sites.setdefault((os.path.basename(p["exe"]), _site_name(row["frames"])), [0, 0])
            s[0] += row["classes"]["still_reachable"]["bytes"]
    top = sorted(sites.items(), key=lambda kv: -abs(kv[1][0] - kv[1][1]))
    details.write("  sites that differ most (first frames outside libc): leakaudit B, "
                  "valgrind B\n")
    for (exe, name), (la, vg) in top[:TOP_REACHABLE_SITES]:
        if la != vg:
            details.write("  %10d %10d  %s: %s\n" % (la, vg, exe, name))


def compare_program(vg_procs, la_procs, details):
    """The numbers of one program; details (a file) gets every record and
    row behind them."""
    r = Result()
    r.procs_vg = sum(1 for p in vg_procs if p["finished"])
    r.procs_la = sum(1 for p in la_procs if p["finished"])
    details.write("== processes (pid, executable, checked at exit)\n")
    for tool, procs in (("valgrind", vg_procs), ("leakaudit", la_procs)):
        for p in sorted(procs, key=lambda p: p["pid"]):
            details.write("  %-9s %7d %s%s\n" % (tool, p["pid"], p["exe"] or "?",
                                                 "" if p["finished"] else "  (not checked)"))
    details.write("\n")
    la_procs = [p for p in la_procs if p["finished"]]
    rows_by_exe = {}
    for p in la_procs:
        rows_by_exe.setdefault(p["exe"], []).extend(p["rows"])
    _count_leak_rows(r, la_procs, details)
    _match_dl_records(r, vg_procs, rows_by_exe, details)
    _confirm_dl_rows(r, vg_procs, la_procs, details)
    _compare_still_reachable(r, vg_procs, la_procs, details)
    return r


# --------------------------------------------------------------- table

COLUMNS = [("program", "%-12s"), ("procs vg/la", "%11s"), ("rows", "%5s"),
           ("rows ?? frame", "%13s"), ("leak rows", "%9s"),
           ("bad stack", "%9s"), ("<=2 frames", "%10s"), ("DL records matched", "%18s"),
           ("DL blocks found", "%15s"),
           ("DL bytes found", "%21s"), ("DL rows confirmed", "%17s"),
           ("reachable leakaudit", "%19s"), ("reachable valgrind", "%18s"), ("diff", "%7s"),
           ("possibly lost la/vg", "%19s")]


def pct(num, den):
    return "%d%%" % round(100.0 * num / den) if den else "-"


def table_line(name, r):
    diff = "%+.1f%%" % (100.0 * (r.reach_la - r.reach_vg) / r.reach_vg) if r.reach_vg else "-"
    cells = [name, "%d/%d" % (r.procs_vg, r.procs_la), str(r.rows), str(r.rows_no_module),
             str(r.leak_rows), str(r.bad_rows),
             str(r.short_rows),
             "%d/%d" % (r.dl_matched, r.dl_records),
             "%d/%d" % (r.dl_blocks_found, r.dl_blocks),
             "%d/%d" % (r.dl_bytes_found, r.dl_bytes),
             "%d/%d %s" % (r.dl_rows_confirmed, r.dl_rows, pct(r.dl_rows_confirmed, r.dl_rows)),
             str(r.reach_la), str(r.reach_vg), diff, "%d/%d" % (r.pl_la, r.pl_vg)]
    return "  ".join(fmt % c for (_, fmt), c in zip(COLUMNS, cells)).rstrip()


def table_header():
    return "  ".join(fmt % h for h, fmt in COLUMNS).rstrip()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leakaudit", default="build/bin/leakaudit")
    ap.add_argument("dir")
    ap.add_argument("programs", nargs="+")
    args = ap.parse_args(argv)
    total = Result()
    lines = []
    for name in args.programs:
        pdir = os.path.join(args.dir, name)
        vg_procs = load_valgrind_dir(os.path.join(pdir, "valgrind"))
        ladir = os.path.join(pdir, "leakaudit")
        jdir = os.path.join(pdir, "leakaudit-json")
        os.makedirs(jdir, exist_ok=True)
        la_procs = []
        for series in series_names(ladir):
            try:
                report = leakaudit_report(args.leakaudit, ladir, series,
                                          os.path.join(jdir, series + ".json"))
            except (RuntimeError, ValueError) as e:
                print("compare-valgrind: %s" % e, file=sys.stderr)
                continue
            la_procs.append(leakaudit_process(report))
        with open(os.path.join(pdir, "details.txt"), "w") as details:
            r = compare_program(vg_procs, la_procs, details)
        total.add(r)
        lines.append(table_line(name, r))
    print(table_header())
    for line in lines:
        print(line)
    print(table_line("total", total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
