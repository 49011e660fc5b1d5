// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's dma-buf iterator (iter/dmabuf, Linux 6.16+): one record per
 * dma-buf on the machine -- inode, size, exporter and buffer name -- so
 * `attach --kmem` can size the target's dma-buf fds by inode
 * (docs/memory-kernel.md). Its own object: on a kernel without the iterator
 * only this load fails and attach says so; kmem.bpf.c is not affected.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kmem_events.h"

char LICENSE[] SEC("license") = "GPL";

/* The iterator's context, declared here so this file builds against the
 * BTF of kernels older than the iterator (the load then fails cleanly). */
struct bpf_iter__dmabuf___la {
    struct bpf_iter_meta *meta;
    struct dma_buf *dmabuf;
};

SEC("iter/dmabuf")
int la_dmabuf_iter(struct bpf_iter__dmabuf___la *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct dma_buf *d = ctx->dmabuf;
    if (!d)
        return 0;
    struct trc_dmabuf_rec r = {};
    r.size = BPF_CORE_READ(d, size);
    r.inode = BPF_CORE_READ(d, file, f_inode, i_ino);
    const char *exp = BPF_CORE_READ(d, exp_name);
    if (exp)
        bpf_probe_read_kernel_str(r.exporter, sizeof(r.exporter), exp);
    const char *name = BPF_CORE_READ(d, name);
    if (name)
        bpf_probe_read_kernel_str(r.name, sizeof(r.name), name);
    bpf_seq_write(seq, &r, sizeof(r));
    return 0;
}
