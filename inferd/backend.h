/*
 * The inference backend interface, shaped like an NPU vendor runtime
 * (create a context, run it on an input buffer handed over as an fd, destroy
 * it). inferd has one real implementation built in (Tesseract LSTM OCR,
 * backend_tesseract.c); a plugin (libvendorsim.so) exports the same three
 * entry points as real symbols and is loaded with dlopen when the config asks
 * for it. Inputs travel as memfd-backed "dma-buf-like" fds: the caller fills
 * the buffer through a mapping, unmaps it, and passes the fd; the backend maps
 * it read-only for the duration of the run.
 */
#ifndef INFERD_BACKEND_H
#define INFERD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define BACKEND_ABI_VERSION 1

/* Pixel formats of an input buffer. */
enum backend_pixel_format {
    BACKEND_FORMAT_GRAY8 = 1,
};

/* Defect switches understood by libvendorsim.so (the built-in backend
 * ignores them). Each one reproduces a field bug; see docs/inferd.md. */
enum backend_defect {
    BACKEND_DEFECT_HEAP_OVERFLOW = 1u << 0,    /* internal thread writes past a block */
    BACKEND_DEFECT_DUP_INPUT_FD = 1u << 1,     /* every run dup()s the input fd */
    BACKEND_DEFECT_USE_AFTER_DESTROY = 1u << 4 /* close frees while a job is in flight */
};

struct backend_params {
    int abi_version;          /* BACKEND_ABI_VERSION */
    const char *tessdata_dir; /* NULL: the library default */
    const char *language;     /* e.g. "eng" */
    const char *charset;      /* characters OCR may return, e.g. "0123456789" */
    unsigned defects;         /* BACKEND_DEFECT_* bits */
};

struct backend_rect {
    int x, y, w, h;
};

struct backend_input {
    int fd;                     /* memfd holding the frame; the backend must not keep it */
    size_t size;                /* bytes of frame data at offset 0 */
    int width;                  /* pixels */
    int height;                 /* pixels */
    int stride;                 /* bytes per row */
    int format;                 /* enum backend_pixel_format */
    int want_text;              /* 1: run OCR this time; 0: only the cheap region stage */
    struct backend_rect region; /* where the text is; clipped to the frame */
};

struct backend_output {
    char *text;              /* caller-owned buffer for the recognised text */
    size_t text_cap;         /* its size in bytes, including the NUL */
    int confidence;          /* OCR mean confidence 0-100, -1 when no OCR ran */
    double ink_fraction;     /* fraction of bright pixels in the region */
    struct backend_rect ink; /* bounding box of the bright pixels (w = 0: none) */
};

typedef struct backend_ctx backend_ctx;

/* The entry points a backend exports. All return 0 or -errno. */
typedef int (*backend_open_fn)(const struct backend_params *params, backend_ctx **out);
typedef int (*backend_run_fn)(backend_ctx *ctx, const struct backend_input *in,
                              struct backend_output *out);
typedef void (*backend_close_fn)(backend_ctx *ctx);
/* Optional: a named debug counter of the runtime (-ENOENT if unknown). */
typedef int (*backend_stat_fn)(const char *name, uint64_t *value);

/* The built-in Tesseract backend (also compiled into libvendorsim.so, which
 * wraps it). */
int tess_backend_open(const struct backend_params *params, backend_ctx **out);
int tess_backend_run(backend_ctx *ctx, const struct backend_input *in, struct backend_output *out);
void tess_backend_close(backend_ctx *ctx);

#endif
