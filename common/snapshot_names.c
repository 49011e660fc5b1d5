/*
 * Names for the snapshot format's enumerations, used by every tool that
 * prints them, and the classification of /proc/PID/fd link targets into fd
 * kinds (shared by the shim and the tracer so both say the same thing).
 */
#include "snapshot.h"

#include <string.h>

const char *snap_fd_kind_name(uint32_t kind)
{
    static const char *const names[SNAP_FD_KIND_COUNT] = {
        [SNAP_FD_UNKNOWN] = "unknown", [SNAP_FD_FILE] = "file",
        [SNAP_FD_DIR] = "dir",         [SNAP_FD_SOCKET] = "socket",
        [SNAP_FD_PIPE] = "pipe",       [SNAP_FD_EVENTFD] = "eventfd",
        [SNAP_FD_MEMFD] = "memfd",     [SNAP_FD_DMABUF] = "dmabuf",
        [SNAP_FD_TIMERFD] = "timerfd", [SNAP_FD_SIGNALFD] = "signalfd",
        [SNAP_FD_EPOLL] = "epoll",     [SNAP_FD_INOTIFY] = "inotify",
        [SNAP_FD_DEVICE] = "device",   [SNAP_FD_ANON] = "anon_inode",
        [SNAP_FD_PIDFD] = "pidfd",
    };
    return kind < SNAP_FD_KIND_COUNT && names[kind] ? names[kind] : "unknown";
}

const char *snap_fd_origin_name(uint32_t origin)
{
    static const char *const names[SNAP_FDO_COUNT] = {
        [SNAP_FDO_UNKNOWN] = "unknown",
        [SNAP_FDO_OPEN] = "open",
        [SNAP_FDO_DUP] = "dup",
        [SNAP_FDO_FCNTL_DUPFD] = "fcntl-dupfd",
        [SNAP_FDO_SOCKET] = "socket",
        [SNAP_FDO_ACCEPT] = "accept",
        [SNAP_FDO_PIPE] = "pipe",
        [SNAP_FDO_EVENTFD] = "eventfd",
        [SNAP_FDO_MEMFD] = "memfd_create",
        [SNAP_FDO_TIMERFD] = "timerfd_create",
        [SNAP_FDO_SIGNALFD] = "signalfd",
        [SNAP_FDO_EPOLL] = "epoll_create",
        [SNAP_FDO_INOTIFY] = "inotify_init",
        [SNAP_FDO_IOCTL] = "ioctl",
        [SNAP_FDO_RECVMSG] = "recvmsg-scm_rights",
        [SNAP_FDO_FOPEN] = "fopen",
        [SNAP_FDO_OPENDIR] = "opendir",
        [SNAP_FDO_PREEXISTING] = "pre-existing",
        [SNAP_FDO_UNATTRIBUTED] = "unattributed",
        [SNAP_FDO_SOCKETPAIR] = "socketpair",
        [SNAP_FDO_OTHER] = "other",
    };
    return origin < SNAP_FDO_COUNT && names[origin] ? names[origin] : "unknown";
}

const char *snap_mmap_kind_name(uint32_t kind)
{
    switch (kind) {
    case SNAP_MMAP_ANON:
        return "anon";
    case SNAP_MMAP_FILE:
        return "file";
    case SNAP_MMAP_DMABUF:
        return "dmabuf";
    case SNAP_MMAP_MEMFD:
        return "memfd";
    case SNAP_MMAP_SHM:
        return "shm";
    default:
        return "unknown";
    }
}

const char *snap_corruption_kind_name(uint32_t kind)
{
    switch (kind) {
    case SNAP_CORR_OVERFLOW:
        return "heap-buffer-overflow";
    case SNAP_CORR_UNDERFLOW:
        return "heap-buffer-underflow";
    case SNAP_CORR_USE_AFTER_FREE_WRITE:
        return "use-after-free-write";
    case SNAP_CORR_USE_AFTER_FREE_READ:
        return "use-after-free-read";
    case SNAP_CORR_DOUBLE_FREE:
        return "double-free";
    case SNAP_CORR_INVALID_FREE:
        return "invalid-free";
    case SNAP_CORR_MISMATCHED_FREE:
        return "mismatched-free";
    case SNAP_CORR_OVERFLOW_READ:
        return "heap-buffer-overflow-read";
    case SNAP_CORR_UNDERFLOW_READ:
        return "heap-buffer-underflow-read";
    case SNAP_CORR_USE_AFTER_DESTROY:
        return "use-after-destroy";
    case SNAP_CORR_DOUBLE_DESTROY:
        return "double-destroy";
    default:
        return "unknown";
    }
}

const char *snap_source_name(uint32_t source)
{
    return source == SNAP_SOURCE_SHIM       ? "shim"
           : source == SNAP_SOURCE_TRACER   ? "tracer"
           : source == SNAP_SOURCE_INJECTED ? "injected"
                                            : "?";
}

const char *snap_mode_name(uint32_t mode)
{
    return mode == SNAP_MODE_FULL ? "full" : mode == SNAP_MODE_SAMPLED ? "sampled" : "?";
}

const char *snap_trigger_name(uint32_t trigger)
{
    switch (trigger) {
    case SNAP_TRIGGER_INTERVAL:
        return "interval";
    case SNAP_TRIGGER_EXIT:
        return "exit";
    case SNAP_TRIGGER_SIGNAL:
        return "signal";
    case SNAP_TRIGGER_DETACH:
        return "detach";
    case SNAP_TRIGGER_CORRUPTION:
        return "corruption";
    case SNAP_TRIGGER_REQUEST:
        return "request";
    default:
        return "?";
    }
}

const char *snap_reach_class_name(uint32_t cls)
{
    switch (cls) {
    case SNAP_REACH_DEFINITE:
        return "definitely lost";
    case SNAP_REACH_INDIRECT:
        return "indirectly lost";
    case SNAP_REACH_POSSIBLE:
        return "possibly lost";
    case SNAP_REACH_REACHABLE:
        return "still reachable";
    default:
        return "?";
    }
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

uint32_t snap_fd_kind_from_target(const char *t)
{
    if (starts(t, "socket:"))
        return SNAP_FD_SOCKET;
    if (starts(t, "pipe:"))
        return SNAP_FD_PIPE;
    if (starts(t, "/memfd:"))
        return SNAP_FD_MEMFD;
    if (starts(t, "/dmabuf:") || starts(t, "anon_inode:dmabuf") || starts(t, "/dev/dma_heap") ||
        starts(t, "anon_inode:udmabuf"))
        return SNAP_FD_DMABUF;
    if (starts(t, "anon_inode:[eventfd]"))
        return SNAP_FD_EVENTFD;
    if (starts(t, "anon_inode:[timerfd]"))
        return SNAP_FD_TIMERFD;
    if (starts(t, "anon_inode:[signalfd]"))
        return SNAP_FD_SIGNALFD;
    if (starts(t, "anon_inode:[eventpoll]"))
        return SNAP_FD_EPOLL;
    if (starts(t, "anon_inode:inotify"))
        return SNAP_FD_INOTIFY;
    if (starts(t, "anon_inode:[pidfd]"))
        return SNAP_FD_PIDFD;
    if (starts(t, "anon_inode:"))
        return SNAP_FD_ANON;
    if (starts(t, "/dev/"))
        return SNAP_FD_DEVICE;
    if (t[0] == '/')
        return SNAP_FD_FILE;
    return SNAP_FD_UNKNOWN;
}

const char *snap_mem_component_key(uint32_t component)
{
    static const char *const keys[SNAP_MEM_COMPONENT_COUNT] = {
        [SNAP_MEM_HEAP_LIVE] = "heap_live",
        [SNAP_MEM_ALLOC_RETAINED] = "allocator_retained",
        [SNAP_MEM_STACKS] = "thread_stacks",
        [SNAP_MEM_ANON_MMAP] = "anon_mmap",
        [SNAP_MEM_FILE] = "file",
        [SNAP_MEM_SHMEM] = "shmem",
        [SNAP_MEM_DMABUF] = "dmabuf",
        [SNAP_MEM_TOOL] = "leakaudit",
        [SNAP_MEM_OTHER_ANON] = "other_anon",
        [SNAP_MEM_UNACCOUNTED] = "unaccounted",
    };
    return component < SNAP_MEM_COMPONENT_COUNT && keys[component] ? keys[component] : "unknown";
}
