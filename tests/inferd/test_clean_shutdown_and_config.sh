#!/usr/bin/env bash
# inferd shuts down cleanly (exit 0, every thread joined) on SIGTERM and
# SIGINT while streams run and requests arrive, and by itself at --duration;
# configuration errors name the field and exit 2 before anything starts.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"

inferd_clip "$T/counter.mp4" --seconds 3
cat >"$T/c.json" <<JSON
{
  "http": {"port": 0}, "log_level": "info",
  "clips": {"counter": "$T/counter.mp4"},
  "streams": [{"source": "counter"}, {"source": "counter", "realtime": false}]
}
JSON
for sig in TERM INT; do
    inferd_start "$T/c.json"
    busy() { [ "$(metric inferd_frames_inferred_total 'stream="1"')" -ge 5 ]; }
    wait_until 30 busy || fail "no frames inferred"
    (for i in $(seq 1 50); do curl -s "$URL/metrics" >/dev/null; done) &
    load=$!
    sleep 0.3
    inferd_stop $sig
    wait $load || true
    assert_eq "$INFERD_RC" 0 "exit status $INFERD_RC after SIG$sig"
    assert_contains "$T/inferd.err" "stopped cleanly"
    ok "SIG$sig: exit 0, stopped cleanly"
done

start=$SECONDS
"$INFERD" -c "$T/c.json" --duration 1.5 2>"$T/d.err" || fail "--duration run failed"
assert_contains "$T/d.err" "duration reached"
[ $((SECONDS - start)) -lt 20 ] || fail "--duration did not stop it"
ok "--duration stops by itself"

"$INFERD" --help >"$T/help" || fail "--help failed"
assert_contains "$T/help" "usage: inferd -c CONFIG.json"
"$INFERD" -c "$T/c.json" --check >"$T/check" || fail "--check rejected a valid config"

bad_config() { # bad_config 'JSON' 'expected message regex'
    echo "$1" >"$T/bad.json"
    local rc=0
    "$INFERD" -c "$T/bad.json" --check 2>"$T/bad.err" || rc=$?
    assert_eq "$rc" 2 "config $1: exit $rc"
    assert_contains "$T/bad.err" "$2"
    ok "config error: $(cat "$T/bad.err")"
}
bad_config '{"workers": "two"}' 'workers: must be an integer from 1 to 32'
bad_config '{"workers": 0}' 'workers: must be an integer'
bad_config '{"wrokers": 2}' 'wrokers: unknown field'
bad_config '{"http": {"port": 70000}}' 'http.port: must be an integer from 0 to 65535'
bad_config '{"backend": {"kind": "npu"}}' 'backend.kind: must be'
bad_config '{"streams": [{"source": "nope"}]}' 'streams\[0\].source: "nope" is neither'
bad_config "{\"clips\": {\"c\": \"$T/counter.mp4\"}, \"streams\": [{\"source\": \"c\", \"loop\": \"yes\"}]}" \
    'streams\[0\].loop: must be true or false'
bad_config '{"defects": {"dup_input_fd": true}}' 'defects: .*need backend.kind = "vendorsim"'
bad_config '{"ocr": {"region": {"x": 1}}, "x": 1}' 'x: unknown field'
bad_config '{"workers": 2,' 'bad.json:[0-9]+:[0-9]+: .*expected'
bad_config '[]' 'top level must be a JSON object'
rc=0
"$INFERD" -c "$T/absent.json" 2>"$T/bad.err" || rc=$?
assert_eq "$rc" 2
assert_contains "$T/bad.err" "absent.json"
ok "missing config file named"
