/*
 * Clean programs for the reachability tests (tests/reach/): nothing they
 * allocate is lost, so a scan at exit must find zero definitely, indirectly
 * and possibly lost bytes, under every allocator.
 *
 *   reach_clean empty     main returns at once
 *   reach_clean threads   a pool of POOL_THREADS threads created and joined
 *                         POOL_ROUNDS times; each keeps a per-thread block in
 *                         a pthread key whose destructor frees it, and a
 *                         __thread pointer cleared before it returns
 *   reach_clean dlopen    dlopen of two libraries, kept open: the loader's
 *                         records of them, among them the _dl_find_object
 *                         segment it points to only by an aligned-up address
 *                         (possibly lost before the scan knew that idiom)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL_THREADS 8
#define POOL_ROUNDS  4
#define WORK_BLOCKS  64

static pthread_key_t key;
static __thread char *t_scratch;

static void free_value(void *p)
{
    free(p);
}

static void *worker(void *arg)
{
    pthread_setspecific(key, malloc(100 + (size_t)(uintptr_t)arg));
    t_scratch = malloc(256);
    void *work[WORK_BLOCKS];
    for (int i = 0; i < WORK_BLOCKS; i++)
        work[i] = malloc(32 + (size_t)i * 16);
    for (int i = 0; i < WORK_BLOCKS; i++)
        free(work[i]);
    free(t_scratch);
    t_scratch = NULL;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "dlopen")) {
        void *z = dlopen("libz.so.1", RTLD_NOW), *b = dlopen("libbz2.so.1.0", RTLD_NOW);
        if (!z || !b) {
            fprintf(stderr, "reach_clean: dlopen: %s\n", dlerror());
            return 1;
        }
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "threads"))
        return 0;
    pthread_key_create(&key, free_value);
    for (int round = 0; round < POOL_ROUNDS; round++) {
        pthread_t th[POOL_THREADS];
        for (int i = 0; i < POOL_THREADS; i++)
            pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
        for (int i = 0; i < POOL_THREADS; i++)
            pthread_join(th[i], NULL);
    }
    pthread_key_delete(key);
    return 0;
}
