# Helpers for the reachability tests (sourced after ../lib.sh).
REACH_CASES=$TESTBIN/reach/reach_cases
REACHDUMP=$TESTBIN/reach/reachdump
CLASSIFY=$(dirname "${BASH_SOURCE[0]}")/classify.py
need_file "$REACH_CASES"
need_file "$REACHDUMP"

# What every case must be classified as (tests/reach/reach_cases.c).
expected_cases() {
    cat <<'EOT'
case_aligned reachable 1
case_big definite 1
case_cleared definite 1
case_cycle definite 1
case_cycle indirect 1
case_global reachable 1
case_interior possible 1
case_mmap_region reachable 1
case_register reachable 1
case_returned_local definite 1
case_self_only definite 1
case_stack reachable 1
case_thread_tls reachable 1
case_tls reachable 1
case_tree_child indirect 3
case_tree_root definite 1
EOT
}

# classify_snapshot FILE BINARY: "case class blocks" lines of one snapshot.
classify_snapshot() {
    "$REACHDUMP" "$1" >"$T/dump.txt" || fail "reachdump $1 failed"
    python3 "$CLASSIFY" leakaudit "$2" <"$T/dump.txt"
}

# last_snapshot DIR: the newest snapshot file in DIR.
last_snapshot() { ls "$1"/*.snap | sort | tail -1; }
