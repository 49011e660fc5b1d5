/*
 * libFuzzer target for the snapshot reader (common/snapshot_read.c), the
 * parser every report runs on files that may come from another machine.
 * Built with clang -fsanitize=fuzzer,address; tests/reports/
 * test_report_fuzz.sh runs it over the seed corpus in tests/reports/corpus/.
 * On success it also walks what was parsed the way the report does.
 *
 * Every file ends with a CRC, which random mutations almost never get right;
 * so each input is parsed twice: as is, and with its end marker rewritten to
 * be valid (length + CRC), which lets the fuzzer reach the section parsers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "util.h"

#define END_MARKER_LEN 16

static void parse(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size);
    if (size < SNAP_MAGIC_LEN + 8 + END_MARKER_LEN || size > (1u << 20))
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint8_t *tail = copy + size - END_MARKER_LEN;
    uint16_t type = SNAP_SEC_END;
    uint64_t total = size;
    memcpy(tail, &type, 2);
    memcpy(tail + 4, &total, 8);
    uint32_t crc = util_crc32(0, copy, size - 4);
    memcpy(tail + 12, &crc, 4);
    parse(copy, size);
    free(copy);
    return 0;
}

static void parse(const uint8_t *data, size_t size)
{
    struct snapshot *s = NULL;
    char err[512];
    if (snapshot_read_mem(data, size, &s, err, sizeof(err)) < 0) {
        if (!memchr(err, '\0', sizeof(err)))
            __builtin_trap(); /* the error line must be terminated */
        return;
    }
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < s->n_heap; i++) {
        const struct snap_stack *st = snapshot_find_stack(s, s->heap[i].stack_id);
        for (uint32_t f = 0; st && f < st->depth; f++)
            sink += st->frames[f];
    }
    for (size_t i = 0; i < s->n_modules; i++)
        sink += strlen(s->modules[i].path);
    for (size_t i = 0; i < s->n_fds; i++)
        sink += strlen(s->fds[i].target) + strlen(snap_fd_kind_name(s->fds[i].kind));
    for (size_t i = 0; i < s->n_mmaps; i++)
        sink += strlen(s->mmaps[i].path);
    for (size_t i = 0; i < s->n_corruptions; i++)
        sink += strlen(s->corruptions[i].detail) + s->corruptions[i].bytes_len;
    sink += snapshot_loss(s, "dropped_events");
    (void)sink;
    snapshot_free(s);
}
