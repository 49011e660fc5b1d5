/*
 * A service using libvendor.so with planted resource defects (not a test
 * itself). Each mode plants one, in a function named for it:
 *
 *   leak N      N requests; every 10th takes the error path in
 *               handle_request() that returns without vendor_destroy
 *   double      close_session() destroys, then finalize_session() again
 *   uad         run_after_close() calls vendor_run on a destroyed handle
 *   refs N      N reconnects; on_reconnect() takes a buffer reference it
 *               never drops; on_frame() refs and unrefs (balanced)
 *   outptr N    open_request() creates through vendor_open(&h), leaks 1 in 5
 *   clean N     N requests, everything destroyed
 *   serve N     N slow requests (3 ms apart): handle_request() leaking 1 in
 *               10 and clean_request() destroying everything, for series
 *   spin N      N create+run+destroy cycles as fast as possible (bench)
 *   inject N    for attach --inject (GO and PLUGIN required): creates a
 *               handle, prints "slot FILE" (where its GOT slot of
 *               vendor_create goes) and "ready", churns until $GO; then
 *               prints "slot FILE" again, destroys the old handle in
 *               destroy_old(), leaks 1 in 10 of N requests at
 *               handle_request(), writes $GO.done, churns until
 *               $GO.detached; prints "slot FILE", runs N clean requests,
 *               prints "worked", writes $GO.worked, churns until $GO.again;
 *               dlopens $PLUGIN, runs its N requests (1 in 10 leaked at
 *               plugin_request()) and N more handle_request(), writes
 *               $GO.done2, churns until $GO.detached2; prints "slot FILE",
 *               runs N clean requests, prints "worked" and exits 0
 *
 * With GO set (a path), it waits for that file to exist before planting
 * (for attach mode), and afterwards writes "done" to $GO.done and idles
 * until killed.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct vendor_ctx;
struct vendor_buf;
struct vendor_ctx *vendor_create(int config);
int vendor_open(struct vendor_ctx **out, int config);
int vendor_run(struct vendor_ctx *c, int input);
int vendor_destroy(struct vendor_ctx *c);
struct vendor_buf *vendor_buf_new(void);
struct vendor_buf *vendor_buf_ref(struct vendor_buf *b);
void vendor_buf_unref(struct vendor_buf *b);

static struct vendor_ctx *volatile keep;
static int results;

__attribute__((noinline)) int handle_request(int i)
{
    struct vendor_ctx *c = vendor_create(i);
    if (!c)
        return -1;
    int r = vendor_run(c, i);
    if (i % 10 == 9)
        return -1; /* the error path forgets vendor_destroy(c) */
    vendor_destroy(c);
    return r;
}

__attribute__((noinline)) int clean_request(int i)
{
    struct vendor_ctx *c = vendor_create(i);
    int r = vendor_run(c, i);
    vendor_destroy(c);
    return r;
}

__attribute__((noinline)) void close_session(struct vendor_ctx *c)
{
    vendor_destroy(c);
}

__attribute__((noinline)) void finalize_session(struct vendor_ctx *c)
{
    vendor_destroy(c); /* already destroyed by close_session */
}

__attribute__((noinline)) int run_after_close(struct vendor_ctx *c)
{
    return vendor_run(c, 7);
}

__attribute__((noinline)) void on_reconnect(struct vendor_buf *shared)
{
    vendor_buf_ref(shared); /* the old reference is never dropped */
}

__attribute__((noinline)) void on_frame(struct vendor_buf *shared)
{
    vendor_buf_ref(shared);
    vendor_buf_unref(shared);
}

__attribute__((noinline)) int open_request(int i)
{
    struct vendor_ctx *c = NULL;
    if (vendor_open(&c, i) < 0)
        return -1;
    int r = vendor_run(c, i);
    if (i % 5 != 4)
        vendor_destroy(c);
    return r;
}

__attribute__((noinline)) void destroy_old(struct vendor_ctx *c)
{
    vendor_destroy(c); /* created before the attach */
}

struct slot_query {
    const char *symbol;
    const char *file; /* out: the file of the function the slot goes to */
};

/* The executable's (the first module's) JUMP_SLOT for q->symbol. */
static int find_slot(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct slot_query *q = arg;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *rel = NULL;
    size_t relsz = 0;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            symtab = (const ElfW(Sym) *)dyn->d_un.d_ptr;
        else if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)dyn->d_un.d_ptr;
        else if (dyn->d_tag == DT_JMPREL)
            rel = (const ElfW(Rela) *)dyn->d_un.d_ptr;
        else if (dyn->d_tag == DT_PLTRELSZ)
            relsz = dyn->d_un.d_val;
    }
    for (size_t i = 0; rel && symtab && strtab && i < relsz / sizeof(*rel); i++) {
        if (strcmp(strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name, q->symbol))
            continue;
        Dl_info d;
        void *to = *(void **)(info->dlpi_addr + rel[i].r_offset);
        if (dladdr(to, &d) && d.dli_fname) {
            const char *base = strrchr(d.dli_fname, '/');
            q->file = base ? base + 1 : d.dli_fname;
        }
    }
    return 1; /* the executable only */
}

static void print_slot(void)
{
    struct slot_query q = {"vendor_create", "none"};
    dl_iterate_phdr(find_slot, &q);
    printf("slot %s\n", q.file);
    fflush(stdout);
}

static void wait_go(const char *go)
{
    if (!go)
        return;
    while (access(go, F_OK) != 0) {
        struct vendor_ctx *c = vendor_create(0); /* churn before the attach sees anything */
        vendor_destroy(c);
        usleep(2000);
    }
}

static void finish(const char *go)
{
    if (!go)
        return;
    fflush(stdout); /* it idles until killed: nothing would flush it */
    char path[4096];
    snprintf(path, sizeof(path), "%s.done", go);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "done\n");
        fclose(f);
    }
    for (;;)
        pause();
}

/* Writes $GO<done>, then churns until $GO<next> exists. */
static void inject_step(const char *go, const char *done, const char *next)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s", go, done);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "%s%s", go, next);
    wait_go(path);
}

static int inject_mode(const char *go, int n)
{
    const char *plugin = getenv("PLUGIN");
    if (!go || !plugin)
        return 2;
    struct vendor_ctx *old = vendor_create(1);
    print_slot();
    printf("ready\n");
    fflush(stdout);
    wait_go(go);
    /* attached */
    print_slot();
    destroy_old(old);
    for (int i = 0; i < n; i++)
        results += handle_request(i);
    inject_step(go, ".done", ".detached");
    print_slot();
    for (int i = 0; i < n; i++)
        results += clean_request(i);
    printf("worked\n");
    fflush(stdout);
    inject_step(go, ".worked", ".again");
    /* attached again: a plugin loaded now is patched too */
    void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    int (*requests)(int) = h ? (int (*)(int))dlsym(h, "plugin_requests") : NULL;
    if (!requests)
        return 3;
    results += requests(n);
    for (int i = 0; i < n; i++)
        results += handle_request(i);
    inject_step(go, ".done2", ".detached2");
    print_slot();
    for (int i = 0; i < n; i++)
        results += clean_request(i);
    printf("worked\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vendor_app MODE [N]\n");
        return 2;
    }
    const char *mode = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 100;
    const char *go = getenv("GO");
    if (!strcmp(mode, "inject"))
        return inject_mode(go, n);
    wait_go(go);
    if (!strcmp(mode, "leak")) {
        for (int i = 0; i < n; i++)
            results += handle_request(i);
    } else if (!strcmp(mode, "serve")) {
        for (int i = 0; i < n; i++) {
            results += handle_request(i) + clean_request(i);
            usleep(3000);
        }
    } else if (!strcmp(mode, "clean")) {
        for (int i = 0; i < n; i++)
            results += clean_request(i);
    } else if (!strcmp(mode, "double")) {
        struct vendor_ctx *c = vendor_create(1);
        vendor_run(c, 1);
        close_session(c);
        finalize_session(c);
    } else if (!strcmp(mode, "uad")) {
        struct vendor_ctx *c = vendor_create(1);
        vendor_destroy(c);
        if (run_after_close(c) >= 0)
            fprintf(stderr, "vendor_app: unexpected success\n");
    } else if (!strcmp(mode, "refs")) {
        struct vendor_buf *shared = vendor_buf_new();
        for (int i = 0; i < n; i++) {
            on_reconnect(shared);
            for (int f = 0; f < 5; f++)
                on_frame(shared);
        }
    } else if (!strcmp(mode, "outptr")) {
        for (int i = 0; i < n; i++)
            results += open_request(i);
    } else if (!strcmp(mode, "spin")) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < n; i++)
            results += clean_request(i);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        printf("%.0f\n", (double)n / s);
    } else {
        fprintf(stderr, "vendor_app: unknown mode %s\n", mode);
        return 2;
    }
    finish(go);
    return 0;
}
