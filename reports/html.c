/* placeholder, replaced below */
#include "report.h"
void rpt_html_escape(FILE *out, const char *s)
{
    fputs(s ? s : "", out);
}
int rpt_render_html(struct rpt_ctx *ctx, FILE *out)
{
    return -38;
}
