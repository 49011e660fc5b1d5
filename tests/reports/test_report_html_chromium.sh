#!/usr/bin/env bash
# The HTML report opened in headless Chromium: it renders (the inline script
# ran to its end), logs no script error or CSP violation, and shows the
# hostile symbol name from the audited binary as text, never as markup. The
# flame graph of live bytes is drawn (frames in the DOM, sized by bytes),
# table columns are sortable, and the time charts have axes with values.
# A deliberately broken page proves the error detection works.
# timeout: 180
# check: no
source "$(dirname "$0")/../lib.sh"
GEN=$TESTBIN/reports/gen_series
need_file "$GEN"
need_cmd chromium

"$GEN" hostile "$T/hostile" >/dev/null
"$LEAKAUDIT" report -f html -o "$T/report.html" "$T/hostile"
assert_eq "$(stat -c %a "$T/report.html")" 600 "html file mode"
grep -q 'http' <(grep -oE '(src|href)="[^"]*"' "$T/report.html") && fail "external resource referenced"

render() { # FILE -> $T/dom.html, $T/console.log
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$T/chrome" --enable-logging=stderr --v=0 \
        --virtual-time-budget=2000 --dump-dom "file://$1" >"$T/dom.html" 2>"$T/console.log"
}

# Negative control: a throwing script must be caught by this test's checks.
cat >"$T/broken.html" <<'HTML'
<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>
HTML
render "$T/broken.html"
grep -Eq 'CONSOLE.*Uncaught' "$T/console.log" || { cat "$T/console.log"; skip "chromium does not log console errors here"; }

render "$T/report.html" || fail "chromium failed"
assert_contains "$T/dom.html" '<body data-ready="1">' "inline script did not run to its end"
if grep -E 'CONSOLE|Refused to' "$T/console.log"; then fail "script error or CSP violation"; fi
assert_contains "$T/dom.html" '&lt;script&gt;alert\(1\)&lt;/script&gt;&lt;img src=x onerror=alert\(2\)&gt;'
assert_not_contains "$T/dom.html" '<img'
assert_not_contains "$T/dom.html" '<script>alert'
assert_contains "$T/dom.html" '<span class="badge leak">leak</span>'
assert_contains "$T/dom.html" 'fixture_hostile.c:[0-9]+'
assert_contains "$T/dom.html" '<svg class="spark"'
assert_contains "$T/dom.html" 'dropped_events</code> = 7'
# the flame graph, drawn by the page's script, shows the hostile name as text
assert_contains "$T/dom.html" '<div id="flame-graph" class="flame" data-frames="[1-9][0-9]*"'
assert_contains "$T/dom.html" 'class="frame" title="&lt;script&gt;alert\(1\)&lt;/script&gt;'
ok "html renders in chromium, no script errors, hostile symbol escaped"

"$GEN" mixed "$T/mixed" >/dev/null
"$LEAKAUDIT" report -f html -o "$T/mixed.html" "$T/mixed"
render "$T/mixed.html" || fail "chromium failed"
if grep -E 'CONSOLE|Refused to' "$T/console.log"; then fail "script error or CSP violation (mixed)"; fi
assert_contains "$T/dom.html" '<body data-ready="1">' "inline script did not run to its end (mixed)"
assert_contains "$T/dom.html" 'class="frame" title="all: 13.6 MiB \(100.0% of live heap\)"'
assert_contains "$T/dom.html" 'class="frame" title="leaky_decode_frame: 12.0 MiB \(88.5% of live heap\)" style="left: [0-9.]+%; width: 88.4[0-9]*%; top: 68px;'
assert_contains "$T/dom.html" 'class="frame" title="cache_slot_alloc: 1.0 MiB'
ok "the flame graph is drawn: a frame per function, width by live bytes"

assert_contains "$T/dom.html" '<th class="sortable" aria-sort="none" title="sort">live</th>'
assert_contains "$T/dom.html" '<td data-v="12582912">12.0 MiB</td>'
ok "table columns are sortable, numeric cells carry their values"

for id in chart-live chart-fds chart-rss chart-mmap; do
    assert_contains "$T/dom.html" "<figure class=\"chart\" id=\"$id\">"
done
assert_contains "$T/dom.html" 'class="ytick"[^>]*>20.0 MiB</text>'
assert_contains "$T/dom.html" 'class="xtick"[^>]*>11m00s</text>'
assert_contains "$T/dom.html" '<title>snapshot 12, \+11m00s: 27</title>'
ok "time charts of live bytes, fds, RSS and mappings, with axes and values"

timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$T/chrome" --window-size=1200,900 \
    --screenshot="$T/shot.png" "file://$T/report.html" >/dev/null 2>&1 || fail "screenshot failed"
[ "$(stat -c %s "$T/shot.png")" -gt 10000 ] || fail "screenshot is empty"
ok "screenshot $(stat -c %s "$T/shot.png") bytes"
