/*
 * The bounded frame queue between stream threads and workers. Live video
 * must not back up: when the queue is full a frame is dropped right away
 * (the oldest queued one by default, or the incoming one), counted in the
 * queue and in the dropped frame's stream. Policy "block" waits for room
 * instead, for benchmarks that must process every frame. Closing the queue lets workers
 * drain what is left and then see NULL.
 */
#include "inferd/inferd.h"

#include <errno.h>
#include <stdlib.h>

int inferd_queue_init(struct inferd_queue *q, int cap, enum inferd_drop_policy policy)
{
    q->slots = calloc((size_t)cap, sizeof(*q->slots));
    if (!q->slots)
        return -ENOMEM;
    q->cap = cap;
    q->head = 0;
    q->count = 0;
    q->closed = false;
    q->policy = policy;
    atomic_store(&q->dropped, 0);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return 0;
}

static void queue_count_drop(struct inferd_queue *q, struct inferd_frame *f)
{
    atomic_fetch_add(&q->dropped, 1);
    atomic_fetch_add(&f->stream->dropped, 1);
}

void inferd_queue_push(struct inferd_queue *q, struct inferd_frame *f)
{
    struct inferd_frame *victim = NULL;
    pthread_mutex_lock(&q->mu);
    /* "block" (benchmarks, offline files): wait for room instead of dropping. */
    while (q->policy == INFERD_DROP_NONE_BLOCK && q->count == q->cap && !q->closed)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        victim = f;
    } else if (q->count == q->cap) {
        if (q->policy == INFERD_DROP_NEWEST) {
            victim = f;
        } else {
            victim = q->slots[q->head];
            q->slots[q->head] = f;
            q->head = (q->head + 1) % q->cap;
        }
    } else {
        q->slots[(q->head + q->count) % q->cap] = f;
        q->count++;
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
    if (victim) {
        queue_count_drop(q, victim);
        inferd_frame_free(victim);
    }
}

struct inferd_frame *inferd_queue_pop(struct inferd_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    struct inferd_frame *f = NULL;
    if (q->count > 0) {
        f = q->slots[q->head];
        q->slots[q->head] = NULL;
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return f;
}

void inferd_queue_close(struct inferd_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

int inferd_queue_depth(struct inferd_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void inferd_queue_destroy(struct inferd_queue *q)
{
    struct inferd_frame *f;
    q->closed = true;
    while (q->count > 0 && (f = inferd_queue_pop(q)))
        inferd_frame_free(f);
    free(q->slots);
    q->slots = NULL;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}
