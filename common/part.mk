# common/: the one shared implementation (snapshot format, module map, fd
# scan, stack table, utilities), as a static library for the tools. The shim
# compiles the same sources itself with -fPIC (allocshim/part.mk).
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRCS))
COMMON_LIB := $(LIB)/libleakaudit-common.a
COMMON_LIBS :=

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

ALL_TARGETS += $(COMMON_LIB)

# Unit tests of common/ (cmocka).
COMMON_TESTS := $(patsubst tests/common/%.c,$(TESTBIN)/common/%,$(wildcard tests/common/test_*.c))
$(TESTBIN)/common/%: tests/common/%.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -o $@ $< $(COMMON_LIB) $(LDFLAGS_TOOL) -lcmocka -lpthread
TEST_TARGETS += $(COMMON_TESTS)

# The snapshot dump every part's shell tests read (not a test itself).
SNAPDUMP := $(TESTBIN)/common/snapdump
$(SNAPDUMP): tests/common/snapdump.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -o $@ $< $(COMMON_LIB) $(LDFLAGS_TOOL)
TEST_TARGETS += $(SNAPDUMP)

# The unwind-table dump the unwinder tests compare with readelf (not a test itself).
UNWDUMP := $(TESTBIN)/common/unwdump
$(UNWDUMP): tests/common/unwdump.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -o $@ $< $(COMMON_LIB) $(LDFLAGS_TOOL)
TEST_TARGETS += $(UNWDUMP)
include tests/unwind/unwind.mk
