#!/usr/bin/env bash
# One option vocabulary (docs/options.md): a short letter or long name means
# the same thing, with the same value syntax, in every subcommand that has
# it. The table below is the specification; each subcommand's --help is
# checked against it, then a behaviour check per option that differed once.
source "$(dirname "$0")/../lib.sh"
PLANTED=$TESTBIN/allocshim/planted
need_file "$PLANTED"
CMDS="run attach report diff soak"

# short  long            subcommands that have it
VOCAB='
-o --output run,attach,report,diff,soak
-i --interval run,attach,soak
-d --duration attach,soak
-m --mode run,attach,soak
-a --allocator run,soak
-u --unwind run,attach
-p --pid attach,report,diff
-n --top run,report,diff
-f --format report,diff
-r --repeat soak
-q --quiet run,attach,soak
-v --verbose attach,soak
-h --help run,attach,report,diff,soak
- --version run,attach,report,diff,soak
- --stack-depth run,attach,report,diff
- --reachability[= run,attach
- --guard[= run,soak
- --progress run,attach,soak
- --no-progress run,attach,soak
- --track-resource run,attach
- --track-file run,attach
- --min-bytes report,diff
- --series report,diff
'

for c in $CMDS; do
    rc=0
    "$LEAKAUDIT" $c --help >"$T/help.$c" 2>&1 || rc=$?
    assert_eq "$rc" 0 "$c --help exits $rc"
    assert_contains "$T/help.$c" '^exit status: ' "$c --help documents no exit status"
    rc=0
    out=$("$LEAKAUDIT" $c --version 2>&1) || rc=$?
    assert_eq "$rc" 0 "$c --version exits $rc"
    [[ "$out" =~ ^leakaudit\ $c\ [0-9]+\.[0-9]+ ]] || fail "$c --version printed '$out'"
done
assert_not_contains "$T/help.soak" '%%' "soak --help prints a literal %%"
ok "every subcommand answers --help (with exit statuses) and --version"

# every "-x, --long" pair in any help, one meaning per letter everywhere
declare -A meaning
for c in $CMDS; do
    while read -r short long; do
        long=${long%%[=[ ]*}
        if [ -n "${meaning[$short]:-}" ] && [ "${meaning[$short]}" != "$long" ]; then
            fail "$short is ${meaning[$short]} somewhere but $long in $c"
        fi
        meaning[$short]=$long
    done < <(grep -oE '^  (-[a-zA-Z]), (--[a-z-]+)' "$T/help.$c" | sed 's/,//')
done
ok "each short letter has one meaning across subcommands"

while read -r short long where; do
    [ -n "$short" ] || continue
    for c in ${where//,/ }; do
        if [ "$short" = - ]; then
            grep -qF -- " $long" "$T/help.$c" || fail "$c --help lacks $long"
        else
            grep -qE -- "^  $short, ${long//[/\\[}" "$T/help.$c" || fail "$c --help lacks '$short, $long'"
        fi
    done
    if [ "$short" != - ]; then
        for c in $CMDS; do
            case ",$where," in *",$c,"*) continue ;; esac
            ! grep -qE -- "^  $short, " "$T/help.$c" || fail "$c uses $short, which means $long elsewhere"
        done
    fi
done <<<"$VOCAB"
ok "the vocabulary table matches every --help"

# expect_usage NAME REGEX ARGS...: exit 2 with one error line matching REGEX
expect_usage() {
    local name=$1 re=$2 rc=0
    shift 2
    "$LEAKAUDIT" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
    [ "$rc" = 2 ] || { cat "$T/err"; fail "$name: exit $rc, expected 2"; }
    assert_contains "$T/err" "$re" "$name: wrong message"
    [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err"; fail "$name: more than one line"; }
}

expect_usage "run --top abc" "^leakaudit run: --top: 'abc' is not a number" run --top abc -- true
expect_usage "run -n 1x" "^leakaudit run: --top: '1x' is not a number" run -n 1x -- true
expect_usage "report --top 3k" "^leakaudit report: --top: '3k' is not a number" report --top 3k x
expect_usage "soak -r 0" "^leakaudit soak: --repeat: '0' is not a number" soak -r 0 -- true
expect_usage "run --stack-depth 99" "^leakaudit run: --stack-depth: '99' is not a number in 1..64" \
    run --stack-depth 99 -- true
expect_usage "run --guard-sample 1e3" "^leakaudit run: --guard-sample: '1e3' is not a number" \
    run --guard=pages --guard-sample 1e3 -- true
ok "numbers are parsed strictly"

expect_usage "subcommand typo" "^leakaudit: 'reprot' is not a command; did you mean 'report'\\?" reprot
expect_usage "report option typo" "^leakaudit report: unknown option '--fromat'; did you mean '--format'\\?" \
    report --fromat json x
expect_usage "run option typo" "^leakaudit run: unknown option '--intreval'; did you mean '--interval'\\?" \
    run --intreval 1 -- true
expect_usage "soak option typo" "^leakaudit soak: unknown option '--duraton'; did you mean '--duration'\\?" \
    soak --duraton 1s -- true
expect_usage "attach option typo" "^leakaudit attach: unknown option '--stak-depth'; did you mean '--stack-depth'\\?" \
    attach --stak-depth 3 -p 1
expect_usage "missing value" "^leakaudit diff: option '--format' needs a value" diff a b --format
expect_usage "unknown short" "^leakaudit report: unknown option '-Z'" report -Z x
ok "one error format, with 'did you mean' for misspelt subcommands and options"

# the letters that used to mean something else
expect_usage "run -d" "^leakaudit run: -d is --duration in other commands; .*--stack-depth" run -d 8 -- true
expect_usage "soak -n" "^leakaudit soak: -n is --top in other commands; .*--repeat" soak -n 2 -- true
expect_usage "soak -m is the mode" "^leakaudit soak: --mode bogus: expected full or sampled" soak -m bogus -- true
expect_usage "attach -d is the duration" "^leakaudit attach: bad duration 'soon'" attach -p 1 -d soon
expect_usage "attach --reachability value" "^leakaudit attach: bad --reachability 'maybe' \\(end, always, off\\)" \
    attach -p 1 --reachability=maybe
expect_usage "run --reachability value" "^leakaudit run: --reachability=maybe: expected end or off" \
    run --reachability=maybe -- true
# --guard[=MODE] also written with a space: the mode is not taken for CMD
expect_usage "soak --guard canary" "^leakaudit soak: --guard, --mode and --shim-interval need" \
    soak --guard canary -- true
ok "-d, -n, -m, --reachability and --guard mean the same everywhere"

# behaviour: options before and after the operands, - as stdout
"$LEAKAUDIT" run -q -o "$T/s" --reachability off --stack-depth 16 -n 3 -- "$PLANTED" steady
"$LEAKAUDIT" run -q -o "$T/s2" --reachability=end --guard canary -- "$PLANTED" steady
snap=$(ls "$T/s"/*.snap | tail -1)
"$LEAKAUDIT" report "$T/s" --format json >"$T/r1.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/r1.json" || fail "report DIR --format json"
"$LEAKAUDIT" report "$T/s" -f json -o - -n 1 >"$T/r2.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/r2.json" || fail "report -o -"
"$LEAKAUDIT" diff "$snap" "$snap" --format json -n 2 >"$T/d.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/d.json" || fail "diff A B --format json"
"$LEAKAUDIT" report "$T/s" --pid "$(basename "$snap" | cut -d. -f2)" -p "$(basename "$snap" | cut -d. -f2)" >/dev/null
ok "report and diff take options after their operands; -o - is stdout"

# run stops at CMD: CMD's own options are CMD's
"$LEAKAUDIT" run -q -o "$T/e" -- sh -c 'test "$1" = --top' sh --top || fail "run took CMD's option"
"$LEAKAUDIT" run -q -o "$T/e2" sh -c 'test "$1" = -n' sh -n || fail "run took CMD's option (no --)"
ok "run and soak leave everything after CMD to CMD"
