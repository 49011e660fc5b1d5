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
