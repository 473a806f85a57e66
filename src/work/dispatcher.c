#include "work/dispatcher.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "work/evwindow.h"
#include "work/leases.h"

#define MAX_CONSUMERS 16

struct worker {
    struct dispatcher *d;
    struct consumer c;
    pthread_t thread;
    bool started;
    struct lease *lease;      /* the consumer runs where this is held */
    uint64_t taken;           /* lease_taken when the position was last read */
    struct outbox_pos pos;    /* the worker thread's own */
    _Atomic int64_t position; /* pos.id, for the lag figure */
    _Atomic int64_t failures;
};

struct dispatcher {
    struct shop *shop;
    struct evwindow *window; /* the events read last, shared (evwindow.h) */
    struct worker workers[MAX_CONSUMERS];
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t kicks;
    atomic_bool stop;
};

struct dispatcher *dispatcher_new(struct shop *shop)
{
    struct dispatcher *d = xcalloc(1, sizeof *d);
    d->shop = shop;
    d->window = evwindow_new(DISPATCH_WINDOW);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    return d;
}

void dispatcher_add(struct dispatcher *d, const struct consumer *c)
{
    if (d->n == MAX_CONSUMERS)
        abort();
    struct worker *w = &d->workers[d->n++];
    w->d = d;
    w->c = *c;
    if (w->c.batch <= 0)
        w->c.batch = 256;
}

static bool wants(const char *topics, const char *topic)
{
    if (!topics)
        return true;
    for (const char *p = topics; *p;) {
        size_t n = strcspn(p, ",");
        if (n && !strncmp(topic, p, n))
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

struct position_job {
    const char *name;
    struct outbox_pos pos;
    bool from_now;
};

/* Reads (creating when new) the stored position. A new consumer that starts
 * from now starts after the last final event: nothing still to come lies
 * before it. */
static enum shop_err position_init(struct db *db, void *arg, struct problem *pb)
{
    struct position_job *j = arg;
    struct outbox_pos start = {0, 0};
    if (j->from_now)
        start = outbox_final(db, start);
    struct stmt *st =
        db_prepare(db, "INSERT INTO outbox_consumers (name, position_txid, position,"
                       " updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "registering a consumer");
    stmt_bind_text(st, 1, j->name);
    stmt_bind_i64(st, 2, start.txid);
    stmt_bind_i64(st, 3, start.id);
    stmt_bind_i64(st, 4, clock_now_ms());
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "registering a consumer");
    st = db_prepare(db, "SELECT position_txid, position FROM outbox_consumers WHERE name = ?");
    if (!st)
        return db_fail(db, pb, "reading a consumer position");
    stmt_bind_text(st, 1, j->name);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading a consumer position");
    j->pos = (struct outbox_pos){stmt_i64(st, 0), stmt_i64(st, 1)};
    return SHOP_OK;
}

/* Moves the position forward only (another process may be ahead). */
static enum shop_err position_store(struct db *db, void *arg, struct problem *pb)
{
    struct position_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE outbox_consumers SET position_txid = ?1,"
                                     " position = ?2, updated_at = ?3"
                                     " WHERE name = ?4 AND (position_txid, position) < (?1, ?2)");
    if (!st)
        return db_fail(db, pb, "storing a consumer position");
    stmt_bind_i64(st, 1, j->pos.txid);
    stmt_bind_i64(st, 2, j->pos.id);
    stmt_bind_i64(st, 3, clock_now_ms());
    stmt_bind_text(st, 4, j->name);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "storing a consumer position");
}

/* Waits for a kick or the poll period, whichever comes first. */
static void wait_for_work(struct dispatcher *d, uint64_t *seen, int64_t ms)
{
    pthread_mutex_lock(&d->mu);
    if (d->kicks == *seen && !atomic_load(&d->stop)) {
        struct timespec ts = clock_deadline(ms);
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    *seen = d->kicks;
    pthread_mutex_unlock(&d->mu);
}

/* An event as read, with its place in commit order. */
struct read_event {
    struct outbox_event ev;
    int64_t txid;
};

/* One slice of wanted events, handled in one write. */
struct slice_job {
    struct worker *w;
    const struct read_event *evs;
    int n;
    struct outbox_pos upto; /* the position once all are handled (past unwanted events too) */
    /* out */
    struct outbox_pos pos; /* the position stored */
    bool failed;           /* a handler failed: the position stops before its event */
};

static enum shop_err slice_write(struct db *db, void *arg, struct problem *pb)
{
    struct slice_job *j = arg;
    struct worker *w = j->w;
    j->pos = j->upto; /* a write may run again: outputs start over */
    j->failed = false;
    if (w->c.slice_fn && j->n > 0) {
        const struct outbox_event *evs[DISPATCH_SLICE];
        for (int i = 0; i < j->n; i++)
            evs[i] = &j->evs[i].ev;
        enum shop_err e = w->c.slice_fn(w->d->shop, evs, j->n, w->c.cls, pb);
        if (e != SHOP_OK)
            return e; /* rolled back; run_batch retries the slice later */
    }
    for (int i = 0; i < j->n && !w->c.slice_fn; i++) {
        const struct outbox_event *ev = &j->evs[i].ev;
        struct problem hpb = {0};
        if (w->c.fn(w->d->shop, ev, w->c.cls, &hpb) != SHOP_OK) {
            log_event(LOG_WARN, "dispatch.failed", "{s:s, s:I, s:s, s:s}", "consumer", w->c.name,
                      "event", (json_int_t)ev->id, "topic", ev->topic, "detail", hpb.detail);
            problem_clear(&hpb);
            /* Just before it: everything before it is handled or unwanted. */
            j->pos = (struct outbox_pos){j->evs[i].txid, ev->id - 1};
            j->failed = true;
            break;
        }
    }
    if (outbox_pos_cmp(j->pos, w->pos) <= 0)
        return SHOP_OK;
    struct position_job pj = {.name = w->c.name, .pos = j->pos};
    return position_store(db, &pj, pb);
}

/* The events of one batch as they are read: the ones the consumer wants,
 * copied, and how far the batch reaches (past unwanted events too). */
struct batch {
    struct worker *w;
    struct read_event *evs;
    int n, read;
    struct outbox_pos seen;
};

static void take(void *cls, const struct window_event *e)
{
    struct batch *b = cls;
    b->read++;
    b->seen = e->pos;
    if (!wants(b->w->c.topics, e->topic))
        return;
    b->evs[b->n++] = (struct read_event){.ev = {.id = e->pos.id,
                                                .topic = xstrdup(e->topic),
                                                .aggregate_id = e->aggregate_id,
                                                .payload = xstrdup(e->payload),
                                                .created_at = e->created_at},
                                         .txid = e->pos.txid};
}

/* Reads the batch from the database, in commit order and only what is final
 * (outbox.h), and adds what it read to the window. A failed read ends the
 * batch at the last event read. */
static bool read_database(struct batch *b)
{
    struct worker *w = b->w;
    struct db *db = store_db(w->d->shop->store);
    struct stmt *st = outbox_after(db, w->pos, w->c.batch, -1);
    if (!st)
        return false;
    struct window_event *rows = xcalloc((size_t)w->c.batch, sizeof *rows);
    int n = 0;
    while (n < w->c.batch && stmt_step(st) == STMT_ROW) {
        rows[n] = (struct window_event){.pos = {stmt_i64(st, 0), stmt_i64(st, 1)},
                                        .topic = xstrdup(stmt_text(st, 2)),
                                        .aggregate_id = stmt_i64(st, 3),
                                        .payload = xstrdup(stmt_text(st, 4)),
                                        .created_at = stmt_i64(st, 5)};
        take(b, &rows[n++]);
    }
    db_release(db);
    evwindow_add(w->d->window, w->pos, rows, n);
    free(rows);
    return true;
}

/* Handles one batch; returns events read, or -1 when a handler failed.
 * The events the consumer wants are copied out first (from the window, or
 * else the database): a read snapshot held open while the slices are
 * written would keep the WAL from being checkpointed. */
static int run_batch(struct worker *w)
{
    struct shop *shop = w->d->shop;
    struct batch b = {.w = w, .evs = xcalloc((size_t)w->c.batch, sizeof *b.evs), .seen = w->pos};
    int from_window = evwindow_read(w->d->window, w->pos, w->c.batch, take, &b);
    if (from_window <= 0 && !read_database(&b)) {
        free(b.evs);
        return -1;
    }
    struct read_event *evs = b.evs;
    int n = b.n, read = b.read;
    struct outbox_pos seen = b.seen;

    bool failed = false;
    for (int at = 0; outbox_pos_cmp(seen, w->pos) > 0 && !failed; at += DISPATCH_SLICE) {
        int k = n - at < DISPATCH_SLICE ? n - at : DISPATCH_SLICE;
        struct outbox_pos last =
            k > 0 ? (struct outbox_pos){evs[at + k - 1].txid, evs[at + k - 1].ev.id} : seen;
        struct slice_job j = {.w = w, .evs = evs + at, .n = k, .upto = at + k < n ? last : seen};
        struct problem pb = {0};
        if (store_write(shop->store, slice_write, &j, &pb) != SHOP_OK) {
            log_event(LOG_WARN, "dispatch.failed", "{s:s, s:s}", "consumer", w->c.name, "detail",
                      pb.detail);
            problem_clear(&pb);
            failed = true;
            break;
        }
        if (outbox_pos_cmp(j.pos, w->pos) > 0) {
            w->pos = j.pos;
            atomic_store(&w->position, j.pos.id);
        }
        failed = j.failed;
        if (k > 0 && w->c.committed)
            w->c.committed(shop, w->c.cls);
    }
    for (int i = 0; i < n; i++) {
        free((char *)evs[i].ev.topic);
        free((char *)evs[i].ev.payload);
    }
    free(evs);
    if (failed)
        return -1;
    /* The window ended the batch, not the outbox: more may be waiting. */
    return from_window > 0 ? w->c.batch : read;
}

/* Reads the stored position (creating it for a new consumer): at start,
 * and when the consumer has just been taken over, since another process
 * may have moved it meanwhile. */
static enum shop_err load_position(struct worker *w, struct problem *pb)
{
    struct position_job j = {.name = w->c.name, .from_now = w->c.from_now};
    uint64_t taken = lease_taken(w->lease);
    if (store_write(w->d->shop->store, position_init, &j, pb) != SHOP_OK)
        return pb->err;
    w->pos = j.pos;
    w->taken = taken;
    atomic_store(&w->position, j.pos.id);
    return SHOP_OK;
}

static void *worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "outbox");
    struct worker *w = arg;
    struct dispatcher *d = w->d;
    uint64_t seen = 0;
    int64_t backoff = 0;
    while (!atomic_load(&d->stop)) {
        if (!lease_held(w->lease)) {
            /* Another process runs this consumer. */
            wait_for_work(d, &seen, DISPATCH_POLL_MS);
            continue;
        }
        if (lease_taken(w->lease) != w->taken) {
            struct problem pb = {0};
            enum shop_err e = load_position(w, &pb);
            problem_clear(&pb);
            if (e != SHOP_OK) {
                wait_for_work(d, &seen, DISPATCH_POLL_MS);
                continue;
            }
        }
        int r = run_batch(w);
        if (r < 0) {
            atomic_fetch_add(&w->failures, 1);
            backoff = backoff ? backoff * 2 : 100;
            if (backoff > DISPATCH_MAX_BACKOFF_MS)
                backoff = DISPATCH_MAX_BACKOFF_MS;
            /* Sleep in slices so a stop is noticed. */
            for (int64_t slept = 0; slept < backoff && !atomic_load(&d->stop); slept += 50)
                clock_sleep_ms(50);
            continue;
        }
        backoff = 0;
        if (r < w->c.batch)
            wait_for_work(d, &seen, DISPATCH_POLL_MS);
    }
    return NULL;
}

enum shop_err dispatcher_start(struct dispatcher *d, struct problem *pb)
{
    for (int i = 0; i < d->n; i++) {
        struct worker *w = &d->workers[i];
        char name[80];
        snprintf(name, sizeof name, "consumer:%s", w->c.name);
        w->lease = leases_want(d->shop->leases, name);
        if (load_position(w, pb) != SHOP_OK)
            return pb->err;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return problem_set(pb, SHOP_INTERNAL, "cannot start consumer %s", w->c.name);
        w->started = true;
    }
    return SHOP_OK;
}

void dispatcher_kick(struct dispatcher *d)
{
    pthread_mutex_lock(&d->mu);
    d->kicks++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void dispatcher_free(struct dispatcher *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, true);
    dispatcher_kick(d);
    for (int i = 0; i < d->n; i++)
        if (d->workers[i].started)
            pthread_join(d->workers[i].thread, NULL);
    for (int i = 0; i < d->n; i++)
        if (d->workers[i].c.free_cls)
            d->workers[i].c.free_cls(d->workers[i].c.cls);
    evwindow_free(d->window);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

void dispatcher_render_metrics(struct dispatcher *d, struct buf *out)
{
    struct db *db = store_db(d->shop->store);
    int64_t newest = outbox_newest(db, 0);
    db_release(db);
    buf_puts(out, "# HELP shopd_outbox_consumer_lag Events not yet handled, by consumer.\n"
                  "# TYPE shopd_outbox_consumer_lag gauge\n");
    for (int i = 0; i < d->n; i++)
        buf_printf(out, "shopd_outbox_consumer_lag{consumer=\"%s\"} %lld\n", d->workers[i].c.name,
                   (long long)(newest - atomic_load(&d->workers[i].position)));
    buf_puts(out, "# HELP shopd_outbox_consumer_failures_total Handler failures, by consumer.\n"
                  "# TYPE shopd_outbox_consumer_failures_total counter\n");
    for (int i = 0; i < d->n; i++)
        buf_printf(out, "shopd_outbox_consumer_failures_total{consumer=\"%s\"} %lld\n",
                   d->workers[i].c.name, (long long)atomic_load(&d->workers[i].failures));
}

struct outbox_pos dispatcher_handled(struct dispatcher *d)
{
    /* The stored positions: the consumers may run in other processes. */
    struct outbox_pos low = {INT64_MAX, INT64_MAX};
    struct db *db = store_db(d->shop->store);
    for (int i = 0; i < d->n; i++) {
        struct stmt *st =
            db_prepare(db, "SELECT position_txid, position FROM outbox_consumers WHERE name = ?");
        if (!st || (stmt_bind_text(st, 1, d->workers[i].c.name), stmt_step(st)) != STMT_ROW) {
            low = (struct outbox_pos){0, 0};
            break;
        }
        struct outbox_pos p = {stmt_i64(st, 0), stmt_i64(st, 1)};
        if (outbox_pos_cmp(p, low) < 0)
            low = p;
    }
    db_release(db);
    return d->n ? low : (struct outbox_pos){0, 0};
}
