# The memory-breakdown tests' programs (docs/memory.md), each doing one thing.
MEMORY_TESTBIN := $(TESTBIN)/memory
MEMORY_TEST_PROGS := $(MEMORY_TESTBIN)/fragment $(MEMORY_TESTBIN)/shm_grow $(MEMORY_TESTBIN)/leak_after_shrink
$(MEMORY_TESTBIN)/%: tests/memory/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -o $@ $<
TEST_TARGETS += $(MEMORY_TEST_PROGS)
