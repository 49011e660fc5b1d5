#!/usr/bin/env bash
# LEAKAUDIT_GUARD_POISON sets how much of a freed canary block is poisoned:
# by default its first and last 256 bytes, so a use-after-free write 1000
# bytes into a 4000-byte block goes unseen (a documented limit); with "all"
# (or any depth reaching the write) it is reported, at offset 1000, when the
# block leaves the quarantine, with the block's alloc and free stacks.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../allocshim/lib_shim.sh"
C=$TESTBIN/guard/corrupt
need_file "$C"

# deep POISON: runs uaf_deep under canary mode; the dump goes to $T/d
deep() {
    rm -rf "$T/o"
    env ${1:+LEAKAUDIT_GUARD_POISON=$1} "$LEAKAUDIT" run -q --guard=canary -o "$T/o" -- "$C" uaf_deep \
        >"$T/stdout" 2>"$T/stderr" || true
    dump_last "$T/o" >"$T/d"
}

deep ""
grep -q '^churned' "$T/stdout" || fail "default depth: the program did not finish: $(head -5 "$T/stderr")"
! grep -q '^corruption' "$T/d" || fail "default depth: a write 1000 bytes in was reported: $(grep '^corruption' "$T/d")"
ok "default depth (256 bytes at each end): a write 1000 bytes into 4000 is not seen"

for depth in all 1024; do
    deep "$depth"
    line=$(grep '^corruption kind=use-after-free-write ' "$T/d" | head -1 || true)
    [ -n "$line" ] || fail "LEAKAUDIT_GUARD_POISON=$depth: no use-after-free-write: $(head -5 "$T/stderr")"
    echo "$line" | grep ' offset=1000 ' >/dev/null || fail "LEAKAUDIT_GUARD_POISON=$depth: wrong offset: $line"
    frames=${line#* alloc frames=}; frames=${frames%% *}
    [ "$(func_of "${frames%%,*}")" = alloc_block ] || fail "LEAKAUDIT_GUARD_POISON=$depth: alloc stack: $line"
    ! grep -q '^churned' "$T/stdout" || fail "LEAKAUDIT_GUARD_POISON=$depth: policy abort did not stop it"
    ok "LEAKAUDIT_GUARD_POISON=$depth: the write at offset 1000 is reported, allocated in alloc_block"
done

env LEAKAUDIT_GUARD_POISON=0 LEAKAUDIT_GUARD=canary LD_PRELOAD="$SHIM" LEAKAUDIT_OUT="$T/o2" "$C" clean \
    >/dev/null 2>"$T/stderr" || fail "LEAKAUDIT_GUARD_POISON=0 broke the program"
grep -q 'ignoring LEAKAUDIT_GUARD_POISON=0: invalid value' "$T/stderr" \
    || fail "LEAKAUDIT_GUARD_POISON=0 not refused: $(cat "$T/stderr")"
ok "LEAKAUDIT_GUARD_POISON=0 is refused with a clear warning"
