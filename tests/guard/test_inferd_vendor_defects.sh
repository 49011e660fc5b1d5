#!/usr/bin/env bash
# inferd's vendor runtime defects under guard mode: defect 1 (the runtime's
# completion thread writes past a buffer it was handed) is caught by a guard
# page at the writer, with the block's allocation site; defect 5 (a context
# destroyed while a job is in flight, then written by the completion) is a
# use-after-free write with its allocation and free stacks.
# timeout: 180
# check: no
source "$(dirname "$0")/../lib.sh"
need_file "$BUILD/bin/inferd"
need_file "$BUILD/lib/libvendorsim.so"
need_cmd python3
clip=$T/counter.mp4
"$ROOT/scripts/make-clip" --seconds 4 "$clip" >/dev/null
mkcfg() { # mkcfg OUT DEFECT [RECYCLE]
    python3 - "$ROOT/inferd/inferd.example.json" "$clip" "$1" "$2" "${3:-0}" <<'PY'
import json, sys
src, clip, out, defect, recycle = sys.argv[1:6]
c = json.load(open(src))
c["http"]["port"] = 0
c["clips"] = {"counter": clip}
c["log_level"] = "error"
c["stream_defaults"]["corrupt_every_n_packets"] = 0
for k in c["defects"]:
    c["defects"][k] = False
c["defects"][defect] = True
c["backend"]["recycle_context_every"] = int(recycle)
json.dump(c, open(out, "w"))
PY
}
mkcfg "$T/d1.json" heap_overflow
mkcfg "$T/d5.json" use_after_destroy 20

# Two steps, as a user would take them. Canaries (every block) first: they
# name the block that was hit and who allocated it, not the writer.
"$LEAKAUDIT" run -q --guard=canary -o "$T/c1" -- "$BUILD/bin/inferd" -c "$T/d1.json" -d 10 \
    >"$T/c1.out" 2>&1 || true
"$LEAKAUDIT" report --top 1 "$T/c1" >"$T/rc1.txt" 2>&1 || true
size=$(sed -n 's/^#1 heap-buffer-overflow .*(block of \([0-9]*\) bytes.*/\1/p' "$T/rc1.txt" | sed -n 1p)
[ -n "$size" ] || { grep -A12 'HEAP CORRUPTION' "$T/rc1.txt"; fail "defect 1: canaries did not report the overflow"; }
grep -A12 'HEAP CORRUPTION' "$T/rc1.txt" | grep -A2 'block allocated at' | grep 'worker_process' >/dev/null ||
    fail "defect 1: canaries did not name the block's allocation site"
ok "defect 1: canaries name the block that was hit ($size bytes, allocated in worker_process)"
# Then guard pages on every block of that size (Tesseract keeps ~50,000
# blocks live: guarding every block would fill the 4096 page slots at
# start-up): the fault is taken by the writer.
LEAKAUDIT_GUARD_ALIGN=right "$LEAKAUDIT" run -q --guard=pages --guard-sample 1 --guard-size "$size" \
    -o "$T/o1" -- "$BUILD/bin/inferd" -c "$T/d1.json" -d 10 >"$T/o1.out" 2>&1 || true
"$LEAKAUDIT" report --top 1 "$T/o1" >"$T/r1.txt" 2>&1 || true
grep -A3 'bad access at' "$T/r1.txt" | grep 'vendorsim_completion' >/dev/null ||
    { grep -A12 'HEAP CORRUPTION' "$T/r1.txt"; fail "defect 1: the vendor writer is not named"; }
grep -A12 'HEAP CORRUPTION' "$T/r1.txt" | grep -A2 'block allocated at' | grep 'worker_process' >/dev/null ||
    fail "defect 1: the block's allocation site is not named"
ok "defect 1: guard page names the writer (vendorsim completion thread) and worker_process's block"

# The runtime writes to the destroyed context as soon as it is freed, while
# the decoders free tens of MiB per second: the block is still in the
# quarantine (default size) and its poison shows the write.
"$LEAKAUDIT" run -q --guard=canary -o "$T/o5" -- "$BUILD/bin/inferd" -c "$T/d5.json" -d 10 \
    >"$T/o5.out" 2>&1 || true
"$LEAKAUDIT" report --top 1 "$T/o5" >"$T/r5.txt" 2>&1 || true
grep -q 'use-after-free-write' "$T/r5.txt" || { tail -20 "$T/o5.out"; fail "defect 5 not reported"; }
grep -A4 'block allocated at' "$T/r5.txt" | grep 'backend_open' >/dev/null || fail "defect 5: allocation site not named"
grep -q 'block freed at' "$T/r5.txt" || fail "defect 5: free stack missing"
ok "defect 5: use-after-free write, context allocated in backend_open, freed on recycle"
