/* qlog.c — counting popular queries and finding them by prefix (qlog.h). */
#include "search/qlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "search/maps.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define SHARDS            16
#define SNAPSHOT_EVERY_MS 250

struct qentry {
    char *text;
    uint32_t len, count;
    uint64_t hash;
};

struct qshard {
    pthread_mutex_t mu;
    struct qentry *slots; /* open addressing, 2 × QLOG_SHARD_MAX */
    size_t n;
};

struct qsnap {
    atomic_int refs;
    size_t n;
    struct {
        char *text;
        uint32_t len, count;
    } * e; /* sorted by text */
};

struct qlog {
    struct qshard shard[SHARDS];
    atomic_int min_count;
    atomic_bool dirty;
    pthread_mutex_t snap_mu;
    struct qsnap *snap;
    int64_t snap_at;
};

#define SLOTS (2 * QLOG_SHARD_MAX)

struct qlog *qlog_new(void)
{
    struct qlog *q = xcalloc(1, sizeof *q);
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&q->shard[i].mu, NULL);
        q->shard[i].slots = xcalloc(SLOTS, sizeof *q->shard[i].slots);
    }
    pthread_mutex_init(&q->snap_mu, NULL);
    atomic_init(&q->min_count, 3);
    return q;
}

static void snap_release(struct qsnap *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->e[i].text);
    free(s->e);
    free(s);
}

void qlog_free(struct qlog *q)
{
    if (!q)
        return;
    for (int i = 0; i < SHARDS; i++) {
        for (size_t j = 0; j < SLOTS; j++)
            free(q->shard[i].slots[j].text);
        free(q->shard[i].slots);
        pthread_mutex_destroy(&q->shard[i].mu);
    }
    snap_release(q->snap);
    pthread_mutex_destroy(&q->snap_mu);
    free(q);
}

void qlog_set_min_count(struct qlog *q, int min_count)
{
    atomic_store(&q->min_count, min_count < 1 ? 1 : min_count);
}

/* Halves every count and re-inserts the survivors (a shard is full). */
static void shard_decay(struct qshard *s)
{
    struct qentry *old = s->slots;
    s->slots = xcalloc(SLOTS, sizeof *s->slots);
    s->n = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        if (!old[i].text)
            continue;
        old[i].count /= 2;
        if (!old[i].count) {
            free(old[i].text);
            continue;
        }
        size_t j = old[i].hash & (SLOTS - 1);
        while (s->slots[j].text)
            j = (j + 1) & (SLOTS - 1);
        s->slots[j] = old[i];
        s->n++;
    }
    free(old);
}

void qlog_record(struct qlog *q, const char *norm, size_t len)
{
    if (len == 0)
        return;
    if (len > QLOG_TEXT_MAX)
        len = QLOG_TEXT_MAX;
    uint64_t h = hash_bytes(norm, len);
    struct qshard *s = &q->shard[h % SHARDS];
    pthread_mutex_lock(&s->mu);
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t j = h & (SLOTS - 1);
        while (s->slots[j].text && !(s->slots[j].hash == h && s->slots[j].len == len &&
                                     !memcmp(s->slots[j].text, norm, len)))
            j = (j + 1) & (SLOTS - 1);
        if (s->slots[j].text) {
            if (s->slots[j].count < UINT32_MAX)
                s->slots[j].count++;
            break;
        }
        if (s->n >= QLOG_SHARD_MAX) {
            shard_decay(s);
            continue;
        }
        s->slots[j] =
            (struct qentry){.text = xmalloc(len + 1), .len = (uint32_t)len, .count = 1, .hash = h};
        memcpy(s->slots[j].text, norm, len);
        s->slots[j].text[len] = '\0';
        s->n++;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    atomic_store_explicit(&q->dirty, true, memory_order_relaxed);
}

static int snap_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return strcmp(x, y);
}

static struct qsnap *snap_build(struct qlog *q)
{
    struct qsnap *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    uint32_t min = (uint32_t)atomic_load(&q->min_count);
    size_t cap = 0;
    for (int i = 0; i < SHARDS; i++) {
        struct qshard *sh = &q->shard[i];
        pthread_mutex_lock(&sh->mu);
        for (size_t j = 0; j < SLOTS; j++) {
            if (!sh->slots[j].text || sh->slots[j].count < min)
                continue;
            if (s->n == cap) {
                cap = cap ? cap * 2 : 256;
                s->e = xrealloc(s->e, cap * sizeof *s->e);
            }
            s->e[s->n].text = xstrdup(sh->slots[j].text);
            s->e[s->n].len = sh->slots[j].len;
            s->e[s->n].count = sh->slots[j].count;
            s->n++;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    if (s->n)
        qsort(s->e, s->n, sizeof *s->e, snap_cmp);
    return s;
}

static struct qsnap *snap_get(struct qlog *q)
{
    int64_t now = clock_mono_ns() / 1000000;
    pthread_mutex_lock(&q->snap_mu);
    if (!q->snap || (atomic_load_explicit(&q->dirty, memory_order_relaxed) &&
                     now - q->snap_at >= SNAPSHOT_EVERY_MS)) {
        atomic_store(&q->dirty, false);
        struct qsnap *fresh = snap_build(q);
        snap_release(q->snap);
        q->snap = fresh;
        q->snap_at = now;
    }
    struct qsnap *s = q->snap;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&q->snap_mu);
    return s;
}

int qlog_prefix(struct qlog *q, const char *prefix, size_t len, int max, struct arena *a,
                const char **out)
{
    if (max <= 0)
        return 0;
    struct qsnap *s = snap_get(q);
    /* The first entry ≥ prefix; matches follow contiguously. */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(s->e[mid].text, prefix, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Keep the `max` most counted among (at most 4096 of) the matches. */
    size_t best[64];
    int nb = 0;
    if (max > 64)
        max = 64;
    for (size_t i = lo, seen = 0; i < s->n && seen < 4096; i++, seen++) {
        if (s->e[i].len < len || memcmp(s->e[i].text, prefix, len))
            break;
        int at = nb;
        while (at > 0 && s->e[best[at - 1]].count < s->e[i].count)
            at--;
        if (at >= max)
            continue;
        if (nb < max)
            nb++;
        memmove(&best[at + 1], &best[at], (size_t)(nb - 1 - at) * sizeof *best);
        best[at] = i;
    }
    for (int i = 0; i < nb; i++)
        out[i] = arena_strdup(a, s->e[best[i]].text);
    snap_release(s);
    return nb;
}

size_t qlog_size(struct qlog *q)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&q->shard[i].mu);
        n += q->shard[i].n;
        pthread_mutex_unlock(&q->shard[i].mu);
    }
    return n;
}
