#!/usr/bin/env bash
# Guard mode (canary redzones + guard pages on 1 in 50 blocks) on real
# programs: same status and output as without the shim, and not one
# corruption report (CPython's regression tests, sqlite3, git, bash, gcc,
# ffmpeg).
# timeout: 900
# check: no
RUN_EXTRA="--guard=both --guard-sample 50" LEAKAUDIT_PY_TESTS="test_json test_re test_collections test_threading" \
    exec bash "$(dirname "$0")/../allocshim/test_real_programs_unchanged.sh"
