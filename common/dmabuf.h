/*
 * dma-buf fds as the kernel describes them in /proc/PID/fdinfo/FD
 * (docs/memory.md, "dma-buf"). The generic part of an fdinfo file is
 * written by fs/proc/fd.c seq_show() ("pos:", "flags:", "mnt_id:", "ino:"),
 * the dma-buf part by dma_buf_show_fdinfo() in drivers/dma-buf/dma-buf.c:
 *
 *     size:\t%zu          the buffer's size in bytes
 *     count:\t%ld         references to the buffer's file (minus procfs's own)
 *     exp_name:\t%s       the exporter (e.g. "system", "qcom,system", "i915")
 *     name:\t%s           only when userspace named it (DMA_BUF_SET_NAME)
 *
 * The inode ("ino:", printed by the kernels that have it) identifies the buffer: every fd and every
 * mapping of one buffer shares it, so buffers are counted once per inode.
 * Allocation-free: the shim parses from inside the audited process.
 */
#ifndef LEAKAUDIT_DMABUF_H
#define LEAKAUDIT_DMABUF_H

#include <stdint.h>

#include "snapshot.h"

struct dmabuf_fdinfo {
    uint64_t size;  /* bytes, 0 if the line is missing */
    uint64_t inode; /* 0 if the kernel did not print ino: */
    uint64_t count; /* file references */
    int has_size, has_exp_name;
    char exp_name[SNAP_MAX_NAME];
    char name[SNAP_MAX_NAME];
};

/* Parses the text of one fdinfo file. Returns 0 when it describes a dma-buf
 * (size: and exp_name: present), -EINVAL when it does not (another kind of
 * fd, or text that is not an fdinfo file). Unknown lines are ignored. */
int dmabuf_parse_fdinfo(const char *text, struct dmabuf_fdinfo *out);

/* Reads and parses /proc/PID/fdinfo/FD (pid 0: this process). 0 or -errno. */
int dmabuf_read_fdinfo(int pid, int fd, struct dmabuf_fdinfo *out);

#endif
