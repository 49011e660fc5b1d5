# cli/: the `leakaudit` front-end's shared option helpers (cli/opts.c, linked
# by the top-level Makefile), `make install` / `make uninstall`, and the
# programs the cli tests run.

CLI_TESTBIN := $(TESTBIN)/cli
$(CLI_TESTBIN)/doomed: tests/cli/doomed.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -o $@ $<
TEST_TARGETS += $(CLI_TESTBIN)/doomed
