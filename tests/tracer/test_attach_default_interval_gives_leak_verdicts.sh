#!/usr/bin/env bash
# timeout: 120
# `leakaudit attach -p PID --duration 30` with no other option takes enough
# snapshots for a verdict (docs/attach.md: --duration / 10): a program
# leaking 40 KiB/s of heap and one fd a second is reported as LEAK on both,
# at rates within 10 % of the real ones. The README's attach examples rely on
# this.
# lane: bpf
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_tracer.sh"
need_cmd python3

"$LEAKER" steady "$T/go" "$T/counters" &
TPID=$!
on_exit "kill $TPID 2>/dev/null"
cd "$T"
"$LEAKAUDIT" attach -p "$TPID" --duration 30 2>"$T/attach.log" ||
    { cat "$T/attach.log"; fail "attach failed"; }
out=$(ls -d "$T"/leakaudit-"$TPID"-* 2>/dev/null | sed -n 1p)
[ -n "$out" ] || fail "no default output directory"
n=$(ls "$out"/*.snap | wc -l)
[ "$n" -ge 6 ] || fail "only $n snapshots in 30 s"
ok "$n snapshots without --interval"
"$LEAKAUDIT" report --format json "$out" >"$T/r.json" || fail "report failed"
python3 - "$T/r.json" <<'PY' || fail "verdicts or rates wrong"
import json, sys
r = json.load(open(sys.argv[1]))
def row(kind, fn):
    for s in r[kind]["stacks"]:
        if any(f.get("function") == fn for f in s["frames"]):
            return s
    sys.exit(f"no {kind} row at {fn}")
for kind, fn, want in (("heap", "leak_heap", 40960 * 60), ("fds", "leak_dup", 60)):
    s = row(kind, fn)
    got = s["growth_per_min"]
    print(f"{kind} at {fn}: verdict {s['verdict']}, {got:.0f}/min (real {want}/min), "
          f"confidence {s['confidence']:.2f}")
    if s["verdict"] != "leak" or abs(got - want) > 0.10 * want:
        sys.exit(1)
PY
ok "heap 40 KiB/s and 1 fd/s both LEAK at their rates"
