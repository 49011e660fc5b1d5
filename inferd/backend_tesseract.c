/*
 * The real inference backend: Tesseract's LSTM OCR through its C API, reading
 * the frame counter that scripts/make-clip draws. Every run does a cheap
 * region stage (bounding box of the bright "ink" inside the configured text
 * region); runs that ask for text also crop that box, invert it to dark text
 * on white (what the LSTM model was trained on) and recognise it as a single
 * line restricted to the configured character set.
 *
 * The frame arrives as an fd (memfd, "dma-buf-like") that is mapped
 * read-only for the run and unmapped before returning, like an NPU runtime
 * importing a dma-buf. One context per worker thread: a TessBaseAPI is not
 * safe to share between threads.
 */
#include "inferd/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <tesseract/capi.h>

/* Pixels brighter than this count as ink (the counter is white on black). */
#define TESS_INK_THRESHOLD 160
/* Margin around the ink box given to the recogniser, in pixels. */
#define TESS_CROP_MARGIN 6
/* Resolution reported to Tesseract: silences its "invalid resolution" note;
 * the digits are ~48 px high, which it handles well at this setting. */
#define TESS_SOURCE_PPI 96
/* Largest crop accepted (bytes), bounding the per-context scratch buffer. */
#define TESS_MAX_CROP (1024 * 256)

struct backend_ctx {
    TessBaseAPI *api;
    unsigned char *crop; /* inverted crop of the text region */
    size_t crop_cap;
};

int tess_backend_open(const struct backend_params *params, backend_ctx **out)
{
    if (!params || !out || params->abi_version != BACKEND_ABI_VERSION)
        return -EINVAL;
    backend_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    ctx->api = TessBaseAPICreate();
    if (!ctx->api) {
        free(ctx);
        return -ENOMEM;
    }
    const char *lang = params->language ? params->language : "eng";
    if (TessBaseAPIInit3(ctx->api, params->tessdata_dir, lang) != 0) {
        TessBaseAPIDelete(ctx->api);
        free(ctx);
        return -ENOENT; /* no traineddata for the language */
    }
    TessBaseAPISetPageSegMode(ctx->api, PSM_SINGLE_LINE);
    if (params->charset && params->charset[0])
        TessBaseAPISetVariable(ctx->api, "tessedit_char_whitelist", params->charset);
    *out = ctx;
    return 0;
}

static struct backend_rect tess_clip_rect(struct backend_rect r, int width, int height)
{
    if (r.x < 0)
        r.w += r.x, r.x = 0;
    if (r.y < 0)
        r.h += r.y, r.y = 0;
    if (r.x > width)
        r.x = width;
    if (r.y > height)
        r.y = height;
    if (r.w > width - r.x)
        r.w = width - r.x;
    if (r.h > height - r.y)
        r.h = height - r.y;
    if (r.w < 0)
        r.w = 0;
    if (r.h < 0)
        r.h = 0;
    return r;
}

/* The cheap per-frame stage: where is the bright ink inside the region, and
 * how much of it is there. */
static void tess_find_ink(const unsigned char *pix, int stride, struct backend_rect r,
                          struct backend_output *out)
{
    int x0 = r.x + r.w, y0 = r.y + r.h, x1 = -1, y1 = -1;
    long ink = 0;
    for (int y = r.y; y < r.y + r.h; y++) {
        const unsigned char *row = pix + (size_t)y * stride;
        for (int x = r.x; x < r.x + r.w; x++) {
            if (row[x] < TESS_INK_THRESHOLD)
                continue;
            ink++;
            if (x < x0)
                x0 = x;
            if (x > x1)
                x1 = x;
            if (y < y0)
                y0 = y;
            if (y > y1)
                y1 = y;
        }
    }
    long area = (long)r.w * r.h;
    out->ink_fraction = area ? (double)ink / (double)area : 0.0;
    if (x1 < 0) {
        out->ink = (struct backend_rect){0, 0, 0, 0};
        return;
    }
    out->ink = (struct backend_rect){x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

static int tess_recognise(backend_ctx *ctx, const unsigned char *pix, int stride, int width,
                          int height, struct backend_output *out)
{
    struct backend_rect c = out->ink;
    c.x -= TESS_CROP_MARGIN;
    c.y -= TESS_CROP_MARGIN;
    c.w += 2 * TESS_CROP_MARGIN;
    c.h += 2 * TESS_CROP_MARGIN;
    c = tess_clip_rect(c, width, height);
    size_t need = (size_t)c.w * (size_t)c.h;
    if (need == 0 || need > TESS_MAX_CROP)
        return -ERANGE;
    if (need > ctx->crop_cap) {
        unsigned char *p = realloc(ctx->crop, need);
        if (!p)
            return -ENOMEM;
        ctx->crop = p;
        ctx->crop_cap = need;
    }
    for (int y = 0; y < c.h; y++) {
        const unsigned char *src = pix + (size_t)(c.y + y) * stride + c.x;
        unsigned char *dst = ctx->crop + (size_t)y * c.w;
        for (int x = 0; x < c.w; x++)
            dst[x] = (unsigned char)(255 - src[x]);
    }
    TessBaseAPISetImage(ctx->api, ctx->crop, c.w, c.h, 1, c.w);
    TessBaseAPISetSourceResolution(ctx->api, TESS_SOURCE_PPI);
    char *text = TessBaseAPIGetUTF8Text(ctx->api);
    if (!text)
        return -EIO;
    /* Keep only printable characters: the recogniser ends lines with '\n'. */
    size_t n = 0;
    for (const char *s = text; *s && n + 1 < out->text_cap; s++)
        if ((unsigned char)*s > ' ' && (unsigned char)*s < 127)
            out->text[n++] = *s;
    out->text[n] = '\0';
    out->confidence = TessBaseAPIMeanTextConf(ctx->api);
    TessDeleteText(text);
    TessBaseAPIClear(ctx->api);
    return 0;
}

int tess_backend_run(backend_ctx *ctx, const struct backend_input *in, struct backend_output *out)
{
    if (!ctx || !in || !out || in->format != BACKEND_FORMAT_GRAY8 || in->width <= 0 ||
        in->height <= 0 || in->stride < in->width ||
        in->size < (size_t)in->stride * (size_t)in->height)
        return -EINVAL;
    out->confidence = -1;
    if (out->text && out->text_cap)
        out->text[0] = '\0';

    /* Import the buffer for the duration of the run only. */
    void *map = mmap(NULL, in->size, PROT_READ, MAP_SHARED, in->fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    const unsigned char *pix = map;
    struct backend_rect region = tess_clip_rect(in->region, in->width, in->height);
    tess_find_ink(pix, in->stride, region, out);
    int rc = 0;
    if (in->want_text && out->ink.w > 0 && out->text && out->text_cap > 1)
        rc = tess_recognise(ctx, pix, in->stride, in->width, in->height, out);
    munmap(map, in->size);
    return rc;
}

void tess_backend_close(backend_ctx *ctx)
{
    if (!ctx)
        return;
    TessBaseAPIEnd(ctx->api);
    TessBaseAPIDelete(ctx->api);
    free(ctx->crop);
    free(ctx);
}
