/*
 * inferd: the reference video-inference daemon. Reads a JSON config, starts
 * a worker pool (each worker owns a backend context created up front), one
 * decode thread per stream and the HTTP API, then waits for SIGTERM/SIGINT
 * (or --duration) and shuts down in order: HTTP, streams, queue drain,
 * workers and their contexts, everything else -- so that a run with every
 * defect off leaves no heap block and no fd behind.
 */
#include "inferd/inferd.h"

#include <errno.h>
#include <getopt.h>
#include <libavformat/avformat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Leaked fds with defect 2 must not starve the process of fds at once. */
#define INFERD_NOFILE_TARGET 65536
/* How often the main thread checks --duration while waiting for a signal. */
#define INFERD_TICK_MS 100

static const char usage_text[] =
    "usage: inferd -c CONFIG.json [options]\n"
    "\n"
    "The reference video-inference daemon: decodes streams (files looped as live\n"
    "streams, or allowed URLs), runs OCR and region detection on every frame through a\n"
    "backend (built-in Tesseract or the libvendorsim.so plugin), serves results, JPEG\n"
    "snapshots and Prometheus metrics over HTTP on 127.0.0.1. See docs/inferd.md.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE      configuration (JSON; required)\n"
    "  -p, --port N           HTTP port, overriding http.port (0 = pick a free one)\n"
    "      --port-file FILE   write the bound HTTP port to FILE once ready\n"
    "  -d, --duration SECONDS stop by itself after this long (overrides duration_s)\n"
    "      --check            validate the configuration and exit\n"
    "  -v, --verbose          log level debug\n"
    "  -h, --help             this text\n"
    "\n"
    "SIGTERM or SIGINT drains the queue and shuts down cleanly (exit 0).\n";

static void app_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= INFERD_NOFILE_TARGET)
        return;
    rl.rlim_cur = rl.rlim_max < INFERD_NOFILE_TARGET ? rl.rlim_max : INFERD_NOFILE_TARGET;
    setrlimit(RLIMIT_NOFILE, &rl);
}

struct inferd_stream *inferd_app_find_stream(struct inferd_app *app, int id)
{
    struct inferd_stream *found = NULL;
    pthread_mutex_lock(&app->streams_mu);
    for (int i = 0; i < INFERD_MAX_STREAMS && !found; i++)
        if (app->streams[i] && app->streams[i]->id == id) {
            found = app->streams[i];
            inferd_stream_get(found);
        }
    pthread_mutex_unlock(&app->streams_mu);
    return found;
}

int inferd_app_add_stream(struct inferd_app *app, const struct inferd_stream_config *sc,
                          int *id_out, char *err, size_t errlen)
{
    pthread_mutex_lock(&app->streams_mu);
    int slot = -1, rc;
    for (int i = 0; i < INFERD_MAX_STREAMS && slot < 0; i++)
        if (!app->streams[i])
            slot = i;
    if (atomic_load(&app->stopping)) {
        snprintf(err, errlen, "shutting down");
        rc = -ESHUTDOWN;
    } else if (slot < 0) {
        snprintf(err, errlen, "too many streams (at most %d)", INFERD_MAX_STREAMS);
        rc = -ENOSPC;
    } else {
        struct inferd_stream *s = NULL;
        int id = app->next_stream_id;
        rc = inferd_stream_create(app, sc, id, &s, err, errlen);
        if (rc == 0 && (rc = inferd_stream_start(s)) != 0) {
            snprintf(err, errlen, "cannot start the stream thread: %s", strerror(-rc));
            inferd_stream_put(s);
        } else if (rc == 0) {
            app->streams[slot] = s;
            app->next_stream_id++;
            *id_out = id;
        } else if (rc == -ENOMEM) {
            snprintf(err, errlen, "out of memory");
        }
    }
    pthread_mutex_unlock(&app->streams_mu);
    if (rc == 0)
        inferd_log(INFERD_LOG_INFO, "stream %d: added (%s)", *id_out, sc->source);
    return rc;
}

int inferd_app_remove_stream(struct inferd_app *app, int id)
{
    struct inferd_stream *s = NULL;
    pthread_mutex_lock(&app->streams_mu);
    for (int i = 0; i < INFERD_MAX_STREAMS && !s; i++)
        if (app->streams[i] && app->streams[i]->id == id) {
            s = app->streams[i];
            app->streams[i] = NULL;
        }
    pthread_mutex_unlock(&app->streams_mu);
    if (!s)
        return -ENOENT;
    inferd_stream_stop(s);
    inferd_stream_put(s); /* the registry's reference */
    inferd_log(INFERD_LOG_INFO, "stream %d: removed", id);
    return 0;
}

static void app_stop_streams(struct inferd_app *app)
{
    for (int i = 0; i < INFERD_MAX_STREAMS; i++) {
        pthread_mutex_lock(&app->streams_mu);
        struct inferd_stream *s = app->streams[i];
        app->streams[i] = NULL;
        pthread_mutex_unlock(&app->streams_mu);
        if (s) {
            inferd_stream_stop(s);
            inferd_stream_put(s);
        }
    }
}

static int app_write_port_file(const char *path, int port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

/* Waits for SIGTERM/SIGINT or the end of the configured duration. */
static int app_wait(double duration_s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    uint64_t deadline = duration_s > 0 ? inferd_now_ns() + (uint64_t)(duration_s * 1e9) : 0;
    for (;;) {
        struct timespec tick = {0, INFERD_TICK_MS * 1000000L};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig > 0)
            return sig;
        if (deadline && inferd_now_ns() >= deadline)
            return 0;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"port-file", required_argument, NULL, 'P'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"check", no_argument, NULL, 'C'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *port_file = NULL;
    long port = -1;
    double duration = -1;
    bool check = false, verbose = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:p:d:vh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'p':
            port = strtol(optarg, &end, 10);
            if (*end || end == optarg || port < 0 || port > 65535) {
                fprintf(stderr, "inferd: --port: must be 0-65535\n");
                return 2;
            }
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'd':
            duration = strtod(optarg, &end);
            if (*end || end == optarg || duration < 0) {
                fprintf(stderr, "inferd: --duration: must be a non-negative number\n");
                return 2;
            }
            break;
        case 'C':
            check = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!config_path || optind != argc) {
        fputs(usage_text, stderr);
        return 2;
    }

    static struct inferd_app app;
    char err[512];
    if (inferd_config_load(config_path, &app.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "inferd: config: %s\n", err);
        return 2;
    }
    if (check) {
        printf("inferd: config %s is valid (%zu streams)\n", config_path, app.cfg.n_streams);
        inferd_config_free(&app.cfg);
        return 0;
    }
    if (port >= 0)
        app.cfg.http_port = (int)port;
    if (duration >= 0)
        app.cfg.duration_s = duration;
    inferd_log_level = verbose ? INFERD_LOG_DEBUG : app.cfg.log_level;

    app_raise_nofile();
    /* Signals are taken synchronously by the main thread only. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    app.started_ns = inferd_now_ns();
    app.next_stream_id = 1;
    pthread_mutex_init(&app.streams_mu, NULL);
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_FATAL);
    avformat_network_init();

    int status = 1;
    int rc = inferd_backend_load(&app.cfg, &app.backend, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "inferd: %s\n", err);
        goto out_net;
    }
    if ((rc = inferd_queue_init(&app.queue, app.cfg.queue_capacity, app.cfg.drop_policy))) {
        fprintf(stderr, "inferd: queue: %s\n", strerror(-rc));
        goto out_backend;
    }
    if ((rc = inferd_workers_start(&app, err, sizeof(err)))) {
        fprintf(stderr, "inferd: %s\n", err);
        goto out_workers;
    }
    for (size_t i = 0; i < app.cfg.n_streams; i++) {
        int id;
        if ((rc = inferd_app_add_stream(&app, &app.cfg.streams[i], &id, err, sizeof(err)))) {
            fprintf(stderr, "inferd: streams[%zu]: %s\n", i, err);
            goto out_streams;
        }
    }
    if ((rc = inferd_http_start(&app, err, sizeof(err)))) {
        fprintf(stderr, "inferd: %s\n", err);
        goto out_streams;
    }
    inferd_log(INFERD_LOG_INFO, "listening on http://%s:%d (backend %s, %d workers, %zu streams)",
               app.cfg.http_bind, app.http_port, app.backend.name, app.n_workers,
               app.cfg.n_streams);
    if (port_file && (rc = app_write_port_file(port_file, app.http_port))) {
        fprintf(stderr, "inferd: --port-file %s: %s\n", port_file, strerror(-rc));
        goto out_http;
    }

    int sig = app_wait(app.cfg.duration_s);
    inferd_log(INFERD_LOG_INFO, "%s: shutting down", sig ? strsignal(sig) : "duration reached");
    status = 0;

out_http:
    atomic_store(&app.stopping, true);
    inferd_http_stop(&app);
out_streams:
    atomic_store(&app.stopping, true);
    app_stop_streams(&app);
out_workers:
    inferd_queue_close(&app.queue); /* workers drain what is queued, then exit */
    inferd_workers_join(&app);
    inferd_queue_destroy(&app.queue);
out_backend:
    inferd_backend_unload(&app.backend);
out_net:
    avformat_network_deinit();
    pthread_mutex_destroy(&app.streams_mu);
    inferd_config_free(&app.cfg);
    if (status == 0)
        inferd_log(INFERD_LOG_INFO, "stopped cleanly");
    return status;
}
