/* evwindow.c — the outbox events read last, shared by the consumers
 * (evwindow.h). A ring of consecutive events; positions ascend, so finding
 * one is a binary search. */
#include "work/evwindow.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/xalloc.h"

struct evwindow {
    pthread_mutex_t mu;
    struct window_event *v; /* a ring of `cap` */
    int cap, first, n;
    struct outbox_pos base; /* the position just before the first event */
};

struct evwindow *evwindow_new(int capacity)
{
    struct evwindow *w = xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    w->cap = capacity > 0 ? capacity : 1;
    w->v = xcalloc((size_t)w->cap, sizeof *w->v);
    return w;
}

static struct window_event *at(const struct evwindow *w, int i)
{
    return &w->v[(w->first + i) % w->cap];
}

static void drop_first(struct evwindow *w)
{
    struct window_event *e = at(w, 0);
    w->base = e->pos;
    free(e->topic);
    free(e->payload);
    w->first = (w->first + 1) % w->cap;
    w->n--;
}

void evwindow_free(struct evwindow *w)
{
    if (!w)
        return;
    while (w->n)
        drop_first(w);
    free(w->v);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* The index of the first event after `from`, or -1 when the window does
 * not hold the events right after it. */
static int after(const struct evwindow *w, struct outbox_pos from)
{
    if (w->n == 0)
        return -1;
    if (outbox_pos_cmp(from, w->base) == 0)
        return 0;
    int lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = outbox_pos_cmp(at(w, mid)->pos, from);
        if (c == 0)
            return mid + 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int evwindow_read(struct evwindow *w, struct outbox_pos from, int max,
                  void (*take)(void *cls, const struct window_event *ev), void *cls)
{
    pthread_mutex_lock(&w->mu);
    int i = after(w, from), k = 0;
    for (; i >= 0 && i < w->n && k < max; i++, k++)
        take(cls, at(w, i));
    pthread_mutex_unlock(&w->mu);
    return i < 0 ? -1 : k;
}

void evwindow_add(struct evwindow *w, struct outbox_pos from, const struct window_event *evs,
                  int n)
{
    pthread_mutex_lock(&w->mu);
    int i = after(w, from), keep = 0; /* evs[keep..] are new to the window */
    if (i >= 0) {
        keep = w->n - i < n ? w->n - i : n; /* the same events, already held */
    } else if (w->n > 0 && outbox_pos_cmp(from, w->base) < 0) {
        keep = n; /* a read behind the window: it stays as it is */
    } else {
        while (w->n) /* ahead of the window, or apart from it: start again here */
            drop_first(w);
        w->base = from;
    }
    for (int k = 0; k < n; k++) {
        if (k < keep) {
            free(evs[k].topic);
            free(evs[k].payload);
            continue;
        }
        if (w->n == w->cap)
            drop_first(w);
        *at(w, w->n) = evs[k];
        w->n++;
    }
    pthread_mutex_unlock(&w->mu);
}
