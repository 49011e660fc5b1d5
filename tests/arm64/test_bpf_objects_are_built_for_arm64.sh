#!/usr/bin/env bash
# The BPF programs of `leakaudit attach` built for arm64 (__TARGET_ARCH_arm64,
# CO-RE against the BTF of Debian's arm64 kernel) read aarch64's registers:
# at a uprobe the first argument in x0 (struct user_pt_regs offset 0), the
# stack pointer at 248, the caller in the link register x30 (240), where the
# x86-64 objects read rdi (112) and the word at rsp (152); bpftool turns each
# into a skeleton and resolves every CO-RE relocation against the arm64
# kernel's types (fds: struct pt_regs's syscallno, which x86-64 has not).
# They cannot be loaded here: qemu-user emulates user space only (the
# kernel, its BPF verifier and uprobes are this machine's x86-64 ones). tests/tracer/ runs them on a real arm64 machine
# (docs/architectures.md).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_arm64.sh"
need_cmd bpftool
need_cmd llvm-objdump
BPF=$BUILD/bpf
BTF=$BPF/vmlinux-arm64.btf
need_file "$BPF/heap.bpf.o"
need_file "$BTF"
echo "NOTE: arm64 BPF programs cannot load under qemu-user (no bpf() for the guest; the kernel,"
echo "      its verifier and uprobes are this machine's x86-64 ones): checked with bpftool and"
echo "      llvm-objdump only. Run tests/tracer/ on an arm64 machine (docs/architectures.md)."

# ctx_offsets OBJ PROG: the offsets at which PROG reads its context (r1 on
# entry, copied to r6), one per line.
ctx_offsets() {
    llvm-objdump -d --no-show-raw-insn -j uprobe "$1" |
        awk -v f="<$2>:" '/^[0-9a-f]+ <la_/ {on = ($2 == f)} on' | sed -n 's/.*= \*(u64 \*)(r6 + \([0-9]*\)).*/\1/p' | sort -un
}
got=$(ctx_offsets "$BPF/heap.bpf.o" la_alloc_size1 | tr '\n' ' ')
for off in 0 240 248; do
    [[ " $got" == *" $off "* ]] || fail "heap.bpf.o la_alloc_size1 does not read user_pt_regs+$off (reads: $got)"
done
[[ " $got" == *" 112 "* || " $got" == *" 152 "* ]] && fail "heap.bpf.o reads x86-64 pt_regs offsets: $got"
ok "heap.bpf.o reads x0, x30 and sp (user_pt_regs offsets $got)"

for o in "$BPF"/*.bpf.o; do
    name=$(basename "$o" .bpf.o)
    bpftool gen skeleton "$o" name "${name}_bpf" >"$T/$name.skel.h" || fail "bpftool gen skeleton $name"
    grep -q "${name}_bpf__open" "$T/$name.skel.h" || fail "$name: no skeleton"
    bpftool gen min_core_btf "$BTF" "$T/$name.btf" "$o" || fail "$name: CO-RE relocations unresolved on arm64"
    bpftool btf dump file "$T/$name.btf" format c >"$T/$name.h"
    ok "$name.bpf.o: skeleton made, CO-RE relocations resolve against the arm64 kernel's BTF"
done
assert_contains "$T/fds.h" 's32 syscallno;' "fds.bpf.o does not read arm64's pt_regs.syscallno"
ok "fds.bpf.o reads the syscall number from arm64's struct pt_regs"
