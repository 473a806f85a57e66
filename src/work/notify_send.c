/* notify_send.c — the notification engine's senders (notify_worker.h):
 * each takes a batch from the queue, resolves messages, addresses and
 * preferences, hands the batch to the channel's provider under the rate
 * limit, and records every outcome in one write; only after that commit do
 * the rows leave the in-flight set.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/token.h"
#include "util/xalloc.h"
#include "work/notify_engine.h"

struct notify_sender {
    struct notify_engine *e;
};

#define Q8 "?,?,?,?,?,?,?,?"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The distinct values of `v` (n of them), sorted, in place; returns how many. */
static int distinct(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!k || v[k - 1] != v[i])
            v[k++] = v[i];
    return k;
}

/* Binds `width` ids from `ids` (n of them) to ?first…: an IN list of a
 * fixed size, the last id repeated past the end (repeats are harmless in IN). */
static void bind_ids(struct stmt *st, int first, const int64_t *ids, int n, int width)
{
    for (int k = 0; k < width; k++)
        stmt_bind_i64(st, first + k, ids[k < n ? k : n - 1]);
}

/* ---- a batch's messages and email addresses --------------------------------------- */

/* The distinct messages of one batch, read eight to a statement and owned by
 * the batch until its items are handed over: the items point into this
 * table, which nothing changes meanwhile. (A cache of eight shared across
 * batches did change: a batch of more different messages than it held sent
 * some buyers another buyer's order confirmation.) */
struct batch_messages {
    struct notify_message *m; /* sorted by id; key NULL: not found */
    int n;
    bool failed; /* a read failed: a message not found may exist */
};

static void messages_load(struct db *db, const struct notify_row *rows, int n,
                          struct batch_messages *b)
{
    int64_t *ids = xmalloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = rows[i].message_id;
    b->n = distinct(ids, n);
    b->m = xcalloc((size_t)b->n, sizeof *b->m);
    b->failed = false;
    for (int i = 0; i < b->n; i++)
        b->m[i].id = ids[i];
    for (int i = 0; i < b->n && !b->failed; i += 8) {
        struct stmt *st = db_prepare(db, "SELECT id, event_key, kind, title, body, data"
                                         " FROM notify_messages WHERE id IN (" Q8 ")");
        if (!st) {
            b->failed = true;
            break;
        }
        bind_ids(st, 1, ids + i, b->n - i, 8);
        int rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            int64_t id = stmt_i64(st, 0);
            struct notify_message *m =
                bsearch(&id, b->m, (size_t)b->n, sizeof *b->m, cmp_i64); /* id is first */
            if (!m || m->key)
                continue;
            m->key = xstrdup(stmt_text(st, 1));
            m->kind = xstrdup(stmt_text(st, 2));
            m->title = xstrdup(stmt_text(st, 3));
            m->body = xstrdup(stmt_text(st, 4));
            m->data = xstrdup(stmt_text(st, 5));
            notify_message_render(m);
        }
        b->failed = rc != STMT_DONE;
    }
    free(ids);
}

static const struct notify_message *message_of(const struct batch_messages *b, int64_t id)
{
    const struct notify_message *m =
        bsearch(&id, b->m, (size_t)b->n, sizeof *b->m, cmp_i64);
    return m && m->key ? m : NULL;
}

static void messages_free(struct batch_messages *b)
{
    for (int i = 0; i < b->n; i++)
        notify_message_clear(&b->m[i]);
    free(b->m);
}

/* The email channel's addresses and preferences of a batch's users, eight
 * users to a statement (orders' confirmations are one user each). */
struct email_to {
    int64_t user_id; /* first: bsearch compares it */
    char *email;
    bool opted_in, found;
};
struct batch_emails {
    struct email_to *v; /* sorted by user */
    int n;
    bool failed;
};

static void emails_load(struct db *db, const struct notify_row *rows, int n,
                        struct batch_emails *b)
{
    int64_t *users = xmalloc((size_t)n * sizeof *users);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].channel == NOTIFY_EMAIL)
            users[k++] = rows[i].user_id;
    b->n = distinct(users, k);
    b->v = xcalloc((size_t)(b->n ? b->n : 1), sizeof *b->v);
    b->failed = false;
    for (int i = 0; i < b->n; i++)
        b->v[i].user_id = users[i];
    for (int i = 0; i < b->n && !b->failed; i += 8) {
        struct stmt *st = db_prepare(db, "SELECT u.id, u.email, coalesce(p.email, 1) FROM users u"
                                         " LEFT JOIN notification_prefs p ON p.user_id = u.id"
                                         " WHERE u.id IN (" Q8 ")");
        if (!st) {
            b->failed = true;
            break;
        }
        bind_ids(st, 1, users + i, b->n - i, 8);
        int rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            int64_t id = stmt_i64(st, 0);
            struct email_to *e = bsearch(&id, b->v, (size_t)b->n, sizeof *b->v, cmp_i64);
            if (!e || e->found)
                continue;
            e->found = true;
            e->email = xstrdup(stmt_text(st, 1));
            e->opted_in = stmt_i64(st, 2) != 0;
        }
        b->failed = rc != STMT_DONE;
    }
    free(users);
}

static void emails_free(struct batch_emails *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->v[i].email);
    free(b->v);
}

/* Fills an email item's address; false with a reason when it cannot be sent. */
static bool email_address(const struct batch_emails *b, struct arena *ar, struct notify_item *it,
                          const char **why)
{
    const struct email_to *e =
        bsearch(&it->user_id, b->v, (size_t)b->n, sizeof *b->v, cmp_i64);
    if (e && e->found)
        it->to[it->nto++] = arena_strdup(ar, e->email);
    *why = e && e->found && !e->opted_in ? "opted out"
           : it->nto == 0                ? "no address on this channel"
                                         : NULL;
    return *why == NULL;
}

static const char *const address_sql[NOTIFY_CHANNELS] = {
    [NOTIFY_PUSH] = "SELECT d.token, coalesce(p.push, 1) FROM devices d LEFT JOIN"
                    " notification_prefs p ON p.user_id = d.user_id WHERE d.user_id = ?"
                    " ORDER BY d.updated_at DESC, d.id DESC LIMIT 10",
    [NOTIFY_SMS] = "SELECT a.phone, coalesce(p.sms, 0) FROM addresses a LEFT JOIN"
                   " notification_prefs p ON p.user_id = a.user_id WHERE a.user_id = ?"
                   " AND a.is_default = 1 AND coalesce(a.phone, '') <> ''",
};
_Static_assert(NOTIFY_TO_MAX == 10, "address_sql's LIMIT");

/* Fills a push or SMS item's addresses; false with a reason when it cannot
 * be sent. */
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
    bind_ids(st, 2, ids, n, ACK_GROUP);
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
static void deliver(struct notify_sender *s, struct notify_row *rows, int n)
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
    struct batch_messages msgs;
    struct batch_emails emails;
    messages_load(db, rows, n, &msgs);
    emails_load(db, rows, n, &emails);
    uint64_t failed_reads = store_thread_read_failures();
    for (int i = 0; i < n; i++) {
        struct notify_row *r = &rows[i];
        const char *why = NULL;
        bool unread = false; /* why is a read that failed, not the data */
        struct notify_item *it = &items[nitems];
        *it = (struct notify_item){
            .id = r->id, .user_id = r->user_id, .channel = (enum notify_channel)r->channel};
        if ((unsigned)r->channel >= NOTIFY_CHANNELS || !e->providers[r->channel])
            why = "no provider for this channel";
        else if (!(it->msg = message_of(&msgs, r->message_id))) {
            why = "message missing";
            unread = msgs.failed;
        } else if (r->channel == NOTIFY_EMAIL) {
            email_address(&emails, ar, it, &why);
            unread = why && emails.failed;
        } else
            address(db, ar, it, &why);
        if (why && (unread || store_thread_read_failures() != failed_reads)) {
            /* The database did not answer: no reason to skip it, a reason to
             * try again later (no attempt spent). */
            failed_reads = store_thread_read_failures();
            out[nout++] =
                (struct outcome){.id = r->id,
                                 .state = NOTIFY_FAILED,
                                 .next_at = clock_now_ms() + backoff_ms(cfg, r->attempts + 1),
                                 .error = "could not read the message or its addresses"};
        } else if (why)
            out[nout++] = (struct outcome){.id = r->id, .state = NOTIFY_SKIPPED, .error = why};
        else
            attempts[nitems++] = r->attempts + 1;
    }
    db_read_end(db);
    emails_free(&emails);
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
    messages_free(&msgs);
    arena_free(ar);
}

void *notify_sender_main(void *arg)
{
    struct notify_sender *s = arg;
    pthread_setname_np(pthread_self(), "notify-send");
    notify_background_priority(s->e->cfg->notify_nice);
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
            inflight_del(&e->inflight, batch[i].id);
        pthread_cond_signal(&e->pump_cv);
        pthread_mutex_unlock(&e->mu);
    }
    free(batch);
    free(s);
    return NULL;
}

struct notify_sender *notify_sender_new(struct notify_engine *e)
{
    struct notify_sender *s = xcalloc(1, sizeof *s);
    s->e = e;
    return s;
}
