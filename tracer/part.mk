# tracer/: the libbpf loader behind `leakaudit attach -p PID` (linked into
# the leakaudit front-end), its test programs and checker.
TRACER_SRCS := $(wildcard tracer/*.c)
TRACER_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(TRACER_SRCS))
CFLAGS_tracer := -I$(BUILD)
$(TRACER_OBJS): $(BPF_SKELS)

LEAKAUDIT_OBJS += $(TRACER_OBJS)
LEAKAUDIT_LIBS += -lbpf -lelf -lz

# Test programs (names do not start with test_: they are not tests).
TRACER_TEST_PROGS := $(TESTBIN)/tracer/target_leaker $(TESTBIN)/tracer/target_leaker_nofp
$(TESTBIN)/tracer/target_leaker: tests/tracer/target_leaker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $<
$(TESTBIN)/tracer/target_leaker_nofp: tests/tracer/target_leaker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fomit-frame-pointer -o $@ $<
$(TESTBIN)/tracer/test_probe_site: tests/tracer/test_probe_site.c tracer/probe_site.c tracer/tracer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Itracer -o $@ tests/tracer/test_probe_site.c tracer/probe_site.c $(LDFLAGS_TOOL)
TRACER_TEST_PROGS += $(TESTBIN)/tracer/test_probe_site
$(TESTBIN)/tracer/target_cxx: tests/tracer/target_cxx.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O1 -fno-omit-frame-pointer -o $@ $<
TRACER_TEST_PROGS += $(TESTBIN)/tracer/target_cxx
$(TESTBIN)/tracer/exec_held: tests/tracer/exec_held.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -o $@ $< $(LDFLAGS_TOOL)
TRACER_TEST_PROGS += $(TESTBIN)/tracer/exec_held
TEST_TARGETS += $(TRACER_TEST_PROGS)
# target_unwind: the unwinding tests' target, app and library both built
# the way distro code is (-O2, no frame pointers).
$(TESTBIN)/tracer/libtarget_unwind_lib.so: tests/tracer/unwind_lib.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O2 -fomit-frame-pointer -fno-optimize-sibling-calls -fPIC -shared -o $@ $<
$(TESTBIN)/tracer/libtarget_unwind_dl.so: tests/tracer/unwind_dl.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fomit-frame-pointer -fno-optimize-sibling-calls -fPIC -shared -o $@ $<
$(TESTBIN)/tracer/target_unwind: tests/tracer/target_unwind.c $(TESTBIN)/tracer/libtarget_unwind_lib.so
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fomit-frame-pointer -fno-optimize-sibling-calls -o $@ $< \
		-L$(TESTBIN)/tracer -ltarget_unwind_lib -Wl,-rpath,'$$ORIGIN' -lstdc++ -ldl
TEST_TARGETS += $(TESTBIN)/tracer/libtarget_unwind_lib.so $(TESTBIN)/tracer/libtarget_unwind_dl.so \
	$(TESTBIN)/tracer/target_unwind
# Injection (tracer/inject.c): its driver, a library to inject and a busy
# multi-threaded target.
$(TESTBIN)/tracer/inject_lib: tests/tracer/inject_lib.c tracer/inject.c tracer/inject.h $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Itracer -o $@ tests/tracer/inject_lib.c tracer/inject.c $(COMMON_LIB) \
		$(LDFLAGS_TOOL)
$(TESTBIN)/tracer/libinject_probe.so: tests/tracer/inject_probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fPIC -shared -o $@ $<
$(TESTBIN)/tracer/inject_target: tests/tracer/inject_target.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -pthread -o $@ $<
$(TESTBIN)/tracer/inject_forker: tests/tracer/inject_forker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -pthread -o $@ $< -ldl
TEST_TARGETS += $(TESTBIN)/tracer/inject_lib $(TESTBIN)/tracer/libinject_probe.so \
	$(TESTBIN)/tracer/inject_target $(TESTBIN)/tracer/inject_forker
$(TESTBIN)/tracer/inject_leaker: tests/tracer/inject_leaker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $<
$(TESTBIN)/tracer/inject_leaker_noplt: tests/tracer/inject_leaker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -fno-plt -o $@ $<
TEST_TARGETS += $(TESTBIN)/tracer/inject_leaker $(TESTBIN)/tracer/inject_leaker_noplt
$(TESTBIN)/tracer/inject_prior: tests/tracer/inject_prior.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $<
TEST_TARGETS += $(TESTBIN)/tracer/inject_prior
$(TESTBIN)/tracer/inject_roots: tests/tracer/inject_roots.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -o $@ $<
TEST_TARGETS += $(TESTBIN)/tracer/inject_roots
# the same with jemalloc linked into the executable (its malloc is not an
# import); attach --inject is x86-64 only, so is this target
ifeq ($(ARCH),amd64)
$(TESTBIN)/tracer/inject_leaker_static_alloc: tests/tracer/inject_leaker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $< \
		/usr/lib/$(shell $(CC) -dumpmachine)/libjemalloc.a -lpthread -ldl -lm
TEST_TARGETS += $(TESTBIN)/tracer/inject_leaker_static_alloc
endif
# kernel memory (attach --kmem): inotify watches added from user space
$(TESTBIN)/tracer/kmem_target: tests/tracer/kmem_target.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -o $@ $<
TEST_TARGETS += $(TESTBIN)/tracer/kmem_target
