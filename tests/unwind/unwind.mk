# Test programs of tests/unwind/ (included from common/part.mk): built the
# way distro code is, -O2 -fomit-frame-pointer.
UNWIND_TESTBIN := $(TESTBIN)/unwind
UNWIND_NOFP := -g -O2 -fomit-frame-pointer -fno-optimize-sibling-calls
$(UNWIND_TESTBIN)/libdeep.so: tests/unwind/libdeep.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(UNWIND_NOFP) -fPIC -shared -o $@ $<
$(UNWIND_TESTBIN)/libplugin.so: tests/unwind/libplugin.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(UNWIND_NOFP) -fPIC -shared -o $@ $<
$(UNWIND_TESTBIN)/unwind_cases: tests/unwind/unwind_cases.c tests/unwind/unwind_cases_cxx.cpp \
                                $(UNWIND_TESTBIN)/libdeep.so $(UNWIND_TESTBIN)/libplugin.so
	@mkdir -p $(dir $@)
	$(CXX) $(UNWIND_NOFP) -c -o $@.cxx.o tests/unwind/unwind_cases_cxx.cpp
	$(CC) -std=gnu11 $(UNWIND_NOFP) -c -o $@.o tests/unwind/unwind_cases.c
	$(CXX) -o $@ $@.o $@.cxx.o -L$(UNWIND_TESTBIN) -ldeep -ldl -Wl,-rpath,'$$ORIGIN'
TEST_TARGETS += $(UNWIND_TESTBIN)/unwind_cases
