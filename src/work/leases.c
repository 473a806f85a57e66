#include "work/leases.h"

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

#define MAX_LEASES 32

struct lease {
    char name[64];
    _Atomic int64_t valid_until; /* monotonic ms; 0: not held */
    _Atomic uint64_t taken;
};

struct leases {
    struct shop *shop;
    pthread_t thread;
    pthread_mutex_t mu; /* guards the list and the wake-up */
    pthread_cond_t cv;
    bool stop, kicked;
    struct lease *list[MAX_LEASES];
    int n;
    int64_t started_at;
    _Atomic int processes; /* alive at the last round */
    void (*on_processes)(void *cls, int n);
    void *on_processes_cls;
};

/* One keeper round, in one write: beat, renew, take. */
struct round_job {
    struct leases *ls;
    int64_t now, ttl;
    struct lease *want[MAX_LEASES];
    int n;
    bool held[MAX_LEASES]; /* out */
    int processes;         /* out: alive, by their heartbeats */
};

static enum shop_err round_write(struct db *db, void *arg, struct problem *pb)
{
    struct round_job *j = arg;
    int64_t me = j->ls->shop->instance_id;
    struct stmt *st = db_prepare(db, "INSERT INTO instances (id, started_at, heartbeat_at)"
                                     " VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
                                     " SET heartbeat_at = excluded.heartbeat_at");
    if (!st)
        return db_fail(db, pb, "beating");
    stmt_bind_i64(st, 1, me);
    stmt_bind_i64(st, 2, j->ls->started_at);
    stmt_bind_i64(st, 3, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "beating");
    /* Processes gone for a day are forgotten (the table stays small). */
    st = db_prepare(db, "DELETE FROM instances WHERE heartbeat_at < ?");
    if (!st)
        return db_fail(db, pb, "beating");
    stmt_bind_i64(st, 1, j->now - 86400000);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "beating");
    st = db_prepare(db, "SELECT count(*) FROM instances WHERE heartbeat_at >= ?");
    if (!st)
        return db_fail(db, pb, "counting processes");
    stmt_bind_i64(st, 1, j->now - j->ttl);
    j->processes = stmt_step(st) == STMT_ROW ? (int)stmt_i64(st, 0) : 1;
    for (int i = 0; i < j->n; i++) {
        /* Ours to renew, or free to take once expired. */
        st = db_prepare(db, "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)"
                            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                            " expires_at = excluded.expires_at"
                            " WHERE leases.holder = excluded.holder OR leases.expires_at < ?4");
        if (!st)
            return db_fail(db, pb, "renewing leases");
        stmt_bind_text(st, 1, j->want[i]->name);
        stmt_bind_i64(st, 2, me);
        stmt_bind_i64(st, 3, j->now + j->ttl);
        stmt_bind_i64(st, 4, j->now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "renewing leases");
        j->held[i] = db_changes(db) > 0;
    }
    return SHOP_OK;
}

/* Runs one round and publishes what this process now holds. */
static enum shop_err round_run(struct leases *ls, struct problem *pb)
{
    struct round_job j = {.ls = ls, .ttl = ls->shop->cfg.lease_ms};
    pthread_mutex_lock(&ls->mu);
    j.n = ls->n;
    memcpy(j.want, ls->list, sizeof j.want);
    pthread_mutex_unlock(&ls->mu);
    int64_t mono = clock_mono_ns() / 1000000;
    j.now = clock_now_ms();
    enum shop_err e = store_write(ls->shop->store, round_write, &j, pb);
    /* Held until two thirds of the lease from before the write: others may
     * take it only once the whole lease has passed without a renewal. */
    int64_t until = mono + j.ttl * 2 / 3;
    for (int i = 0; i < j.n; i++) {
        struct lease *l = j.want[i];
        bool was = atomic_load(&l->valid_until) > mono;
        if (e == SHOP_OK && j.held[i]) {
            atomic_store(&l->valid_until, until);
            if (!was) {
                atomic_fetch_add(&l->taken, 1);
                log_event(LOG_INFO, "lease.taken", "{s:s}", "lease", l->name);
            }
        } else if (e == SHOP_OK) {
            atomic_store(&l->valid_until, 0); /* another process has it */
        }
        /* A failed write keeps what was held: it runs out on its own. */
    }
    if (e == SHOP_OK && j.processes > 0) {
        int before = atomic_exchange(&ls->processes, j.processes);
        pthread_mutex_lock(&ls->mu);
        if (ls->on_processes && before != j.processes)
            ls->on_processes(ls->on_processes_cls, j.processes);
        pthread_mutex_unlock(&ls->mu);
    }
    return e;
}

static void *keeper_main(void *arg)
{
    pthread_setname_np(pthread_self(), "leases");
    struct leases *ls = arg;
    int64_t period = ls->shop->cfg.lease_ms / 3;
    pthread_mutex_lock(&ls->mu);
    while (!ls->stop) {
        if (!ls->kicked) {
            struct timespec ts = clock_deadline(period);
            pthread_cond_timedwait(&ls->cv, &ls->mu, &ts);
        }
        ls->kicked = false;
        if (ls->stop)
            break;
        pthread_mutex_unlock(&ls->mu);
        struct problem pb = {0};
        if (round_run(ls, &pb) != SHOP_OK)
            log_event(LOG_WARN, "lease.renew_failed", "{s:s}", "detail", pb.detail);
        problem_clear(&pb);
        pthread_mutex_lock(&ls->mu);
    }
    pthread_mutex_unlock(&ls->mu);
    return NULL;
}

struct leases *leases_start(struct shop *shop, struct problem *pb)
{
    struct leases *ls = xcalloc(1, sizeof *ls);
    ls->shop = shop;
    ls->started_at = clock_now_ms();
    atomic_init(&ls->processes, 1);
    pthread_mutex_init(&ls->mu, NULL);
    pthread_cond_init(&ls->cv, NULL);
    if (round_run(ls, pb) != SHOP_OK || pthread_create(&ls->thread, NULL, keeper_main, ls) != 0) {
        if (pb->err == SHOP_OK)
            problem_set(pb, SHOP_INTERNAL, "cannot start the lease keeper");
        pthread_mutex_destroy(&ls->mu);
        pthread_cond_destroy(&ls->cv);
        free(ls);
        return NULL;
    }
    return ls;
}

struct lease *leases_want(struct leases *ls, const char *name)
{
    if (!ls)
        return NULL;
    pthread_mutex_lock(&ls->mu);
    for (int i = 0; i < ls->n; i++)
        if (!strcmp(ls->list[i]->name, name)) {
            pthread_mutex_unlock(&ls->mu);
            return ls->list[i];
        }
    if (ls->n == MAX_LEASES)
        abort(); /* a fixed set of roles: more is a bug */
    struct lease *l = xcalloc(1, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    ls->list[ls->n++] = l;
    /* The keeper's next round now rather than a period later: a process
     * alone starts its roles at once, and the roles that ask while the shop
     * starts share a round or two. */
    ls->kicked = true;
    pthread_cond_signal(&ls->cv);
    pthread_mutex_unlock(&ls->mu);
    return l;
}

bool lease_held(const struct lease *l)
{
    return !l || atomic_load(&l->valid_until) > clock_mono_ns() / 1000000;
}

uint64_t lease_taken(const struct lease *l)
{
    return l ? atomic_load(&l->taken) : 1;
}

static enum shop_err release_write(struct db *db, void *arg, struct problem *pb)
{
    struct leases *ls = arg;
    struct stmt *st = db_prepare(db, "DELETE FROM leases WHERE holder = ?");
    if (!st)
        return db_fail(db, pb, "giving leases up");
    stmt_bind_i64(st, 1, ls->shop->instance_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "giving leases up");
    st = db_prepare(db, "DELETE FROM instances WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "giving leases up");
    stmt_bind_i64(st, 1, ls->shop->instance_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "giving leases up");
}

void leases_stop(struct leases *ls)
{
    if (!ls)
        return;
    pthread_mutex_lock(&ls->mu);
    ls->stop = true;
    pthread_cond_signal(&ls->cv);
    pthread_mutex_unlock(&ls->mu);
    pthread_join(ls->thread, NULL);
    struct problem pb = {0};
    if (store_write(ls->shop->store, release_write, ls, &pb) != SHOP_OK)
        log_event(LOG_WARN, "lease.release_failed", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    for (int i = 0; i < ls->n; i++)
        free(ls->list[i]);
    pthread_mutex_destroy(&ls->mu);
    pthread_cond_destroy(&ls->cv);
    free(ls);
}

int leases_processes(struct leases *ls)
{
    return ls ? atomic_load(&ls->processes) : 1;
}

void leases_on_processes(struct leases *ls, void (*fn)(void *cls, int n), void *cls)
{
    if (!ls)
        return;
    pthread_mutex_lock(&ls->mu);
    ls->on_processes = fn;
    ls->on_processes_cls = cls;
    if (fn)
        fn(cls, atomic_load(&ls->processes));
    pthread_mutex_unlock(&ls->mu); /* held: once unset, fn is never called again */
}

void leases_render_metrics(struct leases *ls, struct buf *out)
{
    if (!ls)
        return;
    buf_printf(out,
               "# HELP shopd_processes Processes of the shop alive (by their heartbeats).\n"
               "# TYPE shopd_processes gauge\nshopd_processes %d\n",
               atomic_load(&ls->processes));
    buf_puts(out, "# HELP shopd_lease_held Whether this process holds a role's lease.\n"
                  "# TYPE shopd_lease_held gauge\n");
    pthread_mutex_lock(&ls->mu);
    for (int i = 0; i < ls->n; i++)
        buf_printf(out, "shopd_lease_held{name=\"%s\"} %d\n", ls->list[i]->name,
                   lease_held(ls->list[i]) ? 1 : 0);
    pthread_mutex_unlock(&ls->mu);
}
