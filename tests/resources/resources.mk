# Test programs of the resource tracking (docs/resources.md), included from
# allocshim/part.mk. None is a test itself (names do not start with test_).
RES_TESTBIN := $(TESTBIN)/resources
RES_PROG_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fno-optimize-sibling-calls \
                   -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter

$(RES_TESTBIN)/libvendor.so: tests/resources/vendor.c
	@mkdir -p $(dir $@)
	$(CC) $(RES_PROG_CFLAGS) -fPIC -shared -Wl,-soname,libvendor.so -o $@ $<

# Linked lazily (the default) and with -z now: both ways of binding the PLT.
$(RES_TESTBIN)/vendor_app: tests/resources/vendor_app.c $(RES_TESTBIN)/libvendor.so
	$(CC) $(RES_PROG_CFLAGS) -o $@ $< -L$(RES_TESTBIN) -lvendor -Wl,-rpath,'$$ORIGIN'
$(RES_TESTBIN)/vendor_app_now: tests/resources/vendor_app.c $(RES_TESTBIN)/libvendor.so
	$(CC) $(RES_PROG_CFLAGS) -o $@ $< -L$(RES_TESTBIN) -lvendor -Wl,-rpath,'$$ORIGIN' \
	    -Wl,-z,now -Wl,-z,relro
$(RES_TESTBIN)/vendor_dlopen: tests/resources/vendor_dlopen.c $(RES_TESTBIN)/libvendor.so
	$(CC) $(RES_PROG_CFLAGS) -o $@ $< -ldl
$(RES_TESTBIN)/libvendorplugin.so: tests/resources/vendor_plugin.c $(RES_TESTBIN)/libvendor.so
	$(CC) $(RES_PROG_CFLAGS) -fPIC -shared -o $@ $< -L$(RES_TESTBIN) -lvendor \
	    -Wl,-rpath,'$$ORIGIN'

RES_TEST_PROGS := $(RES_TESTBIN)/libvendor.so $(RES_TESTBIN)/vendor_app \
                  $(RES_TESTBIN)/vendor_app_now $(RES_TESTBIN)/vendor_dlopen $(RES_TESTBIN)/libvendorplugin.so
TEST_TARGETS += $(RES_TEST_PROGS)

# The real-library case: FFmpeg's libavutil.
$(RES_TESTBIN)/ffmpeg_app: tests/resources/ffmpeg_app.c
	@mkdir -p $(dir $@)
	$(CC) $(RES_PROG_CFLAGS) $$($(PKG_CONFIG) --cflags libavutil) -o $@ $< $$($(PKG_CONFIG) --libs libavutil)
TEST_TARGETS += $(RES_TESTBIN)/ffmpeg_app
