#include "work/notify_worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ext/notify_provider.h"
#include "shop/notify.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/token.h"
#include "util/xalloc.h"
#include "work/fanout.h"
#include "work/leases.h"

_Static_assert(NOTIFY_CHANNELS == 3, "config.h keeps one provider name per channel");

#define MESSAGE_CACHE 8

/* ---- the in-flight set: ids queued or being sent ------------------------------- */

struct idset {
    int64_t *slot; /* 0 = empty */
    size_t mask, n;
};

static void idset_init(struct idset *s, size_t at_least)
{
    size_t cap = 1024;
    while (cap < at_least * 2)
        cap *= 2;
    s->slot = xcalloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    s->n = 0;
}

static size_t idset_home(const struct idset *s, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 20) & s->mask;
}

static bool idset_has(const struct idset *s, int64_t id)
{
    for (size_t i = idset_home(s, id);; i = (i + 1) & s->mask) {
        if (s->slot[i] == id)
            return true;
        if (!s->slot[i])
            return false;
    }
}

/* The caller keeps n below half the capacity. */
static void idset_add(struct idset *s, int64_t id)
{
    size_t i = idset_home(s, id);
    while (s->slot[i] && s->slot[i] != id)
        i = (i + 1) & s->mask;
    if (!s->slot[i]) {
        s->slot[i] = id;
        s->n++;
    }
}

/* Linear probing deletion without tombstones (backward shift). */
static void idset_del(struct idset *s, int64_t id)
{
    size_t i = idset_home(s, id);
    while (s->slot[i] != id) {
        if (!s->slot[i])
            return;
        i = (i + 1) & s->mask;
    }
    s->slot[i] = 0;
    s->n--;
    for (size_t j = (i + 1) & s->mask; s->slot[j]; j = (j + 1) & s->mask) {
        size_t home = idset_home(s, s->slot[j]);
        /* Move slot j back to i when i lies cyclically in [home, j). */
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->slot[i] = s->slot[j];
            s->slot[j] = 0;
            i = j;
        }
    }
}

/* ---- the engine ------------------------------------------------------------------- */

/* The engine's threads yield the CPU to the request threads: a fan-out of
 * half a million takes a little longer on a busy box, the shop does not. */
static void background_priority(int nice)
{
    if (nice > 0)
        setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

struct notify_engine {
    struct shop *shop;
    const struct shop_config *cfg;
    struct notify_provider *providers[NOTIFY_CHANNELS];

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* senders: rows queued, or stop */
    pthread_cond_t pump_cv; /* pump: kicked, room freed, or stop */
    struct notify_row *ring;
    int ring_cap, ring_head, ring_len;
    struct idset inflight;
    int inflight_max;
    bool kicked, stop;
    bool recovering; /* until the first complete due scan (scan_due) */
    /* The pump runs in one process of the shop at a time (work/leases.h);
     * the senders everywhere, but only what their own pump hands them. */
    struct lease *lease;

    pthread_t pump;
    pthread_t *senders;
    int nsenders;
    bool pump_started;

    pthread_mutex_t rate_mu;
    int64_t rate_tat[NOTIFY_CHANNELS]; /* when the channel's next hand-over may start, ns */

    _Atomic uint64_t queued, sent[NOTIFY_CHANNELS], retried, dead, skipped, fanout_users,
        fanout_rows;
};

/* With mu held; the caller has checked there is room (inflight.n <
 * inflight_max, and ring_cap == inflight_max). */
static void queue_push(struct notify_engine *e, const struct notify_row *r)
{
    e->ring[(e->ring_head + e->ring_len) % e->ring_cap] = *r;
    e->ring_len++;
    idset_add(&e->inflight, r->id);
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
        if (!idset_has(&e->inflight, rows[i].id)) {
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
            if (idset_has(&e->inflight, r.id))
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

static void *pump_main(void *arg)
{
    struct notify_engine *e = arg;
    pthread_setname_np(pthread_self(), "notify-pump");
    background_priority(e->cfg->notify_nice);
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
                    pump_wait(e, cfg->fanout_pause_ms);
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

/* ---- senders ----------------------------------------------------------------------- */

struct sender {
    struct notify_engine *e;
    struct notify_message cache[MESSAGE_CACHE];
    int next_evict;
};

/* The message `id`, from the sender's small cache (NULL when absent). */
static const struct notify_message *message_get(struct sender *s, struct db *db, int64_t id)
{
    for (int i = 0; i < MESSAGE_CACHE; i++)
        if (s->cache[i].id == id)
            return &s->cache[i];
    struct stmt *st = db_prepare(db, "SELECT event_key, kind, title, body, data"
                                     " FROM notify_messages WHERE id = ?");
    if (!st)
        return NULL;
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return NULL;
    struct notify_message *m = &s->cache[s->next_evict];
    s->next_evict = (s->next_evict + 1) % MESSAGE_CACHE;
    notify_message_clear(m);
    m->id = id;
    m->key = xstrdup(stmt_text(st, 0));
    m->kind = xstrdup(stmt_text(st, 1));
    m->title = xstrdup(stmt_text(st, 2));
    m->body = xstrdup(stmt_text(st, 3));
    m->data = xstrdup(stmt_text(st, 4));
    notify_message_render(m);
    return m;
}

static const char *const address_sql[NOTIFY_CHANNELS] = {
    [NOTIFY_PUSH] = "SELECT d.token, coalesce(p.push, 1) FROM devices d LEFT JOIN"
                    " notification_prefs p ON p.user_id = d.user_id WHERE d.user_id = ?"
                    " ORDER BY d.updated_at DESC, d.id DESC LIMIT 10",
    [NOTIFY_EMAIL] = "SELECT u.email, coalesce(p.email, 1) FROM users u LEFT JOIN"
                     " notification_prefs p ON p.user_id = u.id WHERE u.id = ?",
    [NOTIFY_SMS] = "SELECT a.phone, coalesce(p.sms, 0) FROM addresses a LEFT JOIN"
                   " notification_prefs p ON p.user_id = a.user_id WHERE a.user_id = ?"
                   " AND a.is_default = 1 AND coalesce(a.phone, '') <> ''",
};
_Static_assert(NOTIFY_TO_MAX == 10, "address_sql's LIMIT");

/* Fills the item's addresses; false with a reason when it cannot be sent. */
static bool address(struct db *db, struct arena *ar, struct notify_item *it, const char **why)
{
    struct stmt *st = db_prepare(db, address_sql[it->channel]);
    if (!st) {
        *why = "database error";
        return false;
    }
    stmt_bind_i64(st, 1, it->user_id);
    bool opted_in = true;
    while (it->nto < NOTIFY_TO_MAX && stmt_step(st) == STMT_ROW) {
        opted_in = stmt_i64(st, 1) != 0;
        it->to[it->nto++] = arena_strdup(ar, stmt_text(st, 0));
    }
    *why = !opted_in ? "opted out" : it->nto == 0 ? "no address on this channel" : NULL;
    return *why == NULL;
}

struct outcome {
    int64_t id;
    int state, attempts_add;
    int64_t next_at;
    const char *error;
};

struct ack_job {
    struct outcome *o;
    int n;
    int64_t now;
};

#define Q8        "?,?,?,?,?,?,?,?"
#define ACK_GROUP 64

/* pending|failed → sent for up to ACK_GROUP rows in one statement. */
static enum shop_err ack_sent(struct db *db, const int64_t *ids, int n, int64_t now,
                              struct problem *pb)
{
    struct stmt *st =
        db_prepare(db, "UPDATE notifications SET state = 1, attempts = attempts + 1,"
                       " last_error = NULL, updated_at = ? WHERE state IN (0, 2)"
                       " AND id IN (" Q8 "," Q8 "," Q8 "," Q8 "," Q8 "," Q8 "," Q8 "," Q8 ")");
    if (!st)
        return db_fail(db, pb, "recording deliveries");
    stmt_bind_i64(st, 1, now);
    for (int k = 0; k < ACK_GROUP; k++) /* repeats are harmless in IN */
        stmt_bind_i64(st, 2 + k, ids[k < n ? k : n - 1]);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording deliveries");
}

/* pending|failed → sent | failed | dead | skipped, for one batch. Sent rows,
 * nearly all of them, go ACK_GROUP to a statement: at a million rows the
 * per-statement cost on the one writer thread is what adds up. */
static enum shop_err ack_write(struct db *db, void *arg, struct problem *pb)
{
    struct ack_job *j = arg;
    int64_t group[ACK_GROUP];
    int ng = 0;
    for (int i = 0; i < j->n; i++) {
        if (j->o[i].state != NOTIFY_SENT)
            continue;
        group[ng++] = j->o[i].id;
        if (ng == ACK_GROUP) {
            if (ack_sent(db, group, ng, j->now, pb) != SHOP_OK)
                return pb->err;
            ng = 0;
        }
    }
    if (ng && ack_sent(db, group, ng, j->now, pb) != SHOP_OK)
        return pb->err;
    for (int i = 0; i < j->n; i++) {
        const struct outcome *o = &j->o[i];
        if (o->state == NOTIFY_SENT)
            continue;
        struct stmt *st = db_prepare(db, "UPDATE notifications SET state = ?, attempts ="
                                         " attempts + ?, next_at = ?, last_error = ?,"
                                         " updated_at = ? WHERE id = ? AND state IN (0, 2)");
        if (!st)
            return db_fail(db, pb, "recording deliveries");
        stmt_bind_i64(st, 1, o->state);
        stmt_bind_i64(st, 2, o->attempts_add);
        stmt_bind_i64(st, 3, o->next_at);
        stmt_bind_text(st, 4, o->error);
        stmt_bind_i64(st, 5, j->now);
        stmt_bind_i64(st, 6, o->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording deliveries");
    }
    return SHOP_OK;
}

/* Exponential backoff with equal jitter: half the delay fixed, half random. */
static int64_t backoff_ms(const struct shop_config *cfg, int attempts)
{
    int64_t d = cfg->notify_backoff_ms;
    for (int i = 1; i < attempts && d < cfg->notify_backoff_max_ms; i++)
        d *= 2;
    if (d > cfg->notify_backoff_max_ms)
        d = cfg->notify_backoff_max_ms;
    int64_t half = d / 2, cap = half < (int64_t)UINT32_MAX ? half + 1 : (int64_t)UINT32_MAX;
    return d - half + (int64_t)token_uniform((uint32_t)cap);
}

/* Keeps each channel's hand-overs under SHOPD_NOTIFY_RATE a second: a batch
 * of n waits until the channel's schedule reaches it, then moves the
 * schedule on by n intervals (so senders share the quota). */
static void throttle(struct notify_engine *e, int channel, int n)
{
    int64_t rate = e->cfg->notify_rate;
    if (rate <= 0)
        return;
    pthread_mutex_lock(&e->rate_mu);
    int64_t now = clock_mono_ns(), start = e->rate_tat[channel] > now ? e->rate_tat[channel] : now;
    e->rate_tat[channel] = start + (int64_t)n * (1000000000 / rate);
    pthread_mutex_unlock(&e->rate_mu);
    while (start > now && !atomic_load(&e->shop->stopping)) {
        int64_t ms = (start - now) / 1000000;
        clock_sleep_ms(ms < 1 ? 1 : ms > 100 ? 100 : ms);
        now = clock_mono_ns();
    }
}

static int by_channel(const void *a, const void *b)
{
    const struct notify_row *x = a, *y = b;
    if (x->channel != y->channel)
        return x->channel - y->channel;
    return (x->id > y->id) - (x->id < y->id);
}

/* Hands one batch to the providers and records every outcome. */
static void deliver(struct sender *s, struct notify_row *rows, int n)
{
    struct notify_engine *e = s->e;
    const struct shop_config *cfg = e->cfg;
    struct db *db = store_db(e->shop->store);
    struct arena *ar = arena_new();
    struct notify_item *items = arena_alloc(ar, (size_t)n * sizeof *items);
    struct outcome *out = arena_alloc(ar, (size_t)n * sizeof *out);
    int *attempts = arena_alloc(ar, (size_t)n * sizeof *attempts); /* of items[i] so far */
    int nitems = 0, nout = 0;
    qsort(rows, (size_t)n, sizeof *rows, by_channel);
    db_read_begin(db); /* one snapshot (and one lock) for the batch's lookups */
    uint64_t failed_reads = store_thread_read_failures();
    for (int i = 0; i < n; i++) {
        struct notify_row *r = &rows[i];
        const char *why = NULL;
        struct notify_item *it = &items[nitems];
        *it = (struct notify_item){
            .id = r->id, .user_id = r->user_id, .channel = (enum notify_channel)r->channel};
        if ((unsigned)r->channel >= NOTIFY_CHANNELS || !e->providers[r->channel])
            why = "no provider for this channel";
        else if (!(it->msg = message_get(s, db, r->message_id)))
            why = "message missing";
        else
            address(db, ar, it, &why);
        if (why && store_thread_read_failures() != failed_reads) {
            /* The database did not answer: no reason to skip it, a reason to
             * try again later (no attempt spent). */
            failed_reads = store_thread_read_failures();
            out[nout++] = (struct outcome){
                .id = r->id,
                .state = NOTIFY_FAILED,
                .next_at = clock_now_ms() + backoff_ms(cfg, r->attempts + 1),
                .error = "could not read the message or its addresses"};
        } else if (why)
            out[nout++] = (struct outcome){.id = r->id, .state = NOTIFY_SKIPPED, .error = why};
        else
            attempts[nitems++] = r->attempts + 1;
    }
    db_read_end(db);
    for (int i = 0; i < nitems;) {
        int k = i;
        while (k < nitems && items[k].channel == items[i].channel)
            k++;
        struct notify_provider *p = e->providers[items[i].channel];
        throttle(e, items[i].channel, k - i);
        notify_send(p, items + i, k - i);
        i = k;
    }
    int64_t now = clock_now_ms();
    for (int i = 0; i < nitems; i++) {
        const struct notify_item *it = &items[i];
        struct outcome *o = &out[nout++];
        *o = (struct outcome){.id = it->id, .attempts_add = 1};
        if (it->result == NOTIFY_OK) {
            o->state = NOTIFY_SENT;
            atomic_fetch_add(&e->sent[it->channel], 1);
        } else if (it->result == NOTIFY_REJECTED || attempts[i] >= cfg->notify_max_attempts) {
            o->state = NOTIFY_DEAD;
            o->error = arena_strdup(ar, it->error[0] ? it->error : "failed");
            atomic_fetch_add(&e->dead, 1);
        } else {
            o->state = NOTIFY_FAILED;
            o->next_at = now + backoff_ms(cfg, attempts[i]);
            o->error = arena_strdup(ar, it->error[0] ? it->error : "failed");
            atomic_fetch_add(&e->retried, 1);
        }
    }
    for (int i = 0; i < nout; i++)
        if (out[i].state == NOTIFY_SKIPPED)
            atomic_fetch_add(&e->skipped, 1);
    struct ack_job j = {.o = out, .n = nout, .now = now};
    struct problem pb = {0};
    if (store_write(e->shop->store, ack_write, &j, &pb) != SHOP_OK)
        /* The rows stay pending/failed and are handed over again later. */
        log_event(LOG_WARN, "notify.ack_failed", "{s:i, s:s}", "rows", nout, "detail", pb.detail);
    problem_clear(&pb);
    arena_free(ar);
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    pthread_setname_np(pthread_self(), "notify-send");
    background_priority(s->e->cfg->notify_nice);
    struct notify_engine *e = s->e;
    int cap = e->cfg->notify_batch;
    struct notify_row *batch = xmalloc((size_t)cap * sizeof *batch);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->ring_len && !e->stop)
            pthread_cond_wait(&e->work_cv, &e->mu);
        if (e->stop) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        int n = 0;
        while (n < cap && e->ring_len) {
            batch[n++] = e->ring[e->ring_head];
            e->ring_head = (e->ring_head + 1) % e->ring_cap;
            e->ring_len--;
        }
        pthread_mutex_unlock(&e->mu);
        deliver(s, batch, n);
        pthread_mutex_lock(&e->mu);
        for (int i = 0; i < n; i++)
            idset_del(&e->inflight, batch[i].id);
        pthread_cond_signal(&e->pump_cv);
        pthread_mutex_unlock(&e->mu);
    }
    free(batch);
    for (int i = 0; i < MESSAGE_CACHE; i++)
        notify_message_clear(&s->cache[i]);
    free(s);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static struct notify_provider *provider_open(const struct shop_config *cfg, enum notify_channel ch,
                                             struct problem *pb)
{
    const char *kind = cfg->notify_provider[ch];
    char err[256] = "";
    struct notify_provider *p = NULL;
    if (!strcmp(kind, "off"))
        return NULL;
    if (!strcmp(kind, "file")) {
        /* Enough tail to cover every line that can be handed over but not
         * yet recorded: one batch per sender, generous lines. */
        size_t dedup = (size_t)cfg->notify_senders * (size_t)cfg->notify_batch * 8192;
        p = notify_file_new(cfg->notify_dir, ch, dedup, err, sizeof err);
    } else if (!strcmp(kind, "webhook")) {
        struct notify_webhook_opts o = {.url = cfg->notify_webhook_url,
                                        .connections = cfg->notify_webhook_conns,
                                        .per_request = cfg->notify_webhook_batch,
                                        .timeout_ms = cfg->notify_webhook_timeout_ms};
        p = notify_webhook_new(&o, ch, err, sizeof err);
    } else if (!strcmp(kind, "smtp") && ch == NOTIFY_EMAIL) {
        struct notify_smtp_opts o = {.url = cfg->smtp_url,
                                     .from = cfg->smtp_from,
                                     .user = cfg->smtp_user,
                                     .password = cfg->smtp_password,
                                     .unsubscribe = cfg->smtp_unsubscribe,
                                     .connections = cfg->smtp_conns,
                                     .timeout_ms = cfg->smtp_timeout_ms,
                                     .tls = cfg->smtp_tls,
                                     .ca_file = cfg->smtp_ca_file};
        p = notify_smtp_new(&o, ch, err, sizeof err);
    } else {
        snprintf(err, sizeof err, "unknown provider '%s' (file, webhook, smtp for email, or off)",
                 kind);
    }
    if (!p)
        problem_set(pb, SHOP_INVALID, "notification provider for %s: %s", notify_channel_name(ch),
                    err);
    return p;
}

struct notify_engine *notify_engine_start(struct shop *shop, struct problem *pb)
{
    struct notify_engine *e = xcalloc(1, sizeof *e);
    e->shop = shop;
    e->cfg = &shop->cfg;
    /* Room for at least two chunks' rows: one being sent while the next
     * is created. */
    e->inflight_max = shop->cfg.notify_inflight;
    if (e->inflight_max < 2 * shop->cfg.fanout_chunk * NOTIFY_CHANNELS)
        e->inflight_max = 2 * shop->cfg.fanout_chunk * NOTIFY_CHANNELS;
    e->recovering = true;
    e->lease = leases_want(shop->leases, "notify");
    e->ring_cap = e->inflight_max;
    e->ring = xmalloc((size_t)e->ring_cap * sizeof *e->ring);
    idset_init(&e->inflight, (size_t)e->inflight_max);
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->rate_mu, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->pump_cv, NULL);
    for (int c = 0; c < NOTIFY_CHANNELS; c++) {
        e->providers[c] = provider_open(e->cfg, (enum notify_channel)c, pb);
        if (pb->err)
            goto fail;
    }
    e->senders = xcalloc((size_t)e->cfg->notify_senders, sizeof *e->senders);
    for (int i = 0; i < e->cfg->notify_senders; i++) {
        struct sender *s = xcalloc(1, sizeof *s);
        s->e = e;
        if (pthread_create(&e->senders[i], NULL, sender_main, s) != 0) {
            free(s);
            problem_set(pb, SHOP_INTERNAL, "cannot start a notification sender");
            goto fail;
        }
        e->nsenders++;
    }
    if (pthread_create(&e->pump, NULL, pump_main, e) != 0) {
        problem_set(pb, SHOP_INTERNAL, "cannot start the notification pump");
        goto fail;
    }
    e->pump_started = true;
    return e;
fail:
    notify_engine_stop(e);
    return NULL;
}

void notify_engine_stop(struct notify_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->work_cv);
    pthread_cond_broadcast(&e->pump_cv);
    pthread_mutex_unlock(&e->mu);
    if (e->pump_started)
        pthread_join(e->pump, NULL);
    for (int i = 0; i < e->nsenders; i++)
        pthread_join(e->senders[i], NULL);
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        if (e->providers[c])
            e->providers[c]->destroy(e->providers[c]);
    pthread_cond_destroy(&e->pump_cv);
    pthread_cond_destroy(&e->work_cv);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->rate_mu);
    free(e->senders);
    free(e->inflight.slot);
    free(e->ring);
    free(e);
}

void notify_engine_kick(struct notify_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->kicked = true;
    pthread_cond_signal(&e->pump_cv);
    pthread_mutex_unlock(&e->mu);
}

void notify_engine_render_metrics(struct notify_engine *e, struct buf *out)
{
    pthread_mutex_lock(&e->mu);
    int inflight = (int)e->inflight.n, queued_now = e->ring_len;
    pthread_mutex_unlock(&e->mu);
    buf_printf(out,
               "# HELP shopd_notify_queued_total Notifications handed to the senders.\n"
               "# TYPE shopd_notify_queued_total counter\n"
               "shopd_notify_queued_total %llu\n"
               "# HELP shopd_notify_sent_total Notifications accepted by a provider.\n"
               "# TYPE shopd_notify_sent_total counter\n",
               (unsigned long long)atomic_load(&e->queued));
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        buf_printf(out, "shopd_notify_sent_total{channel=\"%s\"} %llu\n",
                   notify_channel_name((enum notify_channel)c),
                   (unsigned long long)atomic_load(&e->sent[c]));
    buf_printf(out,
               "# HELP shopd_notify_failed_total Failed attempts that will be retried.\n"
               "# TYPE shopd_notify_failed_total counter\n"
               "shopd_notify_failed_total %llu\n"
               "# HELP shopd_notify_dead_total Notifications given up on (dead letters).\n"
               "# TYPE shopd_notify_dead_total counter\n"
               "shopd_notify_dead_total %llu\n"
               "# HELP shopd_notify_skipped_total Notifications without an address or opted out.\n"
               "# TYPE shopd_notify_skipped_total counter\n"
               "shopd_notify_skipped_total %llu\n"
               "# HELP shopd_notify_inflight Notifications queued or being sent.\n"
               "# TYPE shopd_notify_inflight gauge\n"
               "shopd_notify_inflight %d\n"
               "# HELP shopd_notify_queue_depth Notifications waiting for a sender.\n"
               "# TYPE shopd_notify_queue_depth gauge\n"
               "shopd_notify_queue_depth %d\n"
               "# HELP shopd_notify_fanout_rows_total Notification rows created by fan-outs.\n"
               "# TYPE shopd_notify_fanout_rows_total counter\n"
               "shopd_notify_fanout_rows_total %llu\n"
               "# HELP shopd_notify_fanout_scanned_total Wishlisters scanned by fan-outs.\n"
               "# TYPE shopd_notify_fanout_scanned_total counter\n"
               "shopd_notify_fanout_scanned_total %llu\n",
               (unsigned long long)atomic_load(&e->retried),
               (unsigned long long)atomic_load(&e->dead),
               (unsigned long long)atomic_load(&e->skipped), inflight, queued_now,
               (unsigned long long)atomic_load(&e->fanout_rows),
               (unsigned long long)atomic_load(&e->fanout_users));
    struct db *db = store_db(e->shop->store);
    struct stmt *st = db_prepare(db, "SELECT id, users_done, users_total FROM notify_fanouts"
                                     " WHERE state = 'running' ORDER BY id LIMIT 20");
    buf_puts(out, "# HELP shopd_notify_fanout_users_done Wishlisters reached, by running fan-out.\n"
                  "# TYPE shopd_notify_fanout_users_done gauge\n");
    struct {
        long long id, done, total;
    } run[20];
    int nrun = 0;
    while (st && nrun < 20 && stmt_step(st) == STMT_ROW) {
        run[nrun].id = stmt_i64(st, 0);
        run[nrun].done = stmt_i64(st, 1);
        run[nrun].total = stmt_i64(st, 2);
        nrun++;
    }
    db_release(db);
    for (int i = 0; i < nrun; i++)
        buf_printf(out, "shopd_notify_fanout_users_done{fanout=\"%lld\"} %lld\n", run[i].id,
                   run[i].done);
    buf_puts(out, "# HELP shopd_notify_fanout_users_total Wishlisters to reach, by running"
                  " fan-out.\n# TYPE shopd_notify_fanout_users_total gauge\n");
    for (int i = 0; i < nrun; i++)
        buf_printf(out, "shopd_notify_fanout_users_total{fanout=\"%lld\"} %lld\n", run[i].id,
                   run[i].total);
}
