#!/usr/bin/env bash
# Planted fd leaks (dup, fcntl F_DUPFD, socketpair, pipe, memfd, SCM_RIGHTS,
# TIOCGPTPEER ioctl) and mmap leaks are reported at their functions with the
# right kind and origin, under every allocator; fds opened and closed
# correctly are not.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_shim.sh"
for a in $ALLOCATORS; do
    audit "$T/$a" "$a" "$PLANTED" fds
    dump_last "$T/$a" >"$T/d"
    expect_site "$T/d" fd leak_dup 3 "[$a] "
    grep "^fd " "$T/d" | grep "origin=dup " | grep "kind=device" >/dev/null || fail "dup fds not of kind device"
    expect_site "$T/d" fd leak_fcntl 2 "[$a] "
    grep -q "origin=fcntl-dupfd" "$T/d" || fail "fcntl origin missing"
    expect_site "$T/d" fd leak_socketpair 2 "[$a] "
    expect_site "$T/d" fd leak_pipe 2 "[$a] "
    expect_site "$T/d" fd leak_memfd 2 "[$a] "
    grep "origin=memfd_create" "$T/d" | grep "kind=memfd.*target=/memfd:planted-frame" >/dev/null ||
        fail "memfd kind/target wrong"
    expect_site "$T/d" fd receive_fd 1 "[$a] "
    grep -q "origin=recvmsg-scm_rights" "$T/d" || fail "SCM_RIGHTS origin missing"
    expect_site "$T/d" fd leak_pty_peer 2 "[$a] " # the ptmx master and its TIOCGPTPEER peer
    [ "$(grep -c "origin=ioctl" "$T/d")" = 1 ] || fail "ioctl-created fd missing"
    expect_site "$T/d" fd clean_fds 0 "[$a] "
    expect_site "$T/d" mmap leak_mmap 4 "[$a] "
    [ "$(grep -c '^mmap len=65536 kind=anon' "$T/d")" = 3 ] || fail "anon mmaps wrong"
    grep -q '^mmap len=8192 kind=memfd' "$T/d" || fail "memfd-backed mmap not marked memfd"
    grep -q '^loss fd_unattributed=0' "$T/d" || fail "unexpected unattributed fds"
done
