# soak/: `leakaudit soak` (the same workload under each allocator, with and
# without the shim, compared side by side). Objects go into the front-end;
# it reuses the HTML escaper of reports/ and needs libm.
SOAK_SRCS := $(wildcard soak/*.c)
SOAK_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(SOAK_SRCS))
LEAKAUDIT_OBJS += $(SOAK_OBJS)
LEAKAUDIT_LIBS += -lm

# Test workloads (not tests: names do not start with test_). Plain -O1 with
# frame pointers, no sanitizers: they run under every allocator and the shim.
SOAK_TEST_PROGS := $(TESTBIN)/soak/soakload
$(TESTBIN)/soak/%: tests/soak/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Werror \
	    -Wno-unused-parameter -o $@ $<
TEST_TARGETS += $(SOAK_TEST_PROGS)
