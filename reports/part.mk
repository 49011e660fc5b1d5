# reports/: `leakaudit report` and `leakaudit diff` (snapshot series ->
# symbolized leak reports). Objects go into the front-end; libdw/libelf for
# symbolization, zlib for gzipped pprof, libstdc++ for __cxa_demangle.
REPORTS_SRCS := $(wildcard reports/*.c)
REPORTS_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(REPORTS_SRCS))
LEAKAUDIT_OBJS += $(REPORTS_OBJS)
LEAKAUDIT_LIBS += -ldw -lelf -lz -lstdc++ -lm

# Test programs: the snapshot-series generator (real return addresses of
# itself, built with -g and frame pointers), and unit tests.
REPORTS_TESTBIN := $(TESTBIN)/reports
CFLAGS_GEN := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fno-inline -fno-optimize-sibling-calls \
	-D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I. -Icommon $(SAN_FLAGS)

# The hostile fixture: a function renamed to an HTML/script payload after
# compilation (symbol names come from untrusted binaries).
$(OBJ)/tests/reports/fixture_hostile.o: tests/reports/fixture_hostile.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_GEN) -c $< -o $@.tmp.o
	$(OBJCOPY) --redefine-sym 'hostile_render_frame=<script>alert(1)</script><img src=x onerror=alert(2)>' $@.tmp.o $@
	rm -f $@.tmp.o

$(REPORTS_TESTBIN)/gen_series: tests/reports/gen_series.c $(OBJ)/tests/reports/fixture_hostile.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_GEN) -o $@ tests/reports/gen_series.c $(OBJ)/tests/reports/fixture_hostile.o $(COMMON_LIB) -lm

$(REPORTS_TESTBIN)/test_report_trend: tests/reports/test_report_trend.c $(OBJ)/reports/trend.o $(OBJ)/reports/names.o \
		$(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -o $@ $^ $(LDFLAGS_TOOL) -lcmocka -lm

TEST_TARGETS += $(REPORTS_TESTBIN)/gen_series $(REPORTS_TESTBIN)/test_report_trend

# libFuzzer target for the snapshot reader (run by test_report_fuzz.sh).
# Not called test_*: the runner starts it through the script, with a corpus.
$(REPORTS_TESTBIN)/fuzz_snapshot_reader: tests/reports/fuzz_snapshot_reader.c common/snapshot_read.c \
		common/snapshot_names.c common/util.c common/losses.c \
		common/procfs.c common/series_name.c
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -Icommon -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o $@ $^
ifeq ($(CROSS),) # libFuzzer needs clang's runtime for the target: native builds only
TEST_TARGETS += $(REPORTS_TESTBIN)/fuzz_snapshot_reader
endif

# A small leaking "service" run under the real shim by test_report_under_shim.sh.
$(REPORTS_TESTBIN)/leaky_service: tests/reports/leaky_service.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<
TEST_TARGETS += $(REPORTS_TESTBIN)/leaky_service

# Peak and temporary allocations per stack, planted (test_report_peak_and_temporary_allocations.sh).
$(REPORTS_TESTBIN)/peak_temp: tests/reports/peak_temp.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<
TEST_TARGETS += $(REPORTS_TESTBIN)/peak_temp

# Three inlined levels above a malloc (test_report_symbols_match_llvm_symbolizer.sh).
$(REPORTS_TESTBIN)/inline_chain: tests/reports/inline_chain.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<
TEST_TARGETS += $(REPORTS_TESTBIN)/inline_chain

include tests/memory/memory.mk
