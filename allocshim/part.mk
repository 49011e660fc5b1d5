# allocshim/: libleakaudit.so (the LD_PRELOAD shim); `leakaudit run` is cli/run_cmd.c.
# The shim is never built with sanitizers (it is injected into arbitrary
# programs) and compiles the common/ sources it needs itself, with -fPIC.
SHIM_SRCS := $(wildcard allocshim/*.c)
# common/ sources of the snapshot writer's own: safe file creation, retention.
SHIM_SRCS += common/safefile.c common/retention.c
SHIM_COMMON := common/audit_options.c common/snapshot_write.c common/snapshot_names.c \
               common/losses.c common/procfs.c common/series_name.c common/allocators.c \
               common/got_patch.c common/snapshot_produce.c common/modmap.c common/fdscan.c common/stacktable.c common/util.c \
               common/resspec.c common/reachmark.c common/membreak.c common/dmabuf.c common/unwind_table.c common/unwind_rows.c common/unwind_elf.c
SHIM_OBJS := $(patsubst %.c,$(OBJ)/shim/%.o,$(SHIM_SRCS) $(SHIM_COMMON))
SHIM_CFLAGS := $(BASE_CFLAGS) -fPIC -fvisibility=hidden -fno-omit-frame-pointer \
               -ftls-model=initial-exec -fno-builtin-malloc -fno-builtin-free \
               -fno-builtin-calloc -fno-builtin-realloc -O2 $(EXTRA_CFLAGS)
SHIM := $(LIB)/libleakaudit.so

$(OBJ)/shim/allocshim/cxx_hooks.o: EXTRA_SHIM_FLAGS := -fexceptions
$(OBJ)/shim/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) $(EXTRA_SHIM_FLAGS) -MMD -MP -c $< -o $@

$(SHIM): $(SHIM_OBJS) allocshim/exports.map
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(SHIM_OBJS) -Wl,--version-script=allocshim/exports.map \
	    -Wl,-z,nodelete -Wl,-z,now -ldl -lpthread -lm

ALL_TARGETS += $(SHIM)

# Test programs for the shim (not tests themselves: names do not start with test_).
SHIM_TEST_PROGS := $(TESTBIN)/allocshim/planted $(TESTBIN)/allocshim/planted_nofp \
                   $(TESTBIN)/allocshim/planted_cxx $(TESTBIN)/allocshim/stack_churn \
                   $(TESTBIN)/allocshim/cloexec_fds $(TESTBIN)/allocshim/same_site \
                   $(TESTBIN)/allocshim/many_sites $(TESTBIN)/allocshim/alloca_site
$(TESTBIN)/allocshim/planted: tests/allocshim/planted.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $<
$(TESTBIN)/allocshim/planted_nofp: tests/allocshim/planted.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fomit-frame-pointer -pthread -o $@ $<
$(TESTBIN)/allocshim/stack_churn: tests/allocshim/stack_churn.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $<
$(TESTBIN)/allocshim/same_site: tests/allocshim/same_site.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $<
$(TESTBIN)/allocshim/many_sites: tests/allocshim/many_sites.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $<
$(TESTBIN)/allocshim/alloca_site: tests/allocshim/alloca_site.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $<
$(TESTBIN)/allocshim/cloexec_fds: tests/allocshim/cloexec_fds.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<
$(TESTBIN)/allocshim/planted_cxx: tests/allocshim/planted_cxx.cpp
	@mkdir -p $(dir $@)
	$(CXX) -g -O1 -fno-omit-frame-pointer -o $@ $<
TEST_TARGETS += $(SHIM_TEST_PROGS) $(SHIM)

# Guard-mode test programs.
GUARD_TEST_PROGS := $(TESTBIN)/guard/corrupt $(TESTBIN)/guard/corrupt_cxx
$(TESTBIN)/guard/corrupt: tests/guard/corrupt.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $<
$(TESTBIN)/guard/corrupt_cxx: tests/guard/corrupt_cxx.cpp
	@mkdir -p $(dir $@)
	$(CXX) -g -O1 -fno-omit-frame-pointer -Wno-mismatched-new-delete -o $@ $<
TEST_TARGETS += $(GUARD_TEST_PROGS)

# Reachability test programs (tests/reach/, docs/reachability.md).
REACH_TESTBIN := $(TESTBIN)/reach
REACH_CASE_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -Wall -Wextra -Werror
$(REACH_TESTBIN)/%: tests/reach/%.c
	@mkdir -p $(dir $@)
	$(CC) $(REACH_CASE_CFLAGS) -o $@ $<
$(REACH_TESTBIN)/reachdump: tests/reach/reachdump.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -o $@ $< $(COMMON_LIB) $(LDFLAGS_TOOL)
TEST_TARGETS += $(REACH_TESTBIN)/reach_cases $(REACH_TESTBIN)/reachdump $(REACH_TESTBIN)/reach_clean \
                $(REACH_TESTBIN)/reach_attach_target $(REACH_TESTBIN)/reach_why_chain
include tests/resources/resources.mk

# Unit tests of the shim's core outside a preload (cmocka): the shim's own
# objects, built as for the library (never sanitized), linked into a test.
SHIM_CORE_OBJS := $(OBJ)/shim/allocshim/heap.o $(OBJ)/shim/allocshim/arena.o \
                  $(OBJ)/shim/allocshim/unwind.o $(OBJ)/shim/allocshim/callsite.o \
                  $(OBJ)/shim/common/unwind_table.o \
                  $(OBJ)/shim/common/unwind_rows.o $(OBJ)/shim/common/unwind_elf.o \
                  $(OBJ)/shim/allocshim/config.o $(OBJ)/shim/common/audit_options.o \
                  $(OBJ)/shim/common/stacktable.o $(OBJ)/shim/common/util.o \
                  $(OBJ)/shim/common/procfs.o $(OBJ)/shim/common/losses.o \
                  $(OBJ)/shim/allocshim/stacks.o
$(TESTBIN)/allocshim/test_shim_core: tests/allocshim/test_shim_core.c \
                                      tests/allocshim/shim_core_stubs.c $(SHIM_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -o $@ $^ -lcmocka -lpthread -lm -ldl
TEST_TARGETS += $(TESTBIN)/allocshim/test_shim_core

# Canary mode's quarantine outside a preload: the guard objects on top.
GUARD_CORE_OBJS := $(SHIM_CORE_OBJS) $(OBJ)/shim/allocshim/guard.o \
                   $(OBJ)/shim/allocshim/guard_canary.o $(OBJ)/shim/allocshim/guard_quarantine.o \
                   $(OBJ)/shim/allocshim/guard_report.o $(OBJ)/shim/allocshim/guard_pages.o \
                   $(OBJ)/shim/common/snapshot_write.o $(OBJ)/shim/common/snapshot_names.o \
                   $(OBJ)/shim/common/safefile.o $(OBJ)/shim/common/series_name.o
# (the reader is compiled in: the tools' common library is sanitized in make check)
$(TESTBIN)/allocshim/test_guard_quarantine: tests/allocshim/test_guard_quarantine.c \
                                            tests/allocshim/shim_core_stubs.c \
                                            common/snapshot_read.c $(GUARD_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -o $@ $^ -lcmocka -lpthread -lm -ldl
TEST_TARGETS += $(TESTBIN)/allocshim/test_guard_quarantine
