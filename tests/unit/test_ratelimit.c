/* Unit tests for http/ratelimit.c: the bucket arithmetic on a synthetic
 * clock, the bounded table under a flood of clients, the lock-free global
 * bucket under threads, and the configuration switches. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/ratelimit.h"

#define S 1000000000LL

Test(ratelimit, bursts_then_refills_at_the_rate)
{
    setenv("SHOPD_RATE_CHECKOUT_USER", "10/5", 1);
    struct ratelimit *rl = ratelimit_new(true);
    int64_t t = 1000 * S;
    for (int i = 0; i < 5; i++) {
        struct rl_result r = {0};
        cr_assert(ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 42, t, &r));
        cr_assert_eq(r.n, 1);
        cr_assert_eq(r.p[0].quota, 5);
        cr_assert_eq(r.p[0].window_s, 1);
        cr_assert_eq(r.p[0].remaining, 4 - i);
    }
    struct rl_result r = {0};
    cr_assert_not(ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 42, t, &r));
    cr_assert_eq(r.retry_after_s, 1);
    cr_assert_eq(r.p[0].remaining, 0);
    /* Another user is a bucket of its own. */
    cr_assert(ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 43, t, &(struct rl_result){0}));
    /* One token comes back every 100 ms. */
    cr_assert_not(
        ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 42, t + S / 20, &(struct rl_result){0}));
    cr_assert(ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 42, t + S / 10, &(struct rl_result){0}));
    cr_assert_not(
        ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 42, t + S / 10, &(struct rl_result){0}));
    /* After half a second the bucket is full again. */
    r = (struct rl_result){0};
    cr_assert(ratelimit_take(rl, RATE_CHECKOUT, RL_USER, 42, t + S / 10 + S / 2, &r));
    cr_assert_eq(r.p[0].remaining, 4);
    char policy[128], state[128];
    ratelimit_format(&r, policy, sizeof policy, state, sizeof state);
    cr_assert_str_eq(policy, "\"user\";q=5;w=1");
    cr_assert_str_eq(state, "\"user\";r=4;t=1");
    /* Unlimited entries admit without a trace. */
    r = (struct rl_result){0};
    cr_assert(ratelimit_take(rl, RATE_READ, RL_USER, 42, t, &r));
    cr_assert_eq(r.n, 0);
    ratelimit_free(rl);
}

Test(ratelimit, a_flood_of_clients_neither_grows_the_table_nor_frees_a_limited_one)
{
    setenv("SHOPD_RATE_QUEUE_IP", "1/3", 1);
    struct ratelimit *rl = ratelimit_new(true);
    int64_t t = 5000 * S;
    uint64_t abuser = ratelimit_key("203.0.113.7");
    for (int i = 0; i < 3; i++)
        cr_assert(ratelimit_take(rl, RATE_QUEUE, RL_IP, abuser, t, &(struct rl_result){0}));
    char ip[32];
    for (int i = 0; i < 200000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        cr_assert(ratelimit_take(rl, RATE_QUEUE, RL_IP, ratelimit_key(ip), t + i,
                                 &(struct rl_result){0}));
    }
    /* Their buckets are fuller than the abuser's: theirs were the ones reused. */
    cr_assert_not(
        ratelimit_take(rl, RATE_QUEUE, RL_IP, abuser, t + 200000, &(struct rl_result){0}));
    ratelimit_free(rl);
}

struct hammer {
    struct ratelimit *rl;
    int64_t t;
    int admitted;
};

static void *hammer(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 5000; i++)
        h->admitted +=
            ratelimit_take(h->rl, RATE_SEARCH, RL_GLOBAL, 0, h->t, &(struct rl_result){0});
    return NULL;
}

Test(ratelimit, the_global_bucket_admits_exactly_its_burst_under_threads)
{
    setenv("SHOPD_RATE_SEARCH_GLOBAL", "1/250", 1);
    struct ratelimit *rl = ratelimit_new(true);
    struct hammer h[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.rl = rl, .t = 77 * S};
        pthread_create(&th[i], NULL, hammer, &h[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += h[i].admitted;
    }
    cr_assert_eq(total, 250);
    ratelimit_free(rl);
}

Test(ratelimit, switched_off_or_misconfigured)
{
    setenv("SHOPD_RATE_WRITE_IP", "1/1", 1);
    struct ratelimit *off = ratelimit_new(false);
    struct rl_result r = {0};
    for (int i = 0; i < 10; i++)
        cr_assert(ratelimit_take(off, RATE_WRITE, RL_IP, 1, S, &r));
    cr_assert_eq(r.n, 0);
    ratelimit_free(off);

    const char *bad[] = {"fast", "10", "10/", "/5", "-1/5", "5/0", "5/x", "1e99/5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("SHOPD_RATE_WRITE_IP", bad[i], 1);
        struct ratelimit *rl = ratelimit_new(true);
        r = (struct rl_result){0};
        cr_assert(ratelimit_take(rl, RATE_WRITE, RL_IP, 1, S, &r));
        cr_assert_eq(r.p[0].quota, 40000, "%s falls back to the default", bad[i]);
        ratelimit_free(rl);
    }
    setenv("SHOPD_RATE_WRITE_IP", "0/0", 1); /* explicitly unlimited */
    struct ratelimit *rl = ratelimit_new(true);
    r = (struct rl_result){0};
    cr_assert(ratelimit_take(rl, RATE_WRITE, RL_IP, 1, S, &r));
    cr_assert_eq(r.n, 0);
    ratelimit_free(rl);
}

Test(ratelimit, a_global_limit_is_shared_by_the_processes_alive)
{
    setenv("SHOPD_RATE_WRITE_GLOBAL", "100/60", 1);
    struct ratelimit *rl = ratelimit_new(true);
    ratelimit_set_processes(rl, 3);
    int64_t t = 500 * S;
    int admitted = 0;
    for (int i = 0; i < 100; i++)
        admitted += ratelimit_take(rl, RATE_WRITE, RL_GLOBAL, 0, t, &(struct rl_result){0});
    cr_assert_eq(admitted, 20, "a third of the burst, not %d", admitted);
    /* A third of the rate: one token per 30 ms. */
    cr_assert_not(ratelimit_take(rl, RATE_WRITE, RL_GLOBAL, 0, t + S / 50, &(struct rl_result){0}));
    cr_assert(ratelimit_take(rl, RATE_WRITE, RL_GLOBAL, 0, t + S / 30 + 1, &(struct rl_result){0}));
    /* Alone again: the whole limit. */
    ratelimit_set_processes(rl, 1);
    admitted = 0;
    for (int i = 0; i < 100; i++)
        admitted += ratelimit_take(rl, RATE_WRITE, RL_GLOBAL, 0, t + 10 * S, &(struct rl_result){0});
    cr_assert_eq(admitted, 60);
    ratelimit_free(rl);
    unsetenv("SHOPD_RATE_WRITE_GLOBAL");
}
