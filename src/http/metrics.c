#include "http/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "util/xalloc.h"

static const int statuses[] = {200, 201, 204, 304, 400, 401, 402, 403, 404, 405,
                               409, 412, 413, 415, 422, 429, 500, 503, 0};
#define NSTATUS (sizeof statuses / sizeof statuses[0]) /* the last counts the rest */

/* Upper bounds of the latency buckets, in microseconds. */
static const int64_t bounds_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                                    100000, 250000, 500000, 1000000, 2500000};
#define NBUCKETS (sizeof bounds_us / sizeof bounds_us[0])

struct route_stats {
    _Atomic uint64_t by_status[NSTATUS];
    _Atomic uint64_t buckets[NBUCKETS + 1];
    _Atomic uint64_t count, dur_ns, db_ns;
    _Atomic uint64_t stock_conflicts; /* 409s refused for want of stock */
};

struct metrics {
    const struct router *rt;
    size_t n; /* routes + 1 for "unmatched" */
    struct route_stats *stats;
};

struct metrics *metrics_new(const struct router *rt)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    m->rt = rt;
    m->n = router_count(rt) + 1;
    m->stats = xcalloc(m->n, sizeof *m->stats);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    free(m->stats);
    free(m);
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void metrics_observe(struct metrics *m, int route, int status, int64_t dur_ns, int64_t db_ns,
                     bool stock_conflict)
{
    size_t idx = route >= 0 ? (size_t)route : m->n - 1;
    struct route_stats *s = &m->stats[idx];
    if (stock_conflict)
        atomic_fetch_add_explicit(&s->stock_conflicts, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->by_status[status_index(status)], 1, memory_order_relaxed);
    int64_t us = dur_ns / 1000;
    size_t b = 0;
    while (b < NBUCKETS && us > bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->dur_ns, (uint64_t)dur_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->db_ns, (uint64_t)(db_ns > 0 ? db_ns : 0), memory_order_relaxed);
}

static void route_label(struct metrics *m, size_t i, char *out, size_t len)
{
    if (i == m->n - 1) {
        snprintf(out, len, "unmatched");
        return;
    }
    const struct route *r = router_route(m->rt, i);
    snprintf(out, len, "%s %s", http_method_name(r->method), r->pattern);
}

void metrics_render(struct metrics *m, struct buf *out)
{
    char label[160];
    buf_puts(out, "# HELP shopd_http_requests_total Requests answered, by route and status.\n"
                  "# TYPE shopd_http_requests_total counter\n");
    for (size_t i = 0; i < m->n; i++) {
        route_label(m, i, label, sizeof label);
        for (size_t k = 0; k < NSTATUS; k++) {
            uint64_t v = atomic_load_explicit(&m->stats[i].by_status[k], memory_order_relaxed);
            if (!v)
                continue;
            if (statuses[k])
                buf_printf(out, "shopd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                           label, statuses[k], (unsigned long long)v);
            else
                buf_printf(out, "shopd_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                           label, (unsigned long long)v);
        }
    }
    buf_puts(out, "# HELP shopd_http_request_duration_seconds Time to answer, by route.\n"
                  "# TYPE shopd_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n; i++) {
        struct route_stats *s = &m->stats[i];
        uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        if (!count)
            continue;
        route_label(m, i, label, sizeof label);
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            buf_printf(out,
                       "shopd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                       label, (double)bounds_us[b] / 1e6, (unsigned long long)cum);
        }
        buf_printf(out,
                   "shopd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                   "shopd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                   "shopd_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                   label, (unsigned long long)count, label,
                   (double)atomic_load(&s->dur_ns) / 1e9, label, (unsigned long long)count);
    }
    buf_puts(out, "# HELP shopd_http_db_seconds_total Time spent in the database, by route.\n"
                  "# TYPE shopd_http_db_seconds_total counter\n");
    for (size_t i = 0; i < m->n; i++) {
        struct route_stats *s = &m->stats[i];
        if (!atomic_load_explicit(&s->count, memory_order_relaxed))
            continue;
        route_label(m, i, label, sizeof label);
        buf_printf(out, "shopd_http_db_seconds_total{route=\"%s\"} %.6f\n", label,
                   (double)atomic_load(&s->db_ns) / 1e9);
    }
    buf_puts(out, "# HELP shopd_stock_conflicts_total Requests refused (409) for want of stock:\n"
                  "# a cart line or a checkout's lines short, a flash sale sold out; by route.\n"
                  "# TYPE shopd_stock_conflicts_total counter\n");
    for (size_t i = 0; i < m->n; i++) {
        uint64_t v = atomic_load_explicit(&m->stats[i].stock_conflicts, memory_order_relaxed);
        if (!v)
            continue;
        route_label(m, i, label, sizeof label);
        buf_printf(out, "shopd_stock_conflicts_total{route=\"%s\"} %llu\n", label,
                   (unsigned long long)v);
    }
}
