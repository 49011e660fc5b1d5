#!/usr/bin/env bash
# timeout: 120
# `leakaudit report` gives every resource kind its own section in every
# format, with the same verdicts as heap rows over a series: the handle
# leaked per 10 requests grows at handle_request() and is a leak, the
# balanced clean_request() is not; use-after-destroy and double-destroy
# events name the offending, destroying and creating functions; unmatched
# references show the last unmatched ref. --fail-on-leak counts them.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_resources.sh"
VALIDATE=$ROOT/tests/reports/validate_json_schema.py
SCHEMA=$ROOT/docs/report-json.schema.json
need_cmd python3

LEAKAUDIT_THREAD=always "$LEAKAUDIT" run -q -i 100ms -o "$T/s" --track-resource "$VENDOR_SPEC" \
    -- "$RES/vendor_app" serve 300
[ "$(ls "$T/s" | wc -l)" -ge 4 ] || fail "expected a series of snapshots, got $(ls "$T/s")"
"$LEAKAUDIT" report "$T/s" >"$T/text"
assert_contains "$T/text" '^RESOURCE vendor: 30 outstanding at the last snapshot, by creating stack \(1 leak'
awk '/^#1 /{p=1} p&&/#0 /{print; exit}' <(sed -n '/^RESOURCE vendor/,$p' "$T/text") >"$T/first"
assert_contains "$T/first" 'handle_request'
sed -n '/^RESOURCE vendor/,$p' "$T/text" | grep -A1 '^#1 ' >"$T/v1"
assert_contains "$T/v1" '^#1 leak '
assert_contains "$T/v1" '30 handles outstanding \(created 300, destroyed 270\)'
sed -n '/^RESOURCE vendor/,$p' "$T/text" | grep -A1 '^#2 ' >"$T/v2"
assert_contains "$T/v2" '^#2 stable'
ok "text: the per-10-requests leak at handle_request is a leak; clean_request is stable"

"$LEAKAUDIT" report --format json "$T/s" >"$T/json"
python3 "$VALIDATE" "$SCHEMA" "$T/json" || fail "JSON does not match the schema"
python3 - "$T/json" <<'PY' || fail "JSON resources wrong"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["resources"]["stacks"]
leak = [r for r in rows if r["verdict"] == "leak"]
assert len(leak) == 1, rows
r = leak[0]
assert r["kind"] == "vendor" and r["outstanding"] == 30 and r["created"] == 300, r
assert r["frames"][0]["function"] == "handle_request", r["frames"][0]
assert d["resources"]["verdicts"]["leak"] == 1
PY
ok "json: resources section with kind, counts and the leak verdict; schema-valid"

"$LEAKAUDIT" report --format html -o "$T/r.html" "$T/s"
assert_contains "$T/r.html" '<h2>Resource <code>vendor</code> by creating stack</h2>'
assert_contains "$T/r.html" 'handle_request'
"$LEAKAUDIT" report --format prometheus "$T/s" >"$T/prom"
assert_contains "$T/prom" '^leakaudit_resource_outstanding\{program="[^"]+",kind="vendor"\} 30$'
assert_contains "$T/prom" 'leakaudit_leak_stacks\{.*class="resources"\} 1'
"$LEAKAUDIT" report --format collapsed "$T/s" >"$T/col"
assert_contains "$T/col" '^\[resource vendor\];.*main;handle_request 30$'
"$LEAKAUDIT" report --format pprof -o "$T/p.pb.gz" "$T/s"
[ -s "$T/p.pb.gz" ] || fail "pprof output empty"
set +e
"$LEAKAUDIT" report --fail-on-leak "$T/s" >/dev/null
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "--fail-on-leak ignored the resource leak"
ok "html, prometheus, collapsed sections per kind; --fail-on-leak exits $rc"

"$LEAKAUDIT" run -q -i 0 -o "$T/e" --track-resource "$VENDOR_SPEC" --track-resource "$VBUF_SPEC" \
    -- "$RES/vendor_app" double
"$LEAKAUDIT" report "$T/e" >"$T/etext"
assert_contains "$T/etext" '!! double-destroy: vendor: vendor_destroy\(0x[0-9a-f]+\) destroyed twice'
grep -A2 'destroyed again at:' "$T/etext" | grep finalize_session >/dev/null || fail "offender not named"
grep -A2 '^     destroyed at:' "$T/etext" | grep close_session >/dev/null || fail "first destroy not named"
assert_not_contains "$T/etext" '^HEAP CORRUPTION'
"$LEAKAUDIT" report --format json "$T/e" >"$T/ejson"
python3 "$VALIDATE" "$SCHEMA" "$T/ejson" || fail "JSON (events) does not match the schema"
python3 - "$T/ejson" <<'PY' || fail "JSON event wrong"
import json, sys
d = json.load(open(sys.argv[1]))
ev = [c for c in d["corruption"] if c["kind"] == "double-destroy"]
assert len(ev) == 1, d["corruption"]
assert ev[0]["access_stack"][0]["function"] == "finalize_session", ev[0]
assert ev[0]["free_stack"][0]["function"] == "close_session", ev[0]
PY
ok "double destroy in text and json with the three stacks"

"$LEAKAUDIT" run -q -i 0 -o "$T/r" --track-resource "$VBUF_SPEC" -- "$RES/vendor_app" refs 20
"$LEAKAUDIT" report "$T/r" >"$T/rtext"
assert_contains "$T/rtext" '20 unmatched refs \(refs 120, unrefs 100\)'
grep -A1 'last unmatched ref at:' "$T/rtext" | grep on_reconnect >/dev/null || fail "last ref not on_reconnect"
ok "reference imbalance: 20 unmatched refs, last taken in on_reconnect"

if command -v go >/dev/null 2>&1; then
    HOME=$T GOCACHE=$T/gocache GOFLAGS=-mod=mod go tool pprof -raw "$T/p.pb.gz" >"$T/praw" 2>&1 ||
        fail "go tool pprof cannot read the profile: $(head -3 "$T/praw")"
    assert_contains "$T/praw" 'resource:\[vendor\] verdict:\[leak\]'
    ok "pprof: resource samples labelled resource=vendor"
fi
