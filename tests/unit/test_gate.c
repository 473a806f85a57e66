/* Unit tests for util/gate.c: width, arrival order, time limits. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "util/clock.h"
#include "util/gate.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(gate, lets_in_as_many_as_its_width_at_once)
{
    struct gate g;
    gate_init(&g, 2);
    cr_assert(gate_enter(&g, 0));
    cr_assert(gate_enter(&g, 0));
    int64_t t0 = clock_mono_ns();
    cr_assert_not(gate_enter(&g, 50), "a third caller waits, then gives up");
    cr_assert_geq(clock_mono_ns() - t0, 50 * 1000000LL);
    gate_leave(&g);
    cr_assert(gate_enter(&g, 0), "a place freed is a place taken");
    gate_leave(&g);
    gate_leave(&g);
    cr_assert_eq(g.inside, 0);
    gate_destroy(&g);
}

/* Waiters queued one after another are let in in the same order. */
struct queued {
    struct gate *g;
    int me;
    int *order, *norder;
    pthread_mutex_t *mu;
};

static void *wait_turn(void *arg)
{
    struct queued *q = arg;
    if (!gate_enter(q->g, 5000))
        return NULL;
    pthread_mutex_lock(q->mu);
    q->order[(*q->norder)++] = q->me;
    pthread_mutex_unlock(q->mu);
    gate_leave(q->g);
    return NULL;
}

Test(gate, serves_waiters_in_arrival_order)
{
    struct gate g;
    gate_init(&g, 1);
    cr_assert(gate_enter(&g, 0));
    enum { N = 8 };
    pthread_t t[N];
    struct queued q[N];
    int order[N], norder = 0;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < N; i++) {
        q[i] = (struct queued){&g, i, order, &norder, &mu};
        pthread_create(&t[i], NULL, wait_turn, &q[i]);
        while (gate_waiting(&g) < i + 1) /* each is queued before the next arrives */
            sleep_ms(1);
    }
    gate_leave(&g);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(norder, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(order[i], i, "waiter %d came in %d-th", order[i], i);
    cr_assert_eq(g.inside, 0);
    gate_destroy(&g);
}

/* A waiter that gave up leaves the queue: the one behind it is next. */
static void *give_up(void *arg)
{
    return (void *)(intptr_t)gate_enter(arg, 30);
}

static void *wait_long(void *arg)
{
    bool in = gate_enter(arg, 5000);
    if (in)
        gate_leave(arg);
    return (void *)(intptr_t)in;
}

Test(gate, a_waiter_that_gives_up_leaves_the_queue)
{
    struct gate g;
    gate_init(&g, 1);
    cr_assert(gate_enter(&g, 0));
    pthread_t quitter, stayer;
    pthread_create(&quitter, NULL, give_up, &g);
    for (int k = 0; k < 1000 && gate_waiting(&g) < 1; k++) /* or it has given up already */
        sleep_ms(1);
    pthread_create(&stayer, NULL, wait_long, &g);
    void *r;
    pthread_join(quitter, &r);
    cr_assert_eq((intptr_t)r, 0);
    gate_leave(&g);
    pthread_join(stayer, &r);
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(g.inside, 0);
    cr_assert_null(g.head);
    gate_destroy(&g);
}
