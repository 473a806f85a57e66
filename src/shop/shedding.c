/* shedding.c — the level, its monitor and its setting (shedding.h). */
#include "shop/shedding.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define HIST_BUCKETS 26 /* bucket k: reads of at most 2^k µs (k = 25: ~33 s and more) */
#define SETTING_KEY  "load_shedding"
#define REREAD_MS    1000

struct shedding {
    struct shop *shop;
    _Atomic int level;
    _Atomic bool auto_mode;
    _Atomic int64_t changed_at;
    _Atomic uint64_t hist[HIST_BUCKETS];
    uint64_t seen[HIST_BUCKETS]; /* the monitor's copy at the last sample */
    _Atomic int64_t p99_us, queue;
    int64_t over_since, calm_since, next_reread; /* monitor only */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static const char *level_name(int level)
{
    static const char *const names[] = {"normal", "no_recommendations", "lean", "essential"};
    return level >= 0 && level <= SHED_MAX_LEVEL ? names[level] : "?";
}

int shop_shed_level(const struct shop *shop)
{
    return shop && shop->shedding
               ? atomic_load_explicit(&shop->shedding->level, memory_order_relaxed)
               : 0;
}

static void set_level(struct shedding *s, int level, const char *why)
{
    int old = atomic_exchange(&s->level, level);
    if (old == level)
        return;
    atomic_store(&s->changed_at, clock_now_ms());
    log_event(LOG_WARN, "shed.level", "{s:i, s:i, s:s, s:s, s:s, s:f, s:I}", "level", level, "from",
              old, "name", level_name(level), "mode",
              atomic_load(&s->auto_mode) ? "auto" : "manual", "why", why, "read_p99_ms",
              (double)atomic_load(&s->p99_us) / 1000.0, "writer_queue",
              (json_int_t)atomic_load(&s->queue));
}

/* The shop's setting: "<level> manual|auto". False when absent or unreadable. */
static bool read_setting(struct shop *shop, int *level, bool *auto_mode)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT value FROM settings WHERE key = ?");
    bool ok = false;
    if (st) {
        stmt_bind_text(st, 1, SETTING_KEY);
        if (stmt_step(st) == STMT_ROW) {
            char mode[16] = "";
            ok = sscanf(stmt_text(st, 0), "%d %15s", level, mode) == 2 && *level >= 0 &&
                 *level <= SHED_MAX_LEVEL;
            *auto_mode = !strcmp(mode, "auto");
        }
    }
    db_release(db);
    return ok;
}

static void apply_setting(struct shedding *s, int level, bool auto_mode)
{
    bool was_auto = atomic_exchange(&s->auto_mode, auto_mode);
    if (!auto_mode)
        set_level(s, level, "manual");
    else if (!was_auto)
        set_level(s, level, "auto mode starts here");
}

struct shedding *shedding_new(struct shop *shop)
{
    struct shedding *s = xcalloc(1, sizeof *s);
    s->shop = shop;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int level;
    bool auto_mode;
    /* The shop's stored setting wins; without one, SHOPD_SHED_LEVEL. */
    atomic_store(&s->level, (int)shop->cfg.shed_level);
    if (read_setting(shop, &level, &auto_mode)) {
        atomic_store(&s->auto_mode, auto_mode);
        atomic_store(&s->level, level);
    }
    return s;
}

void shedding_observe_read(struct shedding *s, int64_t dur_ns)
{
    if (!s)
        return;
    uint64_t us = dur_ns > 0 ? (uint64_t)dur_ns / 1000 : 0;
    int k = 0;
    while (k < HIST_BUCKETS - 1 && (1ull << k) < us)
        k++;
    atomic_fetch_add_explicit(&s->hist[k], 1, memory_order_relaxed);
}

/* The p99 (µs, a bucket's upper bound) of the reads since the last sample;
 * 0 when there were too few to say. */
static int64_t sample_p99(struct shedding *s)
{
    uint64_t d[HIST_BUCKETS], total = 0;
    for (int k = 0; k < HIST_BUCKETS; k++) {
        uint64_t now = atomic_load_explicit(&s->hist[k], memory_order_relaxed);
        d[k] = now - s->seen[k];
        s->seen[k] = now;
        total += d[k];
    }
    if (total < 5)
        return 0;
    uint64_t want = total - total / 100, acc = 0;
    for (int k = 0; k < HIST_BUCKETS; k++) {
        acc += d[k];
        if (acc >= want)
            return (int64_t)1 << k;
    }
    return (int64_t)1 << (HIST_BUCKETS - 1);
}

static void tick(struct shedding *s, int64_t now)
{
    const struct shop_config *cfg = &s->shop->cfg;
    int64_t p99 = sample_p99(s), queue = store_queue_peak(s->shop->store);
    atomic_store(&s->p99_us, p99);
    atomic_store(&s->queue, queue);
    if (now >= s->next_reread) {
        int level;
        bool auto_mode;
        if (read_setting(s->shop, &level, &auto_mode))
            apply_setting(s, level, auto_mode);
        s->next_reread = now + REREAD_MS;
    }
    if (!atomic_load(&s->auto_mode)) {
        s->over_since = s->calm_since = 0;
        return;
    }
    bool over = p99 > cfg->shed_p99_ms * 1000 || queue > cfg->shed_queue;
    bool calm = p99 * 100 < cfg->shed_p99_ms * 1000 * cfg->shed_exit_pct &&
                queue * 100 < cfg->shed_queue * cfg->shed_exit_pct;
    int level = atomic_load(&s->level);
    if (over) {
        s->calm_since = 0;
        if (!s->over_since)
            s->over_since = now;
        else if (now - s->over_since >= cfg->shed_enter_ms && level < cfg->shed_auto_max) {
            set_level(s, level + 1, p99 > cfg->shed_p99_ms * 1000 ? "read p99" : "writer queue");
            s->over_since = now; /* the next level needs as long again */
        }
    } else if (calm) {
        s->over_since = 0;
        if (!s->calm_since)
            s->calm_since = now;
        else if (now - s->calm_since >= cfg->shed_exit_ms && level > 0) {
            set_level(s, level - 1, "calm");
            s->calm_since = now;
        }
    } else {
        s->over_since = s->calm_since = 0; /* between the bands: hold */
    }
}

static void *monitor_main(void *arg)
{
    struct shedding *s = arg;
    pthread_setname_np(pthread_self(), "shedding");
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec until = clock_deadline(s->shop->cfg.shed_sample_ms);
        pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        tick(s, clock_mono_ns() / 1000000);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

enum shop_err shedding_start(struct shedding *s, struct problem *pb)
{
    if (pthread_create(&s->thread, NULL, monitor_main, s) != 0)
        return problem_set(pb, SHOP_INTERNAL, "cannot start the load-shedding monitor");
    s->started = true;
    return SHOP_OK;
}

void shedding_free(struct shedding *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void shedding_get(struct shop *shop, struct shed_state *out)
{
    struct shedding *s = shop->shedding;
    *out = (struct shed_state){0};
    if (!s)
        return;
    out->level = atomic_load(&s->level);
    out->auto_mode = atomic_load(&s->auto_mode);
    out->changed_at = atomic_load(&s->changed_at);
    out->read_p99_ms = (double)atomic_load(&s->p99_us) / 1000.0;
    out->writer_queue = atomic_load(&s->queue);
}

struct set_job {
    char value[32];
};

static enum shop_err set_write(struct db *db, void *arg, struct problem *pb)
{
    struct set_job *j = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO settings (key, value) VALUES (?, ?)"
                                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!st)
        return db_fail(db, pb, "saving the load-shedding setting");
    stmt_bind_text(st, 1, SETTING_KEY);
    stmt_bind_text(st, 2, j->value);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "saving the load-shedding setting");
    return SHOP_OK;
}

enum shop_err shedding_set(struct shop *shop, int level, bool auto_mode, struct problem *pb)
{
    if (level < 0 || level > SHED_MAX_LEVEL)
        return problem_field(pb, SHOP_INVALID, "level", "must be 0, 1, 2 or 3");
    struct set_job j;
    snprintf(j.value, sizeof j.value, "%d %s", level, auto_mode ? "auto" : "manual");
    if (store_write(shop->store, set_write, &j, pb) != SHOP_OK)
        return pb->err;
    if (shop->shedding)
        apply_setting(shop->shedding, level, auto_mode);
    return SHOP_OK;
}

bool shedding_route_allowed(int level, bool read, const char *pattern)
{
    if (level < 3 || read)
        return true;
    static const char *const essential[] = {
        "/v1/cart",     "/v1/orders", "/v1/flash-sales/", "/v1/admin/",
        "/v1/auth/",    "/v1/guest",  "/v1/me/addresses", "/v1/me/payment-methods",
        "/v1/carrier/", "/healthz",   "/readyz",          "/metrics",
    };
    for (size_t i = 0; i < sizeof essential / sizeof *essential; i++)
        if (!strncmp(pattern, essential[i], strlen(essential[i])))
            return true;
    return false;
}

void shedding_render_metrics(struct shedding *s, struct buf *out)
{
    if (!s)
        return;
    buf_printf(
        out,
        "# HELP shopd_shed_level Load-shedding level of this process (0 normal … 3).\n"
        "# TYPE shopd_shed_level gauge\n"
        "shopd_shed_level %d\n"
        "# HELP shopd_shed_auto 1 when the level moves by itself.\n"
        "# TYPE shopd_shed_auto gauge\n"
        "shopd_shed_auto %d\n"
        "# HELP shopd_shed_read_p99_seconds p99 of shopper reads over the last sample.\n"
        "# TYPE shopd_shed_read_p99_seconds gauge\n"
        "shopd_shed_read_p99_seconds %.6f\n"
        "# HELP shopd_shed_writer_queue Most writes waiting for a writer in the last sample.\n"
        "# TYPE shopd_shed_writer_queue gauge\n"
        "shopd_shed_writer_queue %lld\n",
        atomic_load(&s->level), atomic_load(&s->auto_mode) ? 1 : 0,
        (double)atomic_load(&s->p99_us) / 1e6, (long long)atomic_load(&s->queue));
}
