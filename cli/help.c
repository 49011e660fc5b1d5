/*
 * Option lists from tables (see help.h): --help lines for `run` and `soak`,
 * and docs/options.md's table. A doc line is markdown-light: `quotes` and
 * [links](target) are shown as such in the docs and as plain words in
 * --help, where a parenthesis holding only links is left out.
 */
#include "help.h"

#include <string.h>

#define HELP_WIDTH  80
#define HELP_INDENT 27
#define HELP_TEXT   1024

/* Past the parenthesis that opens at p (nested ones included). */
static const char *skip_parenthesis(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p + 1;
    }
    return p;
}

/* text as --help shows it: no backticks, a link as its words, " ([a](b))"
 * (a reference to a doc page) left out. */
static void plain(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    while (*src && n + 1 < cap) {
        const char *close = *src == '[' ? strstr(src, "](") : NULL;
        if (*src == '`') {
            src++;
        } else if (!strncmp(src, " ([", 3)) {
            src = skip_parenthesis(src + 1);
        } else if (close) {
            size_t len = (size_t)(close - src - 1);
            if (len >= cap - n)
                len = cap - n - 1;
            memcpy(dst + n, src + 1, len);
            n += len;
            src = skip_parenthesis(close + 1);
        } else {
            dst[n++] = *src++;
        }
    }
    dst[n] = '\0';
}

/* Words of text after column col, wrapped at HELP_WIDTH into HELP_INDENT. */
static void print_wrapped(FILE *out, const char *text, int col)
{
    while (*text) {
        size_t word = strcspn(text, " ");
        if (col > HELP_INDENT && col + 1 + (int)word > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_INDENT, "");
            col = HELP_INDENT;
        } else if (col > HELP_INDENT) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)word, text);
        col += (int)word;
        text += word;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

/* "  -o, --output DIR        text...", the text wrapped into its column. */
static void print_option(FILE *out, char letter, const char *flag, const char *value,
                         const char *text)
{
    char left[96];
    int n = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", letter ? '-' : ' ',
                     letter ? letter : ' ', letter ? ", " : "  ", flag,
                     value && value[0] != '[' ? " " : "", value ? value : "");
    fputs(left, out);
    if (n >= HELP_INDENT - 1)
        fprintf(out, "\n%*s", HELP_INDENT, "");
    else
        fprintf(out, "%*s", HELP_INDENT - n, "");
    char words[HELP_TEXT];
    plain(words, sizeof(words), text);
    print_wrapped(out, words, HELP_INDENT);
}

static const char *default_of(const struct audit_option *o)
{
    const char *def = o->def_doc ? o->def_doc : o->def;
    return def && strcmp(def, "—") ? def : NULL;
}

/* A setting's value as a flag takes it (none for an on/off flag). */
static const char *flag_value(const struct audit_option *o)
{
    return o->parser == AUDIT_P_FLAG ? NULL : o->metavar;
}

static void print_row(FILE *out, const struct cli_help_row *r)
{
    char text[HELP_TEXT];
    if (r->setting == CLI_HELP_OWN) {
        if (r->def)
            snprintf(text, sizeof(text), "%s (default %s)", r->doc, r->def);
        else
            snprintf(text, sizeof(text), "%s", r->doc);
        print_option(out, r->letter, r->flag, r->value, text);
        return;
    }
    const struct audit_option *o = &audit_options[r->setting];
    const char *def = r->def ? r->def : default_of(o);
    int n = snprintf(text, sizeof(text), "%s%s%s (%s", r->doc ? r->doc : "", r->doc ? " " : "",
                     o->doc, o->env);
    if (def && n > 0 && (size_t)n < sizeof(text))
        snprintf(text + n, sizeof(text) - (size_t)n, ", default %s)", def);
    else if (n > 0 && (size_t)n + 1 < sizeof(text))
        strcat(text, ")");
    /* a row with its own flag has its own letter (or none) */
    print_option(out, r->flag ? r->letter : o->letter, r->flag ? r->flag : o->flag,
                 r->value ? r->value : flag_value(o), text);
}

void cli_help_rows(FILE *out, const struct cli_help_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        print_row(out, &rows[i]);
}

void cli_help_settings(FILE *out)
{
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++)
        if (audit_options[id].flag)
            print_row(out, &(struct cli_help_row){.setting = id});
}

void cli_help_env_only(FILE *out)
{
    static const char head[] = "By environment only (docs/options.md):";
    fputs(head, out);
    int col = (int)strlen(head);
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++) {
        const struct audit_option *o = &audit_options[id];
        if (o->flag)
            continue;
        char item[128];
        int n = snprintf(item, sizeof(item), " %s (%s)%s", o->env, default_of(o),
                         id + 1 < AUDIT_OPTION_COUNT ? "," : "");
        if (col + n > HELP_WIDTH) {
            fputc('\n', out);
            fputs(item + 1, out);
            col = n - 1;
        } else {
            fputs(item, out);
            col += n;
        }
    }
    fputc('\n', out);
}

void cli_help_common(FILE *out)
{
    print_option(out, 'h', "help", NULL, "this text");
    print_option(out, 0, "version", NULL, "print the version");
}

/* s with every '|' escaped (a table cell). */
static void put_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void put_flag_cell(FILE *out, char letter, const char *flag, const char *value)
{
    fputs("| ", out);
    if (!flag) {
        fputs("—", out);
        return;
    }
    fputc('`', out);
    if (letter)
        fprintf(out, "-%c, ", letter);
    fprintf(out, "--%s", flag);
    if (value) {
        if (value[0] != '[')
            fputc(' ', out);
        put_cell(out, value);
    }
    fputc('`', out);
}

void cli_help_markdown(FILE *out, const struct cli_help_row *own, size_t n)
{
    fputs("| `run` option | variable | default | meaning |\n|---|---|---|---|\n", out);
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++) {
        const struct audit_option *o = &audit_options[id];
        put_flag_cell(out, o->letter, o->flag, flag_value(o));
        fprintf(out, " | `%s` | ", o->env);
        put_cell(out, o->def_doc ? o->def_doc : o->def);
        fputs(" | ", out);
        put_cell(out, o->doc);
        if (o->more)
            put_cell(out, o->more);
        fputs(" |\n", out);
    }
    for (size_t i = 0; i < n; i++) {
        put_flag_cell(out, own[i].letter, own[i].flag, own[i].value);
        fputs(" | — | ", out);
        put_cell(out, own[i].def ? own[i].def : "—");
        fputs(" | ", out);
        put_cell(out, own[i].doc);
        fputs(" |\n", out);
    }
}
