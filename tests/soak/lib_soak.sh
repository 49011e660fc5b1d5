# Helpers for the soak tests (sourced after tests/lib.sh).
SOAKLOAD=$TESTBIN/soak/soakload
need_file "$SOAKLOAD"
need_file "$LEAKAUDIT"

# field DIR RUN COLUMN: one value of summary.tsv (columns named in its header).
field() {
    awk -F'\t' -v run="$2" -v col="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
        $1 == run { if (!(col in idx)) exit 2; print $idx[col]; found = 1 }
        END { if (!found) exit 1 }' "$1/summary.tsv" ||
        { cat "$1/summary.tsv" 2>/dev/null; fail "no $3 for run $2 in $1/summary.tsv"; }
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# soak OUTDIR ARGS...: leakaudit soak with a time limit, so a hang fails the test.
soak() {
    local out=$1
    shift
    timeout -k 5 60 "$LEAKAUDIT" soak -o "$out" "$@" >"$out.table" 2>"$out.log" ||
        { local rc=$?; cat "$out.log"; fail "leakaudit soak exited with $rc"; }
}
