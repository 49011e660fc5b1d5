# bpf/: the eBPF CO-RE programs of `leakaudit attach`. vmlinux.h is generated
# from the running kernel's BTF at build time, each bpf/*.bpf.c is compiled
# for the BPF target and turned into a libbpf skeleton in $(BUILD)/bpf/ that
# tracer/ includes.
BPF_OUT := $(BUILD)/bpf
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BPF_OUT)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BPF_OUT)/%.skel.h,$(BPF_SRCS))
BPF_ARCH := $(subst amd64,x86,$(ARCH))
BPF_CLANG ?= clang
BPFTOOL ?= bpftool
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
              -I$(BPF_OUT) -Ibpf -Icommon -I/usr/include/$(TRIPLET)
ifeq ($(CROSS),)
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
else
# The running kernel's BTF has the build machine's struct pt_regs: take the
# target architecture's from Debian's kernel package (scripts/vmlinux-btf.sh).
VMLINUX_BTF ?= $(BPF_OUT)/vmlinux-$(ARCH).btf
$(VMLINUX_BTF):
	@mkdir -p $(dir $@)
	bash scripts/vmlinux-btf.sh $(ARCH) $@
$(BPF_OUT)/vmlinux.h: $(VMLINUX_BTF)
endif

$(BPF_OUT)/vmlinux.h:
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(BPF_OUT)/%.bpf.o: bpf/%.bpf.c bpf/arch.bpf.h bpf/trace_events.h bpf/res_events.h bpf/site.bpf.h bpf/kmem_events.h common/unwind_table.h $(BPF_OUT)/vmlinux.h
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# Keep the objects: bpftool reads them and they are handy for `bpftool prog load` checks.
.SECONDARY: $(BPF_OBJS)
