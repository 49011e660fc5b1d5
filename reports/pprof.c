#include "report.h"
int rpt_render_pprof(struct rpt_ctx *ctx, FILE *out)
{
    return -38;
}
