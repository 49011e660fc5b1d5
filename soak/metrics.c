/*
 * Scraping the soak target's Prometheus endpoint: a minimal HTTP/1.0 GET over
 * a loopback TCP socket (the target is local by design, so no libcurl), a
 * parser for the text exposition format, and the numbers soak wants from it:
 * a throughput counter, a drop counter and a latency histogram's p99.
 */
#include "soak.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_RESPONSE (8u << 20) /* a /metrics page larger than this is cut */
#define HTTP_READ_CHUNK   65536
#define HTTP_DEFAULT_PORT 80
#define PROM_MAX_NAME     256
#define PROM_MAX_LABELS   1024
#define SUFFIX_FRAMES     "_frames_inferred_total"

static int is_loopback_host(const char *h)
{
    struct in_addr a4;
    if (!strcmp(h, "localhost") || !strcmp(h, "::1"))
        return 1;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return 0;
}

int soak_url_parse(const char *url, struct soak_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(url, "http://", 7)) {
        snprintf(err, errlen, "only http:// URLs are supported");
        return -EINVAL;
    }
    const char *h = url + 7, *hend;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend) {
            snprintf(err, errlen, "unterminated [address]");
            return -EINVAL;
        }
        h++;
    } else {
        hend = h + strcspn(h, ":/");
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= sizeof(out->host)) {
        snprintf(err, errlen, "bad host");
        return -EINVAL;
    }
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    if (!is_loopback_host(out->host)) {
        snprintf(err, errlen, "host %s is not on the loopback (127.0.0.0/8, ::1, localhost)",
                 out->host);
        return -EINVAL;
    }
    const char *p = *hend == ']' ? hend + 1 : hend;
    out->port = HTTP_DEFAULT_PORT;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            snprintf(err, errlen, "bad port");
            return -EINVAL;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p && *p != '/') {
        snprintf(err, errlen, "unexpected '%c' after the host", *p);
        return -EINVAL;
    }
    util_strlcpy(out->path, *p ? p : "/", sizeof(out->path));
    for (const char *c = out->path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            snprintf(err, errlen, "the path contains a space or control character");
            return -EINVAL;
        }
    return 0;
}

static int64_t ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    for (;;) {
        int64_t left = ms_left(deadline);
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n > 0)
            return 0;
    }
}

static int connect_loopback(const struct soak_url *url, const struct timespec *deadline)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    int family = strchr(url->host, ':') ? AF_INET6 : AF_INET;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)url->port);
        a->sin6_addr = in6addr_loopback;
        sslen = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)url->port);
        if (inet_pton(AF_INET, url->host, &a->sin_addr) != 1)
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* "localhost" */
        sslen = sizeof(*a);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
        if (errno != EINPROGRESS) {
            int e = -errno;
            close(fd);
            return e;
        }
        int rc = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
            rc = -soerr;
        if (rc < 0) {
            close(fd);
            return rc;
        }
    }
    return fd;
}

int soak_http_get(const struct soak_url *url, int timeout_ms, char **body)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    *body = NULL;
    int fd = connect_loopback(url, &deadline);
    if (fd < 0)
        return fd;
    char req[sizeof(url->path) + sizeof(url->host) + 128];
    int reqlen = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: text/plain\r\n"
                          "User-Agent: leakaudit-soak\r\n\r\n",
                          url->path, url->host);
    int rc = 0;
    for (int sent = 0; sent < reqlen && rc == 0;) {
        ssize_t n = send(fd, req + sent, (size_t)(reqlen - sent), MSG_NOSIGNAL);
        if (n > 0)
            sent += (int)n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR))
            rc = wait_fd(fd, POLLOUT, &deadline);
        else
            rc = n < 0 ? -errno : -EPIPE;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    while (rc == 0) {
        if (len + HTTP_READ_CHUNK + 1 > cap) {
            if (cap >= HTTP_MAX_RESPONSE)
                break;
            size_t ncap = cap ? cap * 2 : HTTP_READ_CHUNK * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n > 0)
            len += (size_t)n;
        else if (n == 0)
            break;
        else if (errno == EAGAIN || errno == EINTR)
            rc = wait_fd(fd, POLLIN, &deadline);
        else
            rc = -errno;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    if (!buf) {
        return -EPROTO;
    }
    buf[len] = '\0';
    /* "HTTP/1.x 200 ..." then headers, a blank line, the body. */
    if (strncmp(buf, "HTTP/1.", 7) || len < 12 || strncmp(buf + 9, "200", 3)) {
        free(buf);
        return -EPROTO;
    }
    char *start = strstr(buf, "\r\n\r\n");
    size_t skip = start ? 4 : 2;
    if (!start)
        start = strstr(buf, "\n\n");
    if (!start) {
        free(buf);
        return -EPROTO;
    }
    start += skip;
    memmove(buf, start, strlen(start) + 1);
    *body = buf;
    return 0;
}

static int is_name_char(int c, int first)
{
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

void soak_prom_foreach(const char *text, soak_prom_cb cb, void *arg)
{
    char name[PROM_MAX_NAME], labels[PROM_MAX_LABELS];
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        const char *next = eol ? eol + 1 : NULL;
        if (!eol)
            eol = p + strlen(p);
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= eol || *p == '#' || !is_name_char((unsigned char)*p, 1)) {
            p = next;
            continue;
        }
        size_t nlen = 0;
        while (p < eol && is_name_char((unsigned char)*p, 0) && nlen + 1 < sizeof(name))
            name[nlen++] = *p++;
        name[nlen] = '\0';
        labels[0] = '\0';
        int ok = 1;
        if (p < eol && *p == '{') {
            size_t llen = 0;
            int quoted = 0;
            for (p++; p < eol; p++) {
                if (!quoted && *p == '}')
                    break;
                if (*p == '"')
                    quoted = !quoted;
                else if (quoted && *p == '\\' && p + 1 < eol && llen + 2 < sizeof(labels))
                    labels[llen++] = *p++;
                if (llen + 1 >= sizeof(labels)) {
                    ok = 0;
                    break;
                }
                labels[llen++] = *p;
            }
            labels[llen] = '\0';
            if (p >= eol || *p != '}')
                ok = 0;
            else
                p++;
        }
        if (ok && p < eol && (*p == ' ' || *p == '\t')) {
            char *end;
            double v = strtod(p, &end);
            if (end != p && (end == eol || *end == ' ' || *end == '\t' || *end == '\r'))
                cb(name, labels, v, arg);
        }
        p = next;
    }
}

/* The value of label key in a label set such as `a="1",le="0.5"`. */
static int label_value(const char *labels, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = labels;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"')
            return -EINVAL;
        int match = (size_t)(eq - p) == klen && !strncmp(p, key, klen);
        size_t n = 0;
        for (p = eq + 2; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            if (match && n + 1 < cap)
                out[n++] = *p;
        }
        if (match) {
            out[n] = '\0';
            return 0;
        }
        if (*p == '"')
            p++;
    }
    return -ENOENT;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

struct resolve_state {
    int have_frames;
    char first_total[SOAK_MAX_METRIC_NAME];
    char first_bucket[SOAK_MAX_METRIC_NAME];
    char first_latency_bucket[SOAK_MAX_METRIC_NAME];
};

static void resolve_cb(const char *name, const char *labels, double v, void *arg)
{
    struct resolve_state *st = arg;
    (void)labels;
    (void)v;
    if (ends_with(name, SUFFIX_FRAMES))
        st->have_frames = 1;
    if (!st->first_total[0] && ends_with(name, "_total"))
        util_strlcpy(st->first_total, name, sizeof(st->first_total));
    if (ends_with(name, "_bucket")) {
        size_t base = strlen(name) - strlen("_bucket");
        if (!st->first_bucket[0] && base < sizeof(st->first_bucket)) {
            memcpy(st->first_bucket, name, base);
            st->first_bucket[base] = '\0';
        }
        if (!st->first_latency_bucket[0] && base < sizeof(st->first_latency_bucket) &&
            (strstr(name, "latency") || strstr(name, "duration"))) {
            memcpy(st->first_latency_bucket, name, base);
            st->first_latency_bucket[base] = '\0';
        }
    }
}

struct extract_state {
    const struct soak_metric_names *names;
    char bucket_name[SOAK_MAX_METRIC_NAME + 8];
    struct soak_scrape *out;
};

static void hist_add(struct soak_hist *h, double le, double count)
{
    for (int i = 0; i < h->n; i++)
        if (h->le[i] == le) {
            h->count[i] += count;
            return;
        }
    if (h->n >= SOAK_MAX_HIST_BUCKETS)
        return;
    int i = h->n++;
    while (i > 0 && h->le[i - 1] > le) {
        h->le[i] = h->le[i - 1];
        h->count[i] = h->count[i - 1];
        i--;
    }
    h->le[i] = le;
    h->count[i] = count;
}

static void add_or_set(double *acc, double v)
{
    *acc = isnan(*acc) ? v : *acc + v;
}

static void extract_cb(const char *name, const char *labels, double v, void *arg)
{
    struct extract_state *st = arg;
    const struct soak_metric_names *names = st->names;
    if (names->throughput_is_suffix_rule ? ends_with(name, SUFFIX_FRAMES)
                                         : !strcmp(name, names->throughput))
        add_or_set(&st->out->throughput_total, v);
    if (names->drops[0] ? !strcmp(name, names->drops)
                        : (ends_with(name, "_total") && strstr(name, "drop")))
        add_or_set(&st->out->drops_total, v);
    if (st->bucket_name[0] && !strcmp(name, st->bucket_name)) {
        char le[64];
        if (label_value(labels, "le", le, sizeof(le)) == 0) {
            char *end;
            double bound = strtod(le, &end);
            if (end != le)
                hist_add(&st->out->latency, bound, v);
        }
    }
}

void soak_scrape_parse(const char *text, struct soak_metric_names *names, struct soak_scrape *out)
{
    memset(out, 0, sizeof(*out));
    out->throughput_total = NAN;
    out->drops_total = NAN;
    if (!names->throughput[0] || !names->latency[0]) {
        struct resolve_state st = {0};
        soak_prom_foreach(text, resolve_cb, &st);
        if (!names->throughput[0] && st.have_frames) {
            util_strlcpy(names->throughput, "*" SUFFIX_FRAMES, sizeof(names->throughput));
            names->throughput_is_suffix_rule = 1;
        } else if (!names->throughput[0] && st.first_total[0]) {
            util_strlcpy(names->throughput, st.first_total, sizeof(names->throughput));
        }
        if (!names->latency[0])
            util_strlcpy(names->latency,
                         st.first_latency_bucket[0] ? st.first_latency_bucket : st.first_bucket,
                         sizeof(names->latency));
    }
    struct extract_state st = {.names = names, .out = out};
    if (names->latency[0]) {
        /* Accept the base name or the _bucket series itself. */
        if (ends_with(names->latency, "_bucket"))
            util_strlcpy(st.bucket_name, names->latency, sizeof(st.bucket_name));
        else
            snprintf(st.bucket_name, sizeof(st.bucket_name), "%s_bucket", names->latency);
    }
    soak_prom_foreach(text, extract_cb, &st);
}

double soak_hist_quantile(const struct soak_hist *a, const struct soak_hist *b, double q)
{
    if (!b || b->n == 0)
        return NAN;
    double delta[SOAK_MAX_HIST_BUCKETS];
    for (int i = 0; i < b->n; i++) {
        delta[i] = b->count[i];
        for (int j = 0; a && j < a->n; j++)
            if (a->le[j] == b->le[i])
                delta[i] -= a->count[j];
    }
    double total = delta[b->n - 1];
    if (!isinf(b->le[b->n - 1]) || total <= 0)
        return NAN; /* without the +Inf bucket there is no total to rank against */
    double rank = q * total, prev_le = 0, prev_count = 0;
    for (int i = 0; i < b->n; i++) {
        if (delta[i] >= rank) {
            if (isinf(b->le[i]))
                return prev_le; /* beyond the last finite bound: report that bound */
            double in_bucket = delta[i] - prev_count;
            double frac = in_bucket > 0 ? (rank - prev_count) / in_bucket : 1;
            return prev_le + (b->le[i] - prev_le) * frac;
        }
        prev_le = b->le[i];
        prev_count = delta[i];
    }
    return NAN;
}

double soak_hist_unit_ms(const char *name)
{
    if (strstr(name, "milliseconds") || ends_with(name, "_ms"))
        return 1;
    if (strstr(name, "microseconds") || ends_with(name, "_us"))
        return 1e-3;
    return 1e3; /* Prometheus convention: seconds */
}

int soak_check_load_urls(const char *cmd, char *err, size_t errlen)
{
    for (const char *p = strstr(cmd, "://"); p; p = strstr(p + 3, "://")) {
        const char *h = p + 3, *end;
        if (*h == '[') {
            h++;
            end = h + strcspn(h, "]");
        } else {
            end = h + strcspn(h, ":/ \t'\"?#");
        }
        const char *at = memchr(h, '@', (size_t)(end - h)); /* user@host */
        if (at)
            h = at + 1;
        char host[64];
        size_t len = (size_t)(end - h);
        if (len >= sizeof(host))
            len = sizeof(host) - 1;
        memcpy(host, h, len);
        host[len] = '\0';
        if (!is_loopback_host(host)) {
            snprintf(err, errlen, "it targets %s, which is not on the loopback", host);
            return -EINVAL;
        }
    }
    return 0;
}
