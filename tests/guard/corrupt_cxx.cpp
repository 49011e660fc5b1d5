// new[] released with delete (a mismatch), and a clean C++ workload.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

__attribute__((noinline)) void mismatched_delete()
{
    char *p = new char[40];
    std::memset(p, 0, 40);
    delete p;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !std::strcmp(argv[1], "mismatch"))
        mismatched_delete();
    std::vector<std::string> v;
    for (int i = 0; i < 2000; i++)
        v.push_back(std::string(static_cast<size_t>(i % 100), 'x'));
    std::printf("ok %zu\n", v.size());
    return 0;
}
