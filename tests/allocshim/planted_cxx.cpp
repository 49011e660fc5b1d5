// C++ known-leak program: operator new / new[] leaks must be seen under
// every allocator (jemalloc's and tcmalloc's operator new bypass malloc).
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

static void *volatile sink;

__attribute__((noinline)) void leak_new()
{
    for (int i = 0; i < 20; i++)
        sink = new char[333];
    for (int i = 0; i < 10; i++)
        sink = new std::vector<int>(50); // 200 bytes of ints + the 24-byte vector
}

__attribute__((noinline)) void churn_new()
{
    for (int i = 0; i < 10000; i++) {
        std::string *s = new std::string(100, 'x');
        delete s;
        int *a = new int[64];
        delete[] a;
    }
}

int main()
{
    churn_new();
    leak_new();
    std::printf("done\n");
    return 0;
}
