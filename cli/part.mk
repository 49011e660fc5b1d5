# cli/: the `leakaudit` front-end's shared option helpers (cli/opts.c, linked
# by the top-level Makefile), `leakaudit run` (cli/run_cmd.c), `make install` / `make uninstall`, and the
# programs the cli tests run.

# `leakaudit run` (the front-end of the shim; allocshim/ holds only the shim).
LEAKAUDIT_OBJS += $(OBJ)/cli/run_cmd.o
# --help option lists and docs/options.md's table, from the option table.
LEAKAUDIT_OBJS += $(OBJ)/cli/help.o

# docs/options.md's table of the shim's settings is generated from the option
# table (common/audit_options.c); tests/common/test_options_table_matches_docs
# fails when the committed one is stale. `make options-doc` rewrites it.
.PHONY: options-doc
options-doc: $(BIN)/leakaudit
	bash scripts/gen-options-doc.sh $(BIN)/leakaudit docs/options.md

CLI_TESTBIN := $(TESTBIN)/cli
$(CLI_TESTBIN)/doomed: tests/cli/doomed.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -o $@ $<
TEST_TARGETS += $(CLI_TESTBIN)/doomed

# ---- make install / make uninstall ----
#   make install PREFIX=/usr DESTDIR=/tmp/stage
# installs PREFIX/bin/leakaudit, PREFIX/lib/leakaudit/libleakaudit.so (where
# `leakaudit run` looks for it next to an installed binary), the man pages
# leakaudit(1) and leakaudit-CMD(1) generated from --help, and bash
# completion. `make uninstall` with the same PREFIX/DESTDIR removes them.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_BIN := $(DESTDIR)$(PREFIX)/bin
INSTALL_LIB := $(DESTDIR)$(PREFIX)/lib/leakaudit
INSTALL_MAN := $(DESTDIR)$(PREFIX)/share/man/man1
INSTALL_COMPLETION := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
MAN_DIR := $(BUILD)/man
MAN_PAGES := leakaudit leakaudit-run leakaudit-attach leakaudit-report leakaudit-diff leakaudit-soak

$(MAN_DIR)/leakaudit.1: $(BIN)/leakaudit scripts/gen-man.sh
	bash scripts/gen-man.sh $(BIN)/leakaudit $(MAN_DIR)

.PHONY: man install uninstall
man: $(MAN_DIR)/leakaudit.1
ifeq ($(CROSS),) # made by running leakaudit --help: a cross-built one needs binfmt (make man)
ALL_TARGETS += $(MAN_DIR)/leakaudit.1
endif

install: $(BIN)/leakaudit $(SHIM) $(MAN_DIR)/leakaudit.1
	install -d $(INSTALL_BIN) $(INSTALL_LIB) $(INSTALL_MAN) $(INSTALL_COMPLETION)
	install -m 0755 $(BIN)/leakaudit $(INSTALL_BIN)/leakaudit
	install -m 0755 $(SHIM) $(INSTALL_LIB)/libleakaudit.so
	install -m 0644 $(addprefix $(MAN_DIR)/,$(addsuffix .1,$(MAN_PAGES))) $(INSTALL_MAN)/
	install -m 0644 cli/leakaudit.bash-completion $(INSTALL_COMPLETION)/leakaudit

uninstall:
	rm -f $(INSTALL_BIN)/leakaudit $(INSTALL_LIB)/libleakaudit.so \
	    $(addprefix $(INSTALL_MAN)/,$(addsuffix .1,$(MAN_PAGES))) \
	    $(INSTALL_COMPLETION)/leakaudit
	-rmdir $(INSTALL_LIB) 2>/dev/null
