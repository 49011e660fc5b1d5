/*
 * /metrics: the Prometheus text exposition of inferd's counters -- frames
 * decoded / inferred / dropped per stream, decode errors, reconnects, queue
 * depth, the decode-to-result latency histogram, process RSS and open fds,
 * and debug gauges that make planted defects visible (live frame buffers,
 * references on each stream's shared info, backend debug counters).
 */
#include "inferd/inferd.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Upper bounds of the latency buckets, milliseconds; the last is +Inf. */
static const double latency_bounds_ms[INFERD_LATENCY_BUCKETS - 1] = {1,   2,   5,   10,   20,  50,
                                                                     100, 200, 500, 1000, 2000};

void inferd_metrics_observe_latency(struct inferd_metrics *m, double ms)
{
    int b = 0;
    while (b < INFERD_LATENCY_BUCKETS - 1 && ms > latency_bounds_ms[b])
        b++;
    atomic_fetch_add(&m->latency_buckets[b], 1);
    atomic_fetch_add(&m->latency_count, 1);
    atomic_fetch_add(&m->latency_sum_us, (uint64_t)(ms * 1000.0));
}

static long metrics_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long size = 0, resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static long metrics_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

struct metric_def {
    const char *name;
    const char *help;
    size_t offset; /* of the atomic counter in struct inferd_stream */
};

#define STREAM_COUNTER(field) offsetof(struct inferd_stream, field)

static const struct metric_def stream_counters[] = {
    {"inferd_frames_decoded_total", "Pictures decoded and converted.", STREAM_COUNTER(decoded)},
    {"inferd_frames_inferred_total", "Frames the backend ran on.", STREAM_COUNTER(inferred)},
    {"inferd_frames_dropped_total", "Frames dropped because the queue was full.",
     STREAM_COUNTER(dropped)},
    {"inferd_ocr_runs_total", "Frames the backend ran OCR on.", STREAM_COUNTER(ocr_runs)},
    {"inferd_packets_total", "Video packets read.", STREAM_COUNTER(packets)},
    {"inferd_packets_corrupted_total", "Packets scrambled by the corrupt-packet injector.",
     STREAM_COUNTER(corrupted)},
    {"inferd_decode_errors_total", "Packets the decoder rejected.", STREAM_COUNTER(decode_errors)},
    {"inferd_backend_errors_total", "Backend runs that failed.", STREAM_COUNTER(backend_errors)},
    {"inferd_reconnects_total", "Connection attempts after the first.", STREAM_COUNTER(reconnects)},
    {"inferd_loops_total", "Times a looping clip restarted.", STREAM_COUNTER(loops)},
};

int inferd_metrics_render(struct inferd_app *app, char **out, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return -errno;

    struct inferd_stream *streams[INFERD_MAX_STREAMS];
    int n = 0;
    pthread_mutex_lock(&app->streams_mu);
    for (int i = 0; i < INFERD_MAX_STREAMS; i++)
        if (app->streams[i]) {
            inferd_stream_get(app->streams[i]);
            streams[n++] = app->streams[i];
        }
    pthread_mutex_unlock(&app->streams_mu);

    for (size_t m = 0; m < sizeof(stream_counters) / sizeof(stream_counters[0]); m++) {
        const struct metric_def *d = &stream_counters[m];
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", d->name, d->help, d->name);
        for (int i = 0; i < n; i++) {
            atomic_uint_fast64_t *c = (atomic_uint_fast64_t *)((char *)streams[i] + d->offset);
            fprintf(f, "%s{stream=\"%d\",name=\"%s\"} %llu\n", d->name, streams[i]->id,
                    streams[i]->cfg.name, (unsigned long long)atomic_load(c));
        }
    }
    fprintf(f, "# HELP inferd_stream_up 1 while the stream is connected.\n"
               "# TYPE inferd_stream_up gauge\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "inferd_stream_up{stream=\"%d\",name=\"%s\"} %d\n", streams[i]->id,
                streams[i]->cfg.name, atomic_load(&streams[i]->state) == INFERD_STREAM_RUNNING);
    fprintf(f, "# HELP inferd_stream_info_refs References held on the stream's shared info "
               "buffer (1 + one per open connection).\n# TYPE inferd_stream_info_refs gauge\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "inferd_stream_info_refs{stream=\"%d\",name=\"%s\"} %ld\n", streams[i]->id,
                streams[i]->cfg.name, inferd_stream_info_refs(streams[i]));
    for (int i = 0; i < n; i++)
        inferd_stream_put(streams[i]);

    fprintf(f,
            "# HELP inferd_streams Streams configured.\n# TYPE inferd_streams gauge\n"
            "inferd_streams %d\n",
            n);
    fprintf(f,
            "# HELP inferd_queue_depth Frames waiting for a worker.\n"
            "# TYPE inferd_queue_depth gauge\ninferd_queue_depth %d\n",
            inferd_queue_depth(&app->queue));
    fprintf(f,
            "# HELP inferd_queue_capacity Queue capacity.\n"
            "# TYPE inferd_queue_capacity gauge\ninferd_queue_capacity %d\n",
            app->queue.cap);
    fprintf(f,
            "# HELP inferd_queue_dropped_total Frames dropped by the queue.\n"
            "# TYPE inferd_queue_dropped_total counter\ninferd_queue_dropped_total %llu\n",
            (unsigned long long)atomic_load(&app->queue.dropped));
    fprintf(f,
            "# HELP inferd_workers Inference workers.\n# TYPE inferd_workers gauge\n"
            "inferd_workers %d\n",
            app->n_workers);
    uint64_t recycles = 0;
    for (int i = 0; i < app->n_workers; i++)
        recycles += atomic_load(&app->workers[i].recycles);
    fprintf(f,
            "# HELP inferd_context_recycles_total Backend contexts re-created.\n"
            "# TYPE inferd_context_recycles_total counter\n"
            "inferd_context_recycles_total %llu\n",
            (unsigned long long)recycles);

    fprintf(f, "# HELP inferd_latency_ms Decode-to-result latency in milliseconds.\n"
               "# TYPE inferd_latency_ms histogram\n");
    uint64_t cumulative = 0;
    for (int b = 0; b < INFERD_LATENCY_BUCKETS; b++) {
        cumulative += atomic_load(&app->metrics.latency_buckets[b]);
        if (b < INFERD_LATENCY_BUCKETS - 1)
            fprintf(f, "inferd_latency_ms_bucket{le=\"%g\"} %llu\n", latency_bounds_ms[b],
                    (unsigned long long)cumulative);
        else
            fprintf(f, "inferd_latency_ms_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)cumulative);
    }
    fprintf(f, "inferd_latency_ms_sum %.3f\ninferd_latency_ms_count %llu\n",
            (double)atomic_load(&app->metrics.latency_sum_us) / 1000.0,
            (unsigned long long)atomic_load(&app->metrics.latency_count));

    fprintf(f,
            "# HELP inferd_frames_live Frame buffers allocated and not yet freed.\n"
            "# TYPE inferd_frames_live gauge\ninferd_frames_live %ld\n",
            atomic_load(&inferd_frames_live));
    if (app->backend.stat) {
        static const char *const stats[] = {"runs", "use_after_destroy", NULL};
        fprintf(f, "# HELP inferd_backend_stat Debug counters of the vendor runtime.\n"
                   "# TYPE inferd_backend_stat gauge\n");
        for (const char *const *s = stats; *s; s++) {
            uint64_t v;
            if (app->backend.stat(*s, &v) == 0)
                fprintf(f, "inferd_backend_stat{name=\"%s\"} %llu\n", *s, (unsigned long long)v);
        }
    }
    fprintf(f,
            "# HELP inferd_http_requests_total HTTP requests answered.\n"
            "# TYPE inferd_http_requests_total counter\ninferd_http_requests_total %llu\n",
            (unsigned long long)atomic_load(&app->metrics.http_requests));
    fprintf(f,
            "# HELP inferd_http_errors_total HTTP requests answered with 4xx/5xx.\n"
            "# TYPE inferd_http_errors_total counter\ninferd_http_errors_total %llu\n",
            (unsigned long long)atomic_load(&app->metrics.http_errors));
    fprintf(f,
            "# HELP process_resident_memory_bytes Resident set size.\n"
            "# TYPE process_resident_memory_bytes gauge\n"
            "process_resident_memory_bytes %ld\n",
            metrics_rss_bytes());
    fprintf(f,
            "# HELP process_open_fds Open file descriptors.\n"
            "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
            metrics_open_fds());
    fprintf(f,
            "# HELP inferd_uptime_seconds Seconds since start.\n"
            "# TYPE inferd_uptime_seconds gauge\ninferd_uptime_seconds %.1f\n",
            (double)(inferd_now_ns() - app->started_ns) / 1e9);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *len = size;
    return 0;
}
