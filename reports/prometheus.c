#include "report.h"
int rpt_render_prometheus(struct rpt_ctx *ctx, FILE *out)
{
    return -38;
}
