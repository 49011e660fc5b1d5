#!/usr/bin/env bash
# The HTML report opened in headless Chromium: it renders (the inline script
# ran to its end), logs no script error or CSP violation, and shows the
# hostile symbol name from the audited binary as text, never as markup.
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
ok "html renders in chromium, no script errors, hostile symbol escaped"

timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$T/chrome" --window-size=1200,900 \
    --screenshot="$T/shot.png" "file://$T/report.html" >/dev/null 2>&1 || fail "screenshot failed"
[ "$(stat -c %s "$T/shot.png")" -gt 10000 ] || fail "screenshot is empty"
ok "screenshot $(stat -c %s "$T/shot.png") bytes"
