/*
 * C++ target program for the tracer tests (not a test itself): the
 * target_leaker protocol (churn until GO exists, then plant, write
 * COUNTERS, idle) with leaks made by C++ `new` (operator new) and `new[]`
 * (operator new[]) next to a plain malloc leak, and churn through
 * new/delete, new[]/delete[], malloc/free. Run under each allocator
 * (LD_PRELOAD) to check that `new` is seen where the allocator's own
 * operator new never reaches malloc.
 *
 *   target_cxx leak GO COUNTERS [ITERATIONS]
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unistd.h>

namespace {
constexpr size_t kBlobBytes = 200;
constexpr size_t kArrayBytes = 3000;
constexpr size_t kMallocBytes = 1000;

struct Blob {
    char data[kBlobBytes];
};

void *volatile sink;
unsigned long new_count, newarr_count, malloc_count;

void nap(long us)
{
    timespec ts = {0, us * 1000};
    nanosleep(&ts, nullptr);
}
} // namespace

extern "C" __attribute__((noinline)) void leak_new(void)
{
    Blob *b = new Blob;
    memset(b->data, 1, sizeof(b->data));
    sink = b;
    new_count++;
}

extern "C" __attribute__((noinline)) void leak_new_array(void)
{
    char *a = new char[kArrayBytes];
    memset(a, 2, kArrayBytes);
    sink = a;
    newarr_count++;
}

extern "C" __attribute__((noinline)) void leak_heap(void)
{
    char *p = static_cast<char *>(malloc(kMallocBytes));
    memset(p, 3, kMallocBytes);
    sink = p;
    malloc_count++;
}

extern "C" __attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < 10; i++) {
        Blob *b = new Blob;
        sink = b;
        delete b;
        char *a = new char[64 + i * 16];
        sink = a;
        delete[] a;
        void *p = malloc(32 + i);
        sink = p;
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: target_cxx leak|clean GO COUNTERS [ITERATIONS]\n");
        return 2;
    }
    bool leak = !strcmp(argv[1], "leak");
    long iterations = argc > 4 ? atol(argv[4]) : 200;
    while (access(argv[2], F_OK) != 0) {
        churn();
        nap(1000);
    }
    for (long i = 0; i < iterations; i++) {
        churn();
        if (leak) {
            leak_new();
            leak_new_array();
            leak_heap();
        }
        nap(500);
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
    FILE *f = fopen(tmp, "w");
    fprintf(f,
            "new_bytes=%lu new_count=%lu newarr_bytes=%lu newarr_count=%lu leaked_bytes=%lu "
            "leaked_count=%lu\n",
            new_count * kBlobBytes, new_count, newarr_count * kArrayBytes, newarr_count,
            malloc_count * kMallocBytes, malloc_count);
    fclose(f);
    rename(tmp, argv[3]);
    for (;;)
        pause();
}
