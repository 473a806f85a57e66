/* notify_pump.c — the notification engine's pump (notify_worker.h): it
 * queues rows whose attempt is due and, when the in-flight set has room,
 * creates the next chunk of a running fan-out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "work/leases.h"
#include "work/notify_engine.h"

/* With mu held; the caller has checked there is room (inflight.n <
 * inflight_max, and ring_cap == inflight_max). */
static void queue_push(struct notify_engine *e, const struct notify_row *r)
{
    e->ring[(e->ring_head + e->ring_len) % e->ring_cap] = *r;
    e->ring_len++;
    inflight_add(&e->inflight, r->id);
}

/* Queues rows that are not in flight yet (their commit is done); wakes the
 * senders. Returns how many were queued. The pump only creates a chunk when
 * the set has room for all its rows, so none is left out; if one were, it
 * would stay pending and be picked up when its lease ran out. */
static int enqueue(struct notify_engine *e, const struct notify_row *rows, int n)
{
    int q = 0;
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < n && (int)e->inflight.n < e->inflight_max; i++)
        if (!inflight_has(&e->inflight, rows[i].id)) {
            queue_push(e, &rows[i]);
            q++;
        }
    pthread_cond_broadcast(&e->work_cv);
    pthread_mutex_unlock(&e->mu);
    atomic_fetch_add(&e->queued, (uint64_t)q);
    return q;
}

/* Room in the in-flight set. */
static int room(struct notify_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int r = e->inflight_max - (int)e->inflight.n;
    pthread_mutex_unlock(&e->mu);
    return r;
}

/* Waits up to `ms` for a kick, freed room or stop. */
static void pump_wait(struct notify_engine *e, int64_t ms)
{
    struct timespec ts = clock_deadline(ms);
    pthread_mutex_lock(&e->mu);
    if (!e->kicked && !e->stop)
        pthread_cond_timedwait(&e->pump_cv, &e->mu, &ts);
    pthread_mutex_unlock(&e->mu);
}

/* Waits `ms` whole, or until stop: the pause between fan-out chunks
 * (SHOPD_FANOUT_PAUSE_MS), which senders freeing room must not cut short. */
static void pump_pause(struct notify_engine *e, int64_t ms)
{
    struct timespec ts = clock_deadline(ms);
    pthread_mutex_lock(&e->mu);
    while (!e->stop && pthread_cond_timedwait(&e->pump_cv, &e->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&e->mu);
}

/* Queues rows whose attempt is due and that are not in flight. The set's
 * lock is taken before the read starts, so no sender can take a row out of
 * the set between our snapshot and our check (notify_worker.h).
 *
 * Rows a fan-out queued itself are due only when their lease runs out, so
 * in steady state this touches failed rows whose backoff is over and
 * nothing else. Right after start (`e->recovering`) nothing is in flight in
 * this process, so every row due within a lease — a crashed run's queue,
 * and failed rows a little early — is taken at once, until a scan finds no
 * more than it had room for. */
static void scan_due(struct notify_engine *e)
{
    struct db *db = store_db(e->shop->store);
    int queued = 0;
    bool exhausted = true;
    pthread_mutex_lock(&e->mu);
    int free_slots = e->inflight_max - (int)e->inflight.n;
    struct stmt *st = NULL;
    if (free_slots <= 0)
        exhausted = false;
    else
        st = db_prepare(db, "SELECT id, user_id, message_id, channel, attempts FROM notifications"
                            " WHERE state IN (0, 2) AND next_at <= ? ORDER BY next_at LIMIT ?");
    if (st) {
        /* Every row's lease ends within notify_lease_ms of its creation. */
        stmt_bind_i64(st, 1, clock_now_ms() + (e->recovering ? e->cfg->notify_lease_ms : 0));
        stmt_bind_i64(st, 2, (int64_t)e->inflight.n + free_slots);
        int rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            struct notify_row r = {.id = stmt_i64(st, 0),
                                   .user_id = stmt_i64(st, 1),
                                   .message_id = stmt_i64(st, 2),
                                   .channel = (int32_t)stmt_i64(st, 3),
                                   .attempts = (int32_t)stmt_i64(st, 4)};
            if (inflight_has(&e->inflight, r.id))
                continue;
            if (queued == free_slots) {
                exhausted = false;
                break;
            }
            queue_push(e, &r);
            queued++;
        }
        if (rc != STMT_ROW && rc != STMT_DONE)
            exhausted = false; /* a failed read: the rows due may not all have been seen */
    }
    db_release(db);
    if (st && exhausted)
        e->recovering = false;
    if (queued)
        pthread_cond_broadcast(&e->work_cv);
    pthread_mutex_unlock(&e->mu);
    atomic_fetch_add(&e->queued, (uint64_t)queued);
}

void *notify_pump_main(void *arg)
{
    struct notify_engine *e = arg;
    pthread_setname_np(pthread_self(), "notify-pump");
    notify_background_priority(e->cfg->notify_nice);
    const struct shop_config *cfg = e->cfg;
    int need = cfg->fanout_chunk * NOTIFY_CHANNELS; /* rows one chunk may create */
    struct notify_rows rows = {0};
    struct fanout f;
    bool have = false;
    int64_t next_scan = 0, fail_until = 0;
    uint64_t taken = lease_taken(e->lease);
    while (!atomic_load(&e->shop->stopping)) {
        pthread_mutex_lock(&e->mu);
        bool kicked = e->kicked, stop = e->stop;
        e->kicked = false;
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
        if (!lease_held(e->lease)) {
            have = false; /* another process pumps; its fan-out state is its own */
            pump_wait(e, cfg->notify_scan_ms);
            continue;
        }
        if (lease_taken(e->lease) != taken) {
            /* Taken over from a process that may have died with rows in
             * flight: take every row due within a lease, as at start. */
            taken = lease_taken(e->lease);
            pthread_mutex_lock(&e->mu);
            e->recovering = true;
            pthread_mutex_unlock(&e->mu);
            next_scan = 0;
        }
        int64_t now = clock_mono_ns() / 1000000;
        if (kicked || now >= next_scan) {
            scan_due(e);
            next_scan = now + cfg->notify_scan_ms;
        }
        bool worked = false;
        if (now >= fail_until && room(e) >= need) {
            if (!have)
                have = fanout_next_running(e->shop, &f);
            if (have) {
                struct problem pb = {0};
                bool done = false;
                int64_t before = f.users_done;
                rows.n = 0;
                enum shop_err err = fanout_step(e->shop, &f, cfg->fanout_chunk,
                                                cfg->notify_lease_ms, &rows, &done, &pb);
                if (err == SHOP_OK) {
                    enqueue(e, rows.v, rows.n);
                    atomic_fetch_add(&e->fanout_users, (uint64_t)(f.users_done - before));
                    atomic_fetch_add(&e->fanout_rows, (uint64_t)rows.n);
                    worked = true;
                    if (done) {
                        log_event(LOG_INFO, "notify.fanout_done", "{s:I, s:I}", "fanout",
                                  (json_int_t)f.id, "users", (json_int_t)f.users_done);
                        have = false;
                    }
                } else {
                    if (err != SHOP_CONFLICT) {
                        log_event(LOG_WARN, "notify.fanout_failed", "{s:I, s:s}", "fanout",
                                  (json_int_t)f.id, "detail", pb.detail);
                        fail_until = now + 1000;
                    }
                    have = false;
                }
                problem_clear(&pb);
                if (worked && cfg->fanout_pause_ms > 0)
                    pump_pause(e, cfg->fanout_pause_ms);
            }
        }
        if (!worked) {
            int64_t wait = next_scan - now;
            pump_wait(e, wait < 1 ? 1 : wait);
        }
    }
    free(rows.v);
    return NULL;
}
