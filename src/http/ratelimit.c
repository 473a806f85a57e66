#include "http/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/config.h"
#include "util/xalloc.h"

/* ---- the table: the one place rates and bursts are set ------------------------- */

struct rl_rule {
    double rate;   /* tokens per second; 0: unlimited */
    int64_t burst; /* bucket size */
};

/* Sized for one shop on one machine. Benchmarks drive 60–100K reads a second
 * over loopback from one address, so the per-address read and search
 * buckets sit above that; what needs protecting from one client hogging it —
 * sign-ups and logins, checkout, the flash-sale queue — has per-user
 * buckets a person never empties and a script soon does. */
static const struct rl_rule defaults[RATE_CLASS_COUNT][RL_SCOPES] = {
    /*                   IP              USER          GLOBAL */
    [RATE_READ] = {{200000, 400000}, {0, 0}, {0, 0}},
    [RATE_WRITE] = {{20000, 40000}, {1000, 2000}, {0, 0}},
    [RATE_AUTH] = {{100, 3000}, {0, 0}, {0, 0}},
    [RATE_SEARCH] = {{50000, 100000}, {200, 400}, {0, 0}},
    [RATE_CHECKOUT] = {{5000, 20000}, {10, 50}, {0, 0}},
    [RATE_QUEUE] = {{20000, 100000}, {20, 60}, {0, 0}},
};

static const char *const class_names[RATE_CLASS_COUNT] = {
    [RATE_NONE] = "",       [RATE_READ] = "read",     [RATE_WRITE] = "write",
    [RATE_AUTH] = "auth",   [RATE_SEARCH] = "search", [RATE_CHECKOUT] = "checkout",
    [RATE_QUEUE] = "queue",
};

static const char *const scope_names[RL_SCOPES] = {"ip", "user", "global"};

const char *ratelimit_class_name(enum rate_class c)
{
    return (unsigned)c < RATE_CLASS_COUNT ? class_names[c] : "";
}

/* ---- cells ------------------------------------------------------------------------- */

#define SHARDS      64
#define SHARD_SLOTS 1024 /* 64K clients tracked at once, 1 MiB */
#define PROBES      8

struct cell {
    uint64_t key; /* 0: empty */
    int64_t tat;  /* theoretical arrival time of the next request, ns */
};

struct shard {
    pthread_mutex_t mu;
    struct cell cells[SHARD_SLOTS];
};

struct limit {
    int64_t interval;  /* ns per token; 0: unlimited */
    int64_t tolerance; /* interval × burst, ns */
    int64_t burst;
    int64_t window_s; /* seconds to refill an empty bucket */
};

struct ratelimit {
    bool enabled;
    struct limit limits[RATE_CLASS_COUNT][RL_SCOPES];
    _Atomic int64_t global_tat[RATE_CLASS_COUNT];
    _Atomic int processes; /* sharing the global limits */
    _Atomic uint64_t refused[RATE_CLASS_COUNT][RL_SCOPES];
    struct shard *shards;
};

struct ratelimit *ratelimit_new(bool enabled)
{
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->enabled = enabled;
    atomic_init(&rl->processes, 1);
    for (int c = RATE_READ; c < RATE_CLASS_COUNT; c++)
        for (int s = 0; s < RL_SCOPES; s++) {
            struct rl_rule r = defaults[c][s];
            config_rate(class_names[c], scope_names[s], &r.rate, &r.burst);
            struct limit *l = &rl->limits[c][s];
            if (r.rate <= 0 || r.burst <= 0)
                continue;
            double interval = 1e9 / r.rate;
            if (interval < 1)
                interval = 1;
            double tol = interval * (double)r.burst;
            l->interval = (int64_t)interval;
            l->tolerance = tol > 1e18 ? (int64_t)1e18 : (int64_t)tol;
            l->burst = r.burst;
            l->window_s = (int64_t)ceil((double)r.burst / r.rate);
            if (l->window_s < 1)
                l->window_s = 1;
        }
    rl->shards = xcalloc(SHARDS, sizeof *rl->shards);
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&rl->shards[i].mu, NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&rl->shards[i].mu);
    free(rl->shards);
    free(rl);
}

uint64_t ratelimit_key(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    x ^= x >> 33;
    return x;
}

static int64_t ceil_s(int64_t ns)
{
    return ns <= 0 ? 0 : (ns + 999999999) / 1000000000;
}

/* GCRA: admits when the bucket has a token, moving *tat on. With the
 * result's fields for the headers. */
static bool gcra(const struct limit *l, int64_t *tat, int64_t now, int64_t *remaining,
                 int64_t *reset_ns, int64_t *retry_ns)
{
    int64_t base = *tat > now ? *tat : now;
    int64_t next = base + l->interval;
    if (next - now > l->tolerance) {
        *retry_ns = next - l->tolerance - now;
        *remaining = 0;
        *reset_ns = *tat - now;
        return false;
    }
    *tat = next;
    *remaining = (l->tolerance - (next - now)) / l->interval;
    *reset_ns = next - now;
    return true;
}

bool ratelimit_take(struct ratelimit *rl, enum rate_class cls, enum rl_scope scope, uint64_t key,
                    int64_t now_ns, struct rl_result *res)
{
    if (!rl->enabled || cls <= RATE_NONE || cls >= RATE_CLASS_COUNT)
        return true;
    const struct limit *l = &rl->limits[cls][scope];
    if (!l->interval)
        return true;
    int64_t remaining = 0, reset = 0, retry = 0;
    bool ok;
    struct limit share;
    if (scope == RL_GLOBAL) {
        /* This process's share: the rate and the burst over the processes. */
        int n = atomic_load_explicit(&rl->processes, memory_order_relaxed);
        if (n > 1) {
            share = *l;
            share.interval = l->interval * n;
            share.burst = l->burst / n > 0 ? l->burst / n : 1;
            l = &share;
        }
        int64_t seen = atomic_load(&rl->global_tat[cls]), tat;
        do {
            tat = seen;
            ok = gcra(l, &tat, now_ns, &remaining, &reset, &retry);
        } while (ok && !atomic_compare_exchange_weak(&rl->global_tat[cls], &seen, tat));
    } else {
        uint64_t k = mix(key ^ ((uint64_t)cls << 56) ^ ((uint64_t)scope << 62)) | 1;
        struct shard *sh = &rl->shards[k % SHARDS];
        size_t home = (size_t)(k >> 32) % SHARD_SLOTS;
        pthread_mutex_lock(&sh->mu);
        struct cell *c = NULL, *victim = NULL;
        for (int i = 0; i < PROBES && !c; i++) {
            struct cell *x = &sh->cells[(home + (size_t)i) % SHARD_SLOTS];
            if (x->key == k)
                c = x;
            else if (!victim || (victim->key && (!x->key || x->tat < victim->tat)))
                victim = x; /* an empty slot, else the smallest tat */
        }
        if (!c) {
            /* A new client takes an empty slot, else the one whose bucket
             * refilled longest ago (an idle bucket is a full one). */
            c = victim;
            c->key = k;
            c->tat = 0;
        }
        ok = gcra(l, &c->tat, now_ns, &remaining, &reset, &retry);
        pthread_mutex_unlock(&sh->mu);
    }
    if (res->n < RL_SCOPES) {
        res->p[res->n].scope = scope;
        res->p[res->n].quota = l->burst;
        res->p[res->n].window_s = l->window_s;
        res->p[res->n].remaining = remaining;
        res->p[res->n].reset_s = ceil_s(reset);
        res->n++;
    }
    if (!ok) {
        int64_t s = ceil_s(retry);
        res->retry_after_s = (int)(s < 1 ? 1 : s > 86400 ? 86400 : s);
        atomic_fetch_add_explicit(&rl->refused[cls][scope], 1, memory_order_relaxed);
    }
    return ok;
}

void ratelimit_format(const struct rl_result *res, char *policy, size_t policy_len, char *state,
                      size_t state_len)
{
    size_t a = 0, b = 0;
    policy[0] = state[0] = '\0';
    for (int i = 0; i < res->n; i++) {
        const char *sep = i ? ", " : "";
        int n = snprintf(policy + a, policy_len - a, "%s\"%s\";q=%lld;w=%lld", sep,
                         scope_names[res->p[i].scope], (long long)res->p[i].quota,
                         (long long)res->p[i].window_s);
        int m = snprintf(state + b, state_len - b, "%s\"%s\";r=%lld;t=%lld", sep,
                         scope_names[res->p[i].scope], (long long)res->p[i].remaining,
                         (long long)res->p[i].reset_s);
        if (n < 0 || m < 0 || (size_t)n >= policy_len - a || (size_t)m >= state_len - b)
            break;
        a += (size_t)n;
        b += (size_t)m;
    }
}

void ratelimit_set_processes(struct ratelimit *rl, int n)
{
    atomic_store(&rl->processes, n < 1 ? 1 : n > 1000 ? 1000 : n);
}

void ratelimit_render_metrics(struct ratelimit *rl, struct buf *out)
{
    buf_puts(out, "# HELP shopd_ratelimit_refused_total Requests answered 429, by rate class and"
                  " bucket.\n# TYPE shopd_ratelimit_refused_total counter\n");
    for (int c = RATE_READ; c < RATE_CLASS_COUNT; c++)
        for (int s = 0; s < RL_SCOPES; s++)
            if (rl->limits[c][s].interval)
                buf_printf(out, "shopd_ratelimit_refused_total{class=\"%s\",scope=\"%s\"} %llu\n",
                           class_names[c], scope_names[s],
                           (unsigned long long)atomic_load(&rl->refused[c][s]));
}
