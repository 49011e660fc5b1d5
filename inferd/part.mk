# inferd/: the reference video-inference daemon (build/bin/inferd) and the
# simulated vendor runtime plugin it can dlopen (build/lib/libvendorsim.so).
INFERD_PKGS := libavformat libavcodec libswscale libavutil libmicrohttpd jansson libturbojpeg
INFERD_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(INFERD_PKGS) tesseract 2>/dev/null)
INFERD_PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(INFERD_PKGS) tesseract 2>/dev/null)
# Debian's libleptonica-dev is not Multi-Arch: same, so libtesseract-dev
# cannot be installed for two architectures at once: a cross-build takes
# their headers (architecture-independent) from the build machine's -dev
# packages and links the target's runtime libraries by file name.
ifneq ($(CROSS),)
INFERD_TESS_LIBS := /usr/lib/$(TRIPLET)/libtesseract.so.5 /usr/lib/$(TRIPLET)/liblept.so.5
INFERD_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(INFERD_PKGS) 2>/dev/null) \
                     $(shell pkg-config --cflags tesseract 2>/dev/null)
INFERD_PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(INFERD_PKGS) 2>/dev/null) $(INFERD_TESS_LIBS)
else
INFERD_TESS_LIBS := $(shell pkg-config --libs tesseract 2>/dev/null)
endif
CFLAGS_inferd := $(INFERD_PKG_CFLAGS)

INFERD_SRCS := $(wildcard inferd/*.c)
INFERD_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(INFERD_SRCS))
INFERD := $(BIN)/inferd

$(INFERD): $(INFERD_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_TOOL) -o $@ $^ $(INFERD_PKG_LIBS) -lpthread -ldl

# The plugin compiles its own hidden copy of the Tesseract backend and exports
# only backend_*; -z nodelete keeps its code mapped after dlclose, because
# defect 5 leaves its completion thread running past backend_close.
VENDORSIM := $(LIB)/libvendorsim.so
VENDORSIM_OBJS := $(OBJ)/inferd-pic/inferd/vendorsim/vendorsim.o \
                  $(OBJ)/inferd-pic/inferd/backend_tesseract.o
$(OBJ)/inferd-pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) $(INFERD_PKG_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@
$(VENDORSIM): $(VENDORSIM_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_TOOL) -shared -o $@ $^ -Wl,-z,nodelete $(INFERD_TESS_LIBS) \
	    -lpthread

ALL_TARGETS += $(INFERD) $(VENDORSIM)
TEST_TARGETS += $(INFERD) $(VENDORSIM)
