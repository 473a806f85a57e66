/* gate.c — a FIFO counting gate with a time limit (gate.h).
 *
 * Each waiter sleeps on its own condition variable in a list, so leaving
 * hands the place to exactly the oldest waiter (a shared condition variable
 * would wake whichever thread the scheduler picks). The place is handed
 * over, not freed and re-taken: a newcomer cannot overtake the queue. */
#include "util/gate.h"

#include <errno.h>
#include <time.h>

struct gate_waiter {
    pthread_cond_t cv;
    bool admitted;
    struct gate_waiter *next;
};

void gate_init(struct gate *g, int width)
{
    pthread_mutex_init(&g->mu, NULL);
    g->inside = 0;
    g->width = width < 1 ? 1 : width;
    g->head = g->tail = NULL;
}

void gate_destroy(struct gate *g)
{
    pthread_mutex_destroy(&g->mu);
}

static void unlink_waiter(struct gate *g, struct gate_waiter *w)
{
    struct gate_waiter **p = &g->head, *prev = NULL;
    while (*p && *p != w) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return;
    *p = w->next;
    if (g->tail == w)
        g->tail = prev;
}

bool gate_enter(struct gate *g, int64_t timeout_ms)
{
    pthread_mutex_lock(&g->mu);
    if (g->inside < g->width && !g->head) {
        g->inside++;
        pthread_mutex_unlock(&g->mu);
        return true;
    }
    struct gate_waiter w = {.admitted = false, .next = NULL};
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &attr);
    pthread_condattr_destroy(&attr);
    if (g->tail)
        g->tail->next = &w;
    else
        g->head = &w;
    g->tail = &w;

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(timeout_ms / 1000);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (!w.admitted && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w.cv, &g->mu, &until);
    if (!w.admitted) /* timed out, still queued: leave the queue */
        unlink_waiter(g, &w);
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&w.cv);
    return w.admitted;
}

void gate_leave(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    struct gate_waiter *w = g->head;
    if (w) { /* the place passes to the oldest waiter: `inside` is unchanged */
        g->head = w->next;
        if (!g->head)
            g->tail = NULL;
        w->admitted = true;
        pthread_cond_signal(&w->cv);
    } else {
        g->inside--;
    }
    pthread_mutex_unlock(&g->mu);
}

int gate_waiting(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    int n = 0;
    for (const struct gate_waiter *w = g->head; w; w = w->next)
        n++;
    pthread_mutex_unlock(&g->mu);
    return n;
}
