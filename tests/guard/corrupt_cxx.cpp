// new[] released with delete (a mismatch), a use-after-delete read (for
// guard pages: C++ blocks are sampled under every allocator), the same after
// a failed new (std::bad_alloc), and a clean C++ workload.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

__attribute__((noinline)) void mismatched_delete()
{
    char *p = new char[40];
    std::memset(p, 0, 40);
    delete p;
}

__attribute__((noinline)) int *alloc_ints()
{
    int *p = new int[50];
    for (int i = 0; i < 50; i++)
        p[i] = i;
    return p;
}

__attribute__((noinline)) int read_after_delete(const int *p)
{
    return p[3];
}

int main(int argc, char **argv)
{
    std::setvbuf(stdout, nullptr, _IONBF, 0); // seen even when a guard ends the process
    if (argc > 1 && !std::strcmp(argv[1], "mismatch"))
        mismatched_delete();
    if (argc > 1 && !std::strcmp(argv[1], "bad_alloc_then_uaf")) {
        try {
            volatile size_t huge = SIZE_MAX / 4;
            char *q = new char[huge];
            std::printf("huge new succeeded %p\n", static_cast<void *>(q));
        } catch (const std::bad_alloc &) {
            std::printf("bad_alloc\n");
        }
    }
    if (argc > 1 &&
        (!std::strcmp(argv[1], "uaf_read") || !std::strcmp(argv[1], "bad_alloc_then_uaf"))) {
        int *p = alloc_ints();
        delete[] p;
        std::printf("read %d\n", read_after_delete(p));
    }
    std::vector<std::string> v;
    for (int i = 0; i < 2000; i++)
        v.push_back(std::string(static_cast<size_t>(i % 100), 'x'));
    std::printf("ok %zu\n", v.size());
    return 0;
}
