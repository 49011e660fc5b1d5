// The C++ exception path of tests/unwind/unwind_cases.c: the exception
// object comes from __cxa_allocate_exception (libstdc++, no frame pointers)
// and is kept alive with an exception_ptr so it is live in the snapshot.
#include <exception>
#include <stdexcept>
#include <string>

static std::exception_ptr kept[64];
static unsigned next_kept;
extern "C" volatile int cxx_sink;
volatile int cxx_sink;

extern "C" __attribute__((noinline)) void app_throw(void)
{
    try {
        throw std::runtime_error("unwind case: a C++ exception on the allocation path");
    } catch (const std::exception &e) {
        kept[next_kept++ % 64] = std::current_exception();
        cxx_sink += (int)e.what()[0];
    }
}
