# leakaudit — one top-level build, out of tree into $(BUILD)/.
#
#   make            build everything (needs `make deps` once on a fresh machine)
#   make deps       apt-get install what is missing (scripts/deps.sh)
#   make test       deps + build + every test (tests/run.sh prints the totals)
#   make check      the same tests against an ASan+UBSan build in build-san/
#   make demo       deps + build + the end-to-end demo (scripts/demo.sh)
#   make format     clang-format every C source and header
#   make options-doc  regenerate docs/options.md's table from the option table
#   make install    PREFIX=/usr/local DESTDIR= : binary, shim, man pages,
#                   bash completion (cli/part.mk); make uninstall
#   make clean
#   make ARCH=arm64 [all tests]   cross-build for aarch64 into build-arm64/
#   make test-arm64 the aarch64 tests under qemu-aarch64 (docs/architectures.md)
#
# Each part adds its own rules in <part>/part.mk; this file only holds what
# they share. Outputs: $(BUILD)/bin, $(BUILD)/lib, $(BUILD)/obj, $(BUILD)/tests.

# ARCH: the machine the build is for, as Debian names it (amd64, arm64). On
# another machine the build is a cross-build with $(CROSS)gcc and the
# multiarch -dev packages of that architecture (dpkg --add-architecture).
NATIVE_ARCH := $(shell uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
ARCH ?= $(NATIVE_ARCH)
ifeq ($(ARCH),arm64)
TRIPLET := aarch64-linux-gnu
else ifeq ($(ARCH),amd64)
TRIPLET := x86_64-linux-gnu
else
$(error ARCH=$(ARCH): expected amd64 or arm64)
endif
ifneq ($(ARCH),$(NATIVE_ARCH))
CROSS ?= $(TRIPLET)-
BUILD ?= build-$(ARCH)
endif
BUILD ?= build
SAN ?= 0
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
ifneq ($(CROSS),)
CC := $(CROSS)gcc
CXX := $(CROSS)g++
AR := $(CROSS)ar
# pkg-config answers for the target's libraries only
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config
endif
OBJCOPY ?= $(CROSS)objcopy
PKG_CONFIG ?= pkg-config

BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
OBJ := $(BUILD)/obj
TESTBIN := $(BUILD)/tests

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -g -O2 -fno-omit-frame-pointer -D_GNU_SOURCE $(WARN) -I. -Icommon
SAN_FLAGS :=
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
# Code that runs outside the audited process (tools, tests) gets sanitizers in
# `make check`; code injected into it (the shim) never does: a sanitizer
# runtime cannot be preloaded into arbitrary programs.
CFLAGS_TOOL := $(BASE_CFLAGS) $(SAN_FLAGS) $(EXTRA_CFLAGS)
LDFLAGS_TOOL := $(SAN_FLAGS)

# Parts append to these.
ALL_TARGETS :=
TEST_TARGETS :=
LEAKAUDIT_OBJS :=
LEAKAUDIT_LIBS :=

.PHONY: all deps test check demo format clean test-arm64 deps-arm64
all:

include common/part.mk
include $(filter-out common/part.mk,$(wildcard */part.mk))

# The front-end: cli/main.c dispatches to each part's subcommand objects.
$(BIN)/leakaudit: $(OBJ)/cli/main.o $(OBJ)/cli/opts.o $(LEAKAUDIT_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_TOOL) -o $@ $^ $(LEAKAUDIT_LIBS) $(COMMON_LIBS)
ALL_TARGETS += $(BIN)/leakaudit

all: $(ALL_TARGETS)

deps:
	@bash scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all tests
	@BUILD=$(BUILD) bash tests/run.sh

tests: $(TEST_TARGETS)

check: deps
	@$(MAKE) --no-print-directory BUILD=build-san SAN=1 all tests
	@BUILD=build-san LEAKAUDIT_SANITIZED=1 bash tests/run.sh

# The arm64 build's tests under qemu-aarch64 (docs/architectures.md): both
# builds (the x86-64 report reads arm64 snapshots), qemu registered with
# binfmt_misc, then the tests of tests/arm64/tests.txt (ARM64_SET=ci: the
# subset .ci/run runs).
deps-arm64:
	@bash scripts/deps.sh arm64

test-arm64: deps-arm64
	@$(MAKE) --no-print-directory all tests
	@$(MAKE) --no-print-directory ARCH=arm64 all tests
	@bash scripts/qemu-binfmt.sh
	@BUILD=build-arm64 LEAKAUDIT_NATIVE_BUILD=$(BUILD) LEAKAUDIT_ARCH=arm64 \
	    LEAKAUDIT_ARCH_SET=$(ARM64_SET) bash tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash scripts/demo.sh

format:
	@git ls-files '*.c' '*.h' | grep -v '^bpf/vmlinux' | xargs clang-format -i

clean:
	rm -rf build build-san build-arm64

# Generic compile rule for tool-side objects: $(OBJ)/<path>.o from <path>.c.
$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) $(CFLAGS_$(firstword $(subst /, ,$*))) -MMD -MP -c $< -o $@

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
