/*
 * The HTML report: one self-contained file (no external resources) with the
 * coverage summary, loss counters, time charts with axes (html_views.c), an
 * interactive flame graph of live heap bytes by stack (click a frame to zoom),
 * tables per section with inline SVG sparklines, sortable by any column,
 * collapsible stacks (<details>) and a small filter box.
 *
 * Every string that comes from a snapshot or a binary (symbols, paths,
 * targets, series names) is HTML-escaped: symbol names come from the audited
 * program and are untrusted. Defence in depth: a Content-Security-Policy
 * allows no network access at all and only the one inline script carrying
 * this report's nonce, so even markup that slipped through could not run.
 */
#include "report.h"
#include "memory.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define SPARK_W     120
#define SPARK_H     24
#define NONCE_BYTES 16

static void make_nonce(char *out)
{
    unsigned char b[NONCE_BYTES] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
        uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
        memcpy(b, &t, sizeof(t));
    }
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < NONCE_BYTES; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void sparkline(FILE *out, const uint64_t *v, size_t n)
{
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = v[i] > max ? v[i] : max;
    fprintf(out,
            "<svg class=\"spark\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "role=\"img\"><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" "
            "points=\"",
            SPARK_W, SPARK_H, SPARK_W, SPARK_H);
    for (size_t i = 0; i < n; i++) {
        double x = n > 1 ? (double)i * (SPARK_W - 2) / (double)(n - 1) + 1 : SPARK_W / 2.0;
        double y = SPARK_H - 2 - (max ? (double)v[i] * (SPARK_H - 4) / (double)max : 0);
        fprintf(out, "%s%.1f,%.1f", i ? " " : "", x, y);
    }
    fputs("\"/></svg>", out);
}

static void frames_list(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                        uint32_t to)
{
    fputs("<ol class=\"frames\">", out);
    for (uint32_t i = from; i < to; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, locs[i]);
        for (uint32_t f = 0; f < sym->n_frames; f++) {
            const struct rpt_frame *fr = &sym->frames[f];
            fputs("<li><code class=\"fn\">", out);
            rpt_html_escape(out, fr->function ? fr->function : "??");
            fputs("</code>", out);
            if (fr->file) {
                fputs(" <span class=\"loc\">", out);
                rpt_html_escape(out, fr->file);
                fprintf(out, ":%u</span>", fr->line);
            }
            if (fr->inlined) {
                fputs(" <span class=\"mod\">(inlined)</span>", out);
            } else {
                fputs(" <span class=\"mod\">[", out);
                rpt_html_escape(out, rpt_module_basename(locs[i].mod));
                fprintf(out, "+0x%" PRIx64 "]</span>", locs[i].off);
            }
            fputs("</li>", out);
        }
    }
    fputs("</ol>", out);
}

/* The frame a row is best known by: the first one shown. */
static void headline(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
{
    if (!r->depth) {
        fputs("<em>(no creating stack)</em>", out);
        return;
    }
    const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[r->skip]);
    const struct rpt_frame *fr = &sym->frames[0];
    fputs("<code class=\"fn\">", out);
    rpt_html_escape(out, fr->function ? fr->function : "??");
    fputs("</code>", out);
    if (fr->file) {
        fputs(" <span class=\"loc\">", out);
        rpt_html_escape(out, fr->file);
        fprintf(out, ":%u</span>", fr->line);
    }
}

#define HTML_MAX_FRAMES 16

static void html_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                        uint32_t to)
{
    fputs("<ol class=\"frames\">", out);
    for (uint32_t i = from; i < to && i < from + HTML_MAX_FRAMES; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, locs[i]);
        const struct rpt_frame *fr = &sym->frames[sym->n_frames - 1];
        fputs("<li><code>", out);
        rpt_html_escape(out, fr->function ? fr->function : "??");
        fputs("</code>", out);
        if (fr->file) {
            fputs(" <span class=\"src\">", out);
            rpt_html_escape(out, fr->file);
            fprintf(out, ":%u</span>", fr->line);
        }
        fputs(" <span class=\"mod\">", out);
        rpt_html_escape(out, rpt_module_basename(locs[i].mod));
        fputs("</span></li>", out);
    }
    fputs("</ol>", out);
}

/* The resource sections (docs/resources.md), one per kind. */
static void html_resources(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    const char *kinds[RPT_RES_MAX_KINDS];
    size_t nk = rpt_res_kinds(s, kinds, RPT_RES_MAX_KINDS), last = s->n_snaps - 1;
    static const char *const what[3] = {"created at", "destroyed at", "offending call at"};
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n_leak;
        uint64_t total = rpt_res_outstanding(s, kinds[ki], &n_leak);
        fputs("<section class=\"resource\"><h2>Resource <code>", out);
        rpt_html_escape(out, kinds[ki]);
        fprintf(out,
                "</code> by creating stack</h2>\n<p>%" PRIu64 " outstanding at the last "
                "snapshot; %zu leak.</p>\n",
                total, n_leak);
        fputs("<table class=\"rows\"><thead><tr><th>#</th><th>verdict</th><th>growth/min</th>"
              "<th>outstanding</th><th>details</th><th>stack</th></tr></thead><tbody>\n",
              out);
        int rank = 0;
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            if (!r->res || strcmp(r->res->kind, kinds[ki]))
                continue;
            const struct rpt_resinfo *ri = r->res;
            const char *v = rpt_verdict_name(r->trend.verdict);
            fprintf(out,
                    "<tr class=\"v-%s\"><td>%d</td><td><span class=\"badge %s\">%s</span></td>"
                    "<td>%+.2f</td><td>%" PRIu64 "</td><td>%" PRIu64 " handles (created %" PRIu64
                    ", destroyed %" PRIu64 ")",
                    v, ++rank, v, v, r->trend.rate_per_min, r->value[last], r->count[last],
                    ri->created, ri->destroyed);
            if (ri->flags & SNAP_RES_REFCOUNTED)
                fprintf(out,
                        "<br>%" PRId64 " unmatched refs (refs %" PRIu64 ", unrefs %" PRIu64 ")",
                        ri->balance, ri->refs, ri->unrefs);
            fputs("</td><td>", out);
            if (r->depth)
                html_frames(ctx, out, r->locs, r->skip, rpt_row_end(ctx, r));
            if (ri->last_ref && ri->balance > 0) {
                fputs("<p>last unmatched ref at:</p>", out);
                html_frames(ctx, out, ri->last_ref, 0, ri->last_ref_depth);
            }
            fputs("</td></tr>\n", out);
        }
        fputs("</tbody></table>\n", out);
        for (size_t i = 0; i < s->n_corruptions; i++) {
            const struct rpt_corruption *c = &s->corruptions[i];
            if (!rpt_res_event_of_kind(c, kinds[ki]))
                continue;
            fprintf(out, "<div class=\"event\"><h3>%s</h3><p>",
                    snap_corruption_kind_name(c->ev.kind));
            rpt_html_escape(out, c->ev.detail);
            fprintf(out, " (thread %d)</p>", c->ev.tid);
            for (int w = 2; w >= 0; w--) {
                if (!c->stacks[w])
                    continue;
                fprintf(out, "<p>%s:</p>",
                        c->ev.kind == SNAP_CORR_DOUBLE_DESTROY && w == 2 ? "destroyed again at"
                                                                         : what[w]);
                html_frames(ctx, out, c->stacks[w], 0, c->depth[w]);
            }
            fputs("</div>\n", out);
        }
        fputs("</section>\n", out);
    }
}

static void section(struct rpt_ctx *ctx, FILE *out, enum rpt_class c)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[c];
    size_t last = s->n_snaps - 1;
    int bytes = c != RPT_FDS;
    static const char *const titles[] = {"Heap by allocation stack",
                                         "File descriptors by creating stack",
                                         "Memory mappings by creating stack"};
    char a[32], b[32];
    if (c == RPT_RES) { /* a section per resource kind */
        html_resources(ctx, out);
        return;
    }
    if (c != RPT_HEAP && !t->n)
        return;
    fprintf(out, "<section id=\"%s\"><h2>%s</h2>\n", rpt_class_name(c), titles[c]);
    fprintf(out, "<p>%zu stacks, %zu shown; %zu leak, %zu plateau, %zu stable, %zu freed.</p>\n",
            t->n, t->n_selected, rpt_count_verdict(s, c, RPT_VERDICT_LEAK),
            rpt_count_verdict(s, c, RPT_VERDICT_PLATEAU),
            rpt_count_verdict(s, c, RPT_VERDICT_STABLE),
            rpt_count_verdict(s, c, RPT_VERDICT_FREED));
    if (c == RPT_HEAP && s->has_reach) {
        fputs("<p>Reachability (leak summary):", out);
        for (int k = 0; k < SNAP_REACH_CLASS_COUNT; k++)
            fprintf(out, "%s %s %s in %" PRIu64 " blocks", k ? "," : "",
                    snap_reach_class_name((uint32_t)k),
                    rpt_fmt_bytes((double)s->reach_bytes[k], a, sizeof(a)), s->reach_blocks[k]);
        fprintf(out, "%s.</p>\n",
                s->reach.flags & SNAP_REACH_ATTACH_ONLY
                    ? " (attach mode: only blocks allocated since the attach)"
                    : "");
    }
    fprintf(out,
            "<table class=\"rows\"><thead><tr><th>#</th><th>verdict</th><th>growth/min</th>"
            "<th>confidence</th><th>%s</th><th>peak</th><th>%s</th><th>trend</th><th>stack</th>"
            "</tr></thead><tbody>\n",
            bytes ? "live" : "open", c == RPT_HEAP ? "allocations (total)" : "details");
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        const char *v = rpt_verdict_name(r->trend.verdict);
        fprintf(out,
                "<tr class=\"v-%s\"><td data-v=\"%zu\">%zu</td><td data-v=\"%d\"><span "
                "class=\"badge %s\">%s</span></td>",
                v, k + 1, k + 1, (int)r->trend.verdict, v, v);
        double rate = isfinite(r->trend.rate_per_min) ? r->trend.rate_per_min : 0;
        if (bytes)
            fprintf(out, "<td data-v=\"%.6g\">%s%s</td>", rate, rate < 0 ? "-" : "+",
                    rpt_fmt_bytes(fabs(rate), a, sizeof(a)));
        else
            fprintf(out, "<td data-v=\"%.6g\">%+.2f</td>", rate, rate);
        fprintf(out, "<td data-v=\"%.4f\">%.2f</td>", r->trend.confidence, r->trend.confidence);
        if (bytes)
            fprintf(out, "<td data-v=\"%" PRIu64 "\">%s</td>", r->value[last],
                    rpt_fmt_bytes((double)r->value[last], a, sizeof(a)));
        else
            fprintf(out, "<td data-v=\"%" PRIu64 "\">%" PRIu64 "</td>", r->value[last],
                    r->value[last]);
        uint64_t peak = rpt_row_peak(s, r);
        if (bytes)
            fprintf(out, "<td data-v=\"%" PRIu64 "\">%s</td>", peak,
                    rpt_fmt_bytes((double)peak, a, sizeof(a)));
        else
            fprintf(out, "<td data-v=\"%" PRIu64 "\">%" PRIu64 "</td>", peak, peak);
        if (c == RPT_HEAP)
            fprintf(out, "<td data-v=\"%" PRIu64 "\">", r->count[last]);
        else
            fputs("<td>", out);
        if (c == RPT_HEAP) {
            fprintf(out, "%" PRIu64 " (%s in %" PRIu64 ")", r->count[last],
                    rpt_fmt_bytes((double)r->total_bytes, b, sizeof(b)), r->total_count);
            if (r->temp_count)
                fprintf(out, "<br>%" PRIu64 " temporary", r->temp_count);
            for (int k2 = 0; s->has_reach && k2 < SNAP_REACH_CLASS_COUNT; k2++)
                if (r->reach_blocks[k2])
                    fprintf(out, "<br>%s %s in %" PRIu64, snap_reach_class_name((uint32_t)k2),
                            rpt_fmt_bytes((double)r->reach_bytes[k2], b, sizeof(b)),
                            r->reach_blocks[k2]);
        } else if (r->fd) {
            for (uint32_t i = 0; i < SNAP_FD_KIND_COUNT; i++)
                if (r->fd->kinds[i])
                    fprintf(out, "%s&times;%u ",
                            c == RPT_MMAPS ? snap_mmap_kind_name(i) : snap_fd_kind_name(i),
                            r->fd->kinds[i]);
            for (uint32_t i = 0; c == RPT_FDS && i < SNAP_FDO_COUNT; i++)
                if (r->fd->origins[i])
                    fprintf(out, "via %s ", snap_fd_origin_name(i));
            if (c == RPT_FDS && r->fd->open)
                fprintf(out, "<br>cloexec %u/%u", r->fd->cloexec, r->fd->open);
            for (uint32_t i = 0; i < r->fd->n_targets; i++) {
                fputs("<br><code>", out);
                rpt_html_escape(out, r->fd->targets[i]);
                fputs("</code>", out);
            }
        }
        fprintf(out, "</td><td data-v=\"%" PRIu64 "\">", r->value[last]);
        sparkline(out, r->value, s->n_snaps);
        fputs("</td><td><details><summary>", out);
        headline(ctx, out, r);
        fputs("</summary>", out);
        if (r->depth)
            frames_list(ctx, out, r->locs, r->skip, rpt_row_end(ctx, r));
        if (r->skip)
            fprintf(out, "<p class=\"note\">%u allocator/shim frames folded</p>", r->skip);
        fputs("</details></td></tr>\n", out);
    }
    fputs("</tbody></table></section>\n", out);
}

static void corruption(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    static const char *const what[3] = {"block allocated at", "block freed at", "bad access at"};
    static const int order[3] = {2, 0, 1};
    size_t n_heap_events = 0;
    for (size_t i = 0; i < s->n_corruptions; i++)
        n_heap_events += !rpt_res_is_event(s->corruptions[i].ev.kind);
    if (!n_heap_events)
        return;
    fprintf(out, "<section id=\"corruption\"><h2>Heap corruption (%zu)</h2>\n", n_heap_events);
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct rpt_corruption *c = &s->corruptions[i];
        if (rpt_res_is_event(c->ev.kind)) /* shown in the resource's section */
            continue;
        fprintf(out,
                "<div class=\"event\"><h3>%s at 0x%" PRIx64 "</h3><p>block of %" PRIu64
                " bytes, offset %" PRId64 ", thread %d. ",
                snap_corruption_kind_name(c->ev.kind), c->ev.addr, c->ev.block_size, c->ev.offset,
                c->ev.tid);
        rpt_html_escape(out, c->ev.detail);
        fputs("</p>", out);
        if (c->ev.bytes_len) {
            fputs("<p>bytes seen: <code>", out);
            for (uint32_t b = 0; b < c->ev.bytes_len && b < SNAP_MAX_CORRUPTION_BYTES; b++)
                fprintf(out, "%02x ", c->ev.bytes[b]);
            fputs("</code></p>", out);
        }
        for (int w = 0; w < 3; w++) {
            int k = order[w];
            if (!c->stacks[k])
                continue;
            fprintf(out, "<details open><summary>%s</summary>", what[k]);
            frames_list(ctx, out, c->stacks[k], 0, c->depth[k]);
            fputs("</details>", out);
        }
        fputs("</div>\n", out);
    }
    fputs("</section>\n", out);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}"
    "table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
    "vertical-align:top;text-align:left}"
    ".badge{padding:1px 6px;border-radius:3px;color:#fff;background:#777}"
    ".badge.leak{background:#c62828}.badge.plateau{background:#ef6c00}"
    ".badge.stable{background:#2e7d32}.badge.freed{background:#1565c0}"
    ".spark{color:#c62828}.loss{background:#ffebee;border:2px solid #c62828;padding:.5em 1em}"
    ".note{color:#666}.fn{font-weight:600}.loc,.mod{color:#555}"
    "ol.frames{margin:.3em 0;padding-left:2em;font-family:monospace}"
    ".event{border-left:4px solid #c62828;padding-left:1em}"
    "th.sortable{cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:' \\25B2'}"
    "th[aria-sort=descending]::after{content:' \\25BC'}"
    ".charts{display:flex;flex-wrap:wrap;gap:1em}figure.chart{margin:0}"
    "figcaption{font-weight:600;margin-bottom:.2em}svg.chart text{font-size:11px;fill:#444}"
    "svg.chart .axis line{stroke:#888}svg.chart .grid{stroke:#eee}"
    "svg.chart .line{stroke:#c62828;stroke-width:1.5}svg.chart .pt{fill:#c62828}"
    ".flame{position:relative;width:100%;font:11px/16px monospace;overflow:hidden;"
    "border:1px solid #ddd}.flame .frame{position:absolute;height:16px;overflow:hidden;"
    "white-space:nowrap;box-sizing:border-box;border:1px solid #fff;padding:0 3px;"
    "cursor:pointer;color:#000}.flame .frame:hover{border-color:#000}"
    "#flame-info{min-height:1.4em;font-family:monospace}";

/*
 * The page's one script (CSP nonce): the row filter, sortable table columns
 * (numeric cells carry data-v), and the flame graph drawn from the
 * #flame-data block: frames root-first, children merged by name, width by
 * live bytes; a click zooms into a frame, "reset zoom" goes back. Written
 * defensively (no exception stops it); it marks the body data-ready at the
 * end, which the Chromium test checks.
 */
static const char script[] =
    "(function(){"
    "function fmt(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;"
    "while(b>=1024&&i<4){b/=1024;i++;}return (i?b.toFixed(1):String(b))+' '+u[i];}"
    "var box=document.getElementById('filter');"
    "if(box){box.addEventListener('input',function(){var q=box.value.toLowerCase();"
    "var rows=document.querySelectorAll('table.rows tbody tr');"
    "for(var i=0;i<rows.length;i++){var t=rows[i].textContent.toLowerCase();"
    "rows[i].style.display=t.indexOf(q)>=0?'':'none';}});}"
    /* sortable columns */
    "function key(td){if(!td)return '';var v=td.getAttribute('data-v');"
    "return v!==null&&v!==''?parseFloat(v):td.textContent.trim().toLowerCase();}"
    "function sorter(table,col,th){return function(){"
    "var dir=th.getAttribute('aria-sort')==='descending'?1:-1;"
    "var hs=table.tHead.rows[0].cells;for(var "
    "i=0;i<hs.length;i++)hs[i].setAttribute('aria-sort','none');"
    "th.setAttribute('aria-sort',dir<0?'descending':'ascending');"
    "var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);"
    "rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);"
    "if(typeof x==='number'&&typeof y==='number')return (x-y)*dir;"
    "return String(x).localeCompare(String(y))*dir;});"
    "for(var i=0;i<rows.length;i++)body.appendChild(rows[i]);};}"
    "var tables=document.querySelectorAll('table.rows');"
    "for(var t=0;t<tables.length;t++){var tb=tables[t];if(!tb.tHead||!tb.tBodies.length)continue;"
    "var hs=tb.tHead.rows[0].cells;for(var j=0;j<hs.length;j++){"
    "hs[j].classList.add('sortable');hs[j].setAttribute('aria-sort','none');"
    "hs[j].setAttribute('title','sort');hs[j].addEventListener('click',sorter(tb,j,hs[j]));}}"
    /* flame graph */
    "var fd=document.getElementById('flame-data'),fg=document.getElementById('flame-graph'),"
    "info=document.getElementById('flame-info'),reset=document.getElementById('flame-reset');"
    "if(fd&&fg){var d=null;try{d=JSON.parse(fd.textContent);}catch(e){d=null;}"
    "if(d&&d.stacks){var root={n:'all',v:0,c:{},p:null};"
    "for(var i=0;i<d.stacks.length;i++){var st=d.stacks[i],node=root;root.v+=st[1];"
    "for(var k=0;k<st[0].length;k++){var nm=d.names[st[0][k]];var ch=node.c[nm];"
    "if(!ch){ch=node.c[nm]={n:nm,v:0,c:{},p:node};}ch.v+=st[1];node=ch;}}"
    "var ROW=17,MIN=0.002;"
    "function hue(s){var h=0;for(var i=0;i<s.length;i++)h=(h*31+s.charCodeAt(i))%360;return h;}"
    "function draw(top){while(fg.firstChild)fg.removeChild(fg.firstChild);var n=0,depth=0;"
    "function place(node,lvl,x,w){if(w<MIN)return;var el=document.createElement('div');"
    "el.className='frame';el.style.left=(x*100)+'%';el.style.width=(w*100)+'%';"
    "el.style.top=(lvl*ROW)+'px';el.style.background='hsl('+hue(node.n)+',70%,'+(node===top?'80%':'"
    "65%')+')';"
    "var pct=root.v?(100*node.v/root.v).toFixed(1):'0';"
    "el.textContent=node.n;el.setAttribute('title',node.n+': '+fmt(node.v)+' ('+pct+'% of live "
    "heap)');"
    "el.addEventListener('click',function(){draw(node);});"
    "el.addEventListener('mouseover',function(){if(info)info.textContent=el.getAttribute('title');}"
    ");"
    "fg.appendChild(el);n++;if(lvl>depth)depth=lvl;"
    "var names=Object.keys(node.c).sort(),cx=x;for(var i=0;i<names.length;i++){var "
    "ch=node.c[names[i]];"
    "var cw=node.v?w*ch.v/node.v:0;place(ch,lvl+1,cx,cw);cx+=cw;}}"
    "place(top,0,0,1);fg.style.height=((depth+1)*ROW+2)+'px';fg.setAttribute('data-frames',String("
    "n));"
    "if(reset)reset.disabled=top===root;}"
    "if(reset)reset.addEventListener('click',function(){draw(root);});draw(root);}}"
    "document.body.setAttribute('data-ready','1');})();";

int rpt_render_html(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    size_t last = s->n_snaps - 1;
    char nonce[2 * NONCE_BYTES + 1], a[32], b[32];
    make_nonce(nonce);
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'nonce-%s'; img-src data:\">\n<title>"
            "leakaudit report: ",
            nonce);
    rpt_html_escape(out, s->name);
    fprintf(out, "</title>\n<style>%s</style></head><body>\n<h1>leakaudit report: ", css);
    rpt_html_escape(out, s->name);
    fputs("</h1>\n<table class=\"summary\">", out);
    fprintf(out, "<tr><th>process</th><td>pid %d on ", s->last.pid);
    rpt_html_escape(out, s->last.hostname);
    fputs(": <code>", out);
    rpt_html_escape(out, s->last.exe);
    fprintf(out, "</code></td></tr><tr><th>source</th><td>%s (%s), %s tracking, allocator ",
            snap_source_name(s->last.source),
            s->last.source == SNAP_SOURCE_TRACER     ? "eBPF attach"
            : s->last.source == SNAP_SOURCE_INJECTED ? "attach --inject"
                                                     : "LD_PRELOAD",
            snap_mode_name(s->last.mode));
    rpt_html_escape(out, s->last.allocator);
    fprintf(out, "</td></tr><tr><th>snapshots</th><td>%zu over %s</td></tr>", s->n_snaps,
            rpt_fmt_duration(rpt_elapsed_min(s, last) * 60, a, sizeof(a)));
    fprintf(out, "<tr><th>heap live</th><td>%s in %" PRIu64 " allocations</td></tr>",
            rpt_fmt_bytes((double)s->snaps[last].live_bytes, a, sizeof(a)),
            s->snaps[last].live_count);
    if (s->snaps[last].rss_bytes)
        fprintf(out, "<tr><th>RSS</th><td>%s &rarr; %s</td></tr>",
                rpt_fmt_bytes((double)s->snaps[0].rss_bytes, a, sizeof(a)),
                rpt_fmt_bytes((double)s->snaps[last].rss_bytes, b, sizeof(b)));
    if (s->n_other_series) {
        fputs("<tr><th>other series</th><td>", out);
        for (size_t i = 0; i < s->n_other_series; i++) {
            rpt_html_escape(out, s->other_series[i]);
            fputc(' ', out);
        }
        fputs("(pick with --series)</td></tr>", out);
    }
    fputs("</table>\n", out);
    int losses = 0;
    for (size_t i = 0; i < s->n_losses; i++) {
        if (!s->losses[i].value || snap_loss_note(s->losses[i].name))
            continue;
        if (!losses++)
            fputs("<div class=\"loss\" id=\"losses\"><strong>Data loss: the capture missed data; "
                  "figures are lower bounds.</strong><ul>",
                  out);
        fputs("<li><code>", out);
        rpt_html_escape(out, s->losses[i].name);
        fprintf(out, "</code> = %" PRIu64 "</li>", s->losses[i].value);
    }
    if (losses)
        fputs("</ul></div>\n", out);
    for (size_t i = 0; i < s->n_losses; i++) {
        const char *note = snap_loss_note(s->losses[i].name);
        if (!s->losses[i].value || !note)
            continue;
        fputs("<p class=\"note caveat\"><code>", out);
        rpt_html_escape(out, s->losses[i].name);
        fprintf(out, "</code> = %" PRIu64 ": ", s->losses[i].value);
        rpt_html_escape(out, note);
        fputs("</p>\n", out);
    }
    char cav[8][256];
    size_t nc = rpt_caveats(s, cav, 8);
    for (size_t i = 0; i < nc; i++) {
        fputs("<p class=\"note caveat\">", out);
        rpt_html_escape(out, cav[i]);
        fputs("</p>\n", out);
    }
    rpt_html_charts(ctx, out);
    rpt_memory_html(ctx, out);
    if (s->snaps[last].live_bytes || s->tab[RPT_HEAP].n) {
        fputs("<section id=\"flame\"><h2>Flame graph: live heap bytes by stack</h2>\n"
              "<p class=\"note\">Callers above callees, width by live bytes at the last snapshot; "
              "click a frame to zoom in. <button id=\"flame-reset\" type=\"button\">reset "
              "zoom</button></p><div id=\"flame-info\"></div>"
              "<div id=\"flame-graph\" class=\"flame\"></div>\n",
              out);
        rpt_html_flame_data(ctx, out);
        fputs("</section>\n", out);
    }
    fputs("<p><label>Filter rows: <input id=\"filter\" type=\"search\"></label></p>\n", out);
    for (int c = 0; c < RPT_CLASS_COUNT; c++)
        section(ctx, out, (enum rpt_class)c);
    rpt_kmem_html(ctx, out);
    corruption(ctx, out);
    const char **w;
    size_t nw = rpt_sym_warnings(ctx->sym, &w);
    if (nw || s->n_warnings) {
        fputs("<section id=\"warnings\"><h2>Warnings</h2><ul>", out);
        for (size_t i = 0; i < s->n_warnings + nw; i++) {
            fputs("<li>", out);
            rpt_html_escape(out, i < s->n_warnings ? s->warnings[i] : w[i - s->n_warnings]);
            fputs("</li>", out);
        }
        fputs("</ul></section>\n", out);
    }
    fprintf(out,
            "<footer class=\"note\">leakaudit %s</footer>\n<script nonce=\"%s\">%s</script>\n"
            "</body></html>\n",
            LEAKAUDIT_VERSION, nonce, script);
    return ferror(out) ? -5 : 0;
}
