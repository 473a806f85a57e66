/* webhook.c — subscriptions, the delivery log, the consumer that queues
 * deliveries and the claim/record pair the worker uses. shop/webhook.h is
 * the essay. */
#include "shop/webhook.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/notify.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "work/dispatcher.h"

#define ADMINS_MAX 100 /* admins told when a subscription is disabled */

/* ---- validation ------------------------------------------------------------- */

bool webhook_url_ok(const char *url)
{
    size_t n = strlen(url);
    if (n > WEBHOOK_URL_MAX)
        return false;
    size_t scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
    if (!scheme || n == scheme)
        return false;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

bool webhook_event_ok(const char *type)
{
    /* A type the shop never writes (a typo) would match nothing, forever. */
    return !strcmp(type, "*") || (strlen(type) <= WEBHOOK_EVENT_MAX && outbox_topic_known(type));
}

/* ",a,b," from the list; false when it would not fit `len`. */
static bool events_join(const char *const *events, int n, char *out, size_t len)
{
    size_t used = 0;
    out[used++] = ',';
    for (int i = 0; i < n; i++) {
        size_t k = strlen(events[i]);
        if (used + k + 2 > len)
            return false;
        memcpy(out + used, events[i], k);
        used += k;
        out[used++] = ',';
    }
    out[used] = '\0';
    return true;
}

static void events_split(const char *joined, struct webhook *w)
{
    w->nevents = 0;
    const char *p = joined;
    while (*p && w->nevents < WEBHOOK_EVENTS_MAX) {
        if (*p == ',') {
            p++;
            continue;
        }
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k > WEBHOOK_EVENT_MAX)
            k = WEBHOOK_EVENT_MAX;
        memcpy(w->events[w->nevents], p, k);
        w->events[w->nevents++][k] = '\0';
        p += k;
    }
}

/* Whether ",…," `events` wants `topic`. */
static bool events_want(const char *events, const char *topic)
{
    if (strstr(events, ",*,"))
        return true;
    size_t k = strlen(topic);
    for (const char *p = strstr(events, topic); p; p = strstr(p + 1, topic))
        if (p > events && p[-1] == ',' && p[k] == ',')
            return true;
    return false;
}

static void new_secret(char out[WEBHOOK_SECRET_LEN + 1])
{
    unsigned char raw[24];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, "whsec_", 6);
    sodium_bin2base64(out + 6, WEBHOOK_SECRET_LEN + 1 - 6, raw, sizeof raw,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(raw, sizeof raw);
}

/* ---- subscriptions ---------------------------------------------------------- */

struct create_job {
    char url[WEBHOOK_URL_MAX + 1];
    char events[WEBHOOK_EVENTS_MAX * (WEBHOOK_EVENT_MAX + 1) + 2];
    char secret[WEBHOOK_SECRET_LEN + 1];
    int64_t now, id;
};

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct create_job *j = arg;
    int64_t subs;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM webhooks WHERE id > ?", 0, 0, &subs, pb,
                              "counting webhook subscriptions") != SHOP_OK)
        return pb->err;
    if (subs >= WEBHOOK_SUBS_MAX)
        return problem_set(pb, SHOP_CONFLICT, "a shop has at most %d webhook subscriptions",
                           WEBHOOK_SUBS_MAX);
    struct stmt *st = db_prepare(db, "INSERT INTO webhooks (url, events, secret, created_at)"
                                     " VALUES (?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating a webhook");
    stmt_bind_text(st, 1, j->url);
    stmt_bind_text(st, 2, j->events);
    stmt_bind_text(st, 3, j->secret);
    stmt_bind_i64(st, 4, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating a webhook");
    j->id = db_last_id(db);
    return SHOP_OK;
}

enum shop_err webhook_create(struct shop *shop, const struct webhook_in *in, struct webhook *out,
                             struct problem *pb)
{
    struct create_job j = {.now = clock_now_ms()};
    snprintf(j.url, sizeof j.url, "%s", in->url);
    if (!events_join(in->events, in->nevents, j.events, sizeof j.events))
        return problem_field(pb, SHOP_INVALID, "events", "too many event types");
    new_secret(j.secret);
    if (store_write(shop->store, create_write, &j, pb) != SHOP_OK)
        return pb->err;
    memset(out, 0, sizeof *out);
    out->id = j.id;
    snprintf(out->url, sizeof out->url, "%s", j.url);
    events_split(j.events, out);
    memcpy(out->secret, j.secret, sizeof out->secret);
    out->active = true;
    out->created_at = j.now;
    log_event(LOG_INFO, "webhook.created", "{s:I, s:s}", "id", (json_int_t)j.id, "url", j.url);
    return SHOP_OK;
}

static void row_to_webhook(struct stmt *st, struct webhook *w, int64_t now)
{
    memset(w, 0, sizeof *w);
    w->id = stmt_i64(st, 0);
    snprintf(w->url, sizeof w->url, "%s", stmt_text(st, 1));
    events_split(stmt_text(st, 2), w);
    w->active = !strcmp(stmt_text(st, 3), "active");
    snprintf(w->disabled_reason, sizeof w->disabled_reason, "%s", stmt_text(st, 4));
    w->created_at = stmt_i64(st, 5);
    int64_t until = stmt_i64(st, 6);
    w->previous_until = until > now ? until : 0;
}

#define WEBHOOK_COLS                                                                               \
    "SELECT id, url, events, status, disabled_reason, created_at, previous_until FROM webhooks"

enum shop_err webhook_list(struct shop *shop, struct webhook **out, int *n, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, WEBHOOK_COLS " ORDER BY id LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing webhooks");
    stmt_bind_i64(st, 1, WEBHOOK_SUBS_MAX);
    struct webhook *ws = xcalloc(WEBHOOK_SUBS_MAX, sizeof *ws);
    int k = 0, rc;
    int64_t now = clock_now_ms();
    while (k < WEBHOOK_SUBS_MAX && (rc = stmt_step(st)) == STMT_ROW)
        row_to_webhook(st, &ws[k++], now);
    db_release(db);
    *out = ws;
    *n = k;
    return SHOP_OK;
}

struct id_job {
    int64_t id, now, window_ms;
    char secret[WEBHOOK_SECRET_LEN + 1];
};

static enum shop_err delete_write(struct db *db, void *arg, struct problem *pb)
{
    struct id_job *j = arg;
    /* The log first: PostgreSQL and SQLite both cascade, but a foreign key
     * turned off must not leave orphans. */
    struct stmt *st = db_prepare(db, "DELETE FROM webhook_deliveries WHERE webhook_id = ?");
    if (!st)
        return db_fail(db, pb, "deleting a webhook's deliveries");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "deleting a webhook's deliveries");
    st = db_prepare(db, "DELETE FROM webhooks WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "deleting a webhook");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "deleting a webhook");
    if (db_changes(db) == 0)
        return problem_set(pb, SHOP_NOT_FOUND, "no webhook with id %lld", (long long)j->id);
    return SHOP_OK;
}

enum shop_err webhook_delete(struct shop *shop, int64_t id, struct problem *pb)
{
    struct id_job j = {.id = id};
    return store_write(shop->store, delete_write, &j, pb);
}

static enum shop_err rotate_write(struct db *db, void *arg, struct problem *pb)
{
    struct id_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE webhooks SET previous_secret = secret,"
                                     " previous_until = ?, secret = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "rotating a webhook's secret");
    stmt_bind_i64(st, 1, j->now + j->window_ms);
    stmt_bind_text(st, 2, j->secret);
    stmt_bind_i64(st, 3, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "rotating a webhook's secret");
    if (db_changes(db) == 0)
        return problem_set(pb, SHOP_NOT_FOUND, "no webhook with id %lld", (long long)j->id);
    return SHOP_OK;
}

enum shop_err webhook_rotate(struct shop *shop, int64_t id, struct webhook *out, struct problem *pb)
{
    struct id_job j = {.id = id, .now = clock_now_ms(), .window_ms = shop->cfg.webhook_rotation_ms};
    new_secret(j.secret);
    if (store_write(shop->store, rotate_write, &j, pb) != SHOP_OK)
        return pb->err;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, WEBHOOK_COLS " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading a webhook");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW) {
        db_release(db);
        return problem_set(pb, SHOP_NOT_FOUND, "no webhook with id %lld", (long long)id);
    }
    row_to_webhook(st, out, j.now);
    db_release(db);
    memcpy(out->secret, j.secret, sizeof out->secret);
    log_event(LOG_INFO, "webhook.rotated", "{s:I}", "id", (json_int_t)id);
    return SHOP_OK;
}

enum shop_err webhook_deliveries(struct shop *shop, int64_t id, const char *status, int64_t before,
                                 int limit, struct webhook_delivery **out, int *n, int64_t *next,
                                 struct problem *pb)
{
    struct db *db = store_db(shop->store);
    int64_t found;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM webhooks WHERE id = ?", id, 0, &found, pb,
                              "reading the webhook") != SHOP_OK)
        return pb->err;
    if (!found)
        return problem_set(pb, SHOP_NOT_FOUND, "no webhook with id %lld", (long long)id);
    struct stmt *st =
        db_prepare(db, "SELECT id, event_id, event_type, status, attempts, created_at, next_at,"
                       " finished_at, last_status, last_error FROM webhook_deliveries"
                       " WHERE webhook_id = ? AND id < ? AND (? = '' OR status = ?)"
                       " ORDER BY webhook_id DESC, id DESC LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading deliveries");
    stmt_bind_i64(st, 1, id);
    stmt_bind_i64(st, 2, before > 0 ? before : INT64_MAX);
    stmt_bind_text(st, 3, status ? status : "");
    stmt_bind_text(st, 4, status ? status : "");
    stmt_bind_i64(st, 5, limit + 1);
    struct webhook_delivery *ds = xcalloc((size_t)limit + 1, sizeof *ds);
    int k = 0;
    while (k <= limit && stmt_step(st) == STMT_ROW) {
        struct webhook_delivery *d = &ds[k++];
        d->id = stmt_i64(st, 0);
        d->event_id = stmt_i64(st, 1);
        snprintf(d->type, sizeof d->type, "%s", stmt_text(st, 2));
        snprintf(d->status, sizeof d->status, "%s", stmt_text(st, 3));
        d->attempts = (int)stmt_i64(st, 4);
        d->created_at = stmt_i64(st, 5);
        d->next_at = !strcmp(d->status, "pending") ? stmt_i64(st, 6) : 0;
        d->finished_at = stmt_is_null(st, 7) ? 0 : stmt_i64(st, 7);
        d->last_status = stmt_is_null(st, 8) ? 0 : (int)stmt_i64(st, 8);
        snprintf(d->last_error, sizeof d->last_error, "%s", stmt_text(st, 9));
    }
    db_release(db);
    *next = 0;
    if (k > limit) {
        k = limit;
        *next = ds[k - 1].id;
    }
    *out = ds;
    *n = k;
    return SHOP_OK;
}

/* ---- the consumer ----------------------------------------------------------- */

struct sub_row {
    int64_t id, created_at;
    char *events;
};

/* Queues one event for the subscriptions `subs` (read for its slice) that
 * want it and were created before it. */
static enum shop_err queue_event(struct db *db, const struct outbox_event *ev,
                                 const struct sub_row *subs, int nsubs, struct problem *pb)
{
    int64_t ids[WEBHOOK_SUBS_MAX];
    int n = 0;
    for (int i = 0; i < nsubs; i++)
        if (subs[i].created_at <= ev->created_at && events_want(subs[i].events, ev->topic))
            ids[n++] = subs[i].id;
    if (n == 0)
        return SHOP_OK;
    /* The body, exactly as every attempt sends and signs it. */
    char created[RFC3339_LEN];
    json_t *data = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    if (!json_is_object(data)) {
        json_decref(data);
        data = json_object();
    }
    char id[32];
    snprintf(id, sizeof id, "evt_%lld", (long long)ev->id);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o}", "id", id, "type", ev->topic, "created_at",
                            clock_fmt(ev->created_at, created), "data", data);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body)
        return problem_set(pb, SHOP_INTERNAL, "cannot encode the webhook body of event %lld",
                           (long long)ev->id);
    enum shop_err e = SHOP_OK;
    int64_t now = clock_now_ms();
    for (int i = 0; i < n && e == SHOP_OK; i++) {
        struct stmt *st = db_prepare(db, "INSERT INTO webhook_deliveries (webhook_id, event_id,"
                                         " event_type, body, next_at, created_at)"
                                         " VALUES (?, ?, ?, ?, ?, ?)"
                                         " ON CONFLICT (webhook_id, event_id) DO NOTHING");
        if (!st) {
            e = db_fail(db, pb, "queueing a webhook delivery");
            break;
        }
        stmt_bind_i64(st, 1, ids[i]);
        stmt_bind_i64(st, 2, ev->id);
        stmt_bind_text(st, 3, ev->topic);
        stmt_bind_text(st, 4, body);
        stmt_bind_i64(st, 5, now);
        stmt_bind_i64(st, 6, now);
        if (stmt_step(st) != STMT_DONE)
            e = db_fail(db, pb, "queueing a webhook delivery");
    }
    free(body);
    return e;
}

/* The subscriptions are read once per slice of events, not once per event
 * (every order wrote three events, and each cost this read). */
enum shop_err webhook_on_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                               void *cls, struct problem *pb)
{
    (void)cls;
    if (n <= 0)
        return SHOP_OK;
    int64_t newest = evs[0]->created_at;
    for (int i = 1; i < n; i++)
        if (evs[i]->created_at > newest)
            newest = evs[i]->created_at;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT id, events, created_at FROM webhooks"
                                     " WHERE status = 'active' AND created_at <= ? ORDER BY id");
    if (!st)
        return db_fail(db, pb, "reading webhooks");
    stmt_bind_i64(st, 1, newest);
    struct sub_row *subs = NULL;
    int nsubs = 0, rc = STMT_DONE;
    while (nsubs < WEBHOOK_SUBS_MAX && (rc = stmt_step(st)) == STMT_ROW) {
        if (!subs)
            subs = xcalloc(WEBHOOK_SUBS_MAX, sizeof *subs);
        subs[nsubs].id = stmt_i64(st, 0);
        subs[nsubs].events = xstrdup(stmt_text(st, 1));
        subs[nsubs].created_at = stmt_i64(st, 2);
        nsubs++;
    }
    /* A read that failed halfway is no shorter list (a delivery lost). */
    enum shop_err e =
        rc == STMT_ROW || rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading webhooks");
    for (int i = 0; i < n && e == SHOP_OK && nsubs > 0; i++)
        e = queue_event(db, evs[i], subs, nsubs, pb);
    for (int i = 0; i < nsubs; i++)
        free(subs[i].events);
    free(subs);
    return e;
}

/* ---- the worker's side ------------------------------------------------------ */

struct claim_job {
    struct shop *shop;
    int max, per_sub;
    int64_t hold_ms;
    int (*inflight_of)(void *cls, int64_t webhook_id);
    void *cls;
    struct webhook_job *jobs;
    int n;
};

static void jobs_reset(struct claim_job *j)
{
    webhook_jobs_free(j->jobs, j->n);
    j->jobs = NULL;
    j->n = 0;
}

static enum shop_err claim_write(struct db *db, void *arg, struct problem *pb)
{
    struct claim_job *j = arg;
    jobs_reset(j);
    int64_t now = clock_now_ms();
    struct stmt *st = db_prepare(db, "SELECT id, secret, previous_secret, previous_until, url"
                                     " FROM webhooks WHERE status = 'active' ORDER BY id");
    if (!st)
        return db_fail(db, pb, "reading webhooks");
    struct sub {
        int64_t id;
        char secret[WEBHOOK_SECRET_LEN + 1], previous[WEBHOOK_SECRET_LEN + 1];
        char *url;
    } *subs = xcalloc(WEBHOOK_SUBS_MAX, sizeof *subs);
    int nsubs = 0;
    while (nsubs < WEBHOOK_SUBS_MAX && stmt_step(st) == STMT_ROW) {
        struct sub *s = &subs[nsubs++];
        s->id = stmt_i64(st, 0);
        snprintf(s->secret, sizeof s->secret, "%s", stmt_text(st, 1));
        if (!stmt_is_null(st, 3) && stmt_i64(st, 3) > now)
            snprintf(s->previous, sizeof s->previous, "%s", stmt_text(st, 2));
        s->url = xstrdup(stmt_text(st, 4));
    }
    j->jobs = xcalloc((size_t)j->max, sizeof *j->jobs);
    enum shop_err e = SHOP_OK;
    /* Round-robin start so one busy subscription cannot take every slot. */
    for (int i = 0; i < nsubs && j->n < j->max; i++) {
        struct sub *s = &subs[i];
        int room = j->per_sub - j->inflight_of(j->cls, s->id);
        if (room > j->max - j->n)
            room = j->max - j->n;
        if (room <= 0)
            continue;
        st = db_prepare(db, "SELECT id, event_id, body, attempts, created_at"
                            " FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending'"
                            " AND next_at <= ? ORDER BY webhook_id, next_at LIMIT ?");
        if (!st) {
            e = db_fail(db, pb, "reading due deliveries");
            break;
        }
        stmt_bind_i64(st, 1, s->id);
        stmt_bind_i64(st, 2, now);
        stmt_bind_i64(st, 3, room);
        int first = j->n;
        while (j->n < j->max && stmt_step(st) == STMT_ROW) {
            struct webhook_job *w = &j->jobs[j->n++];
            w->id = stmt_i64(st, 0);
            w->webhook_id = s->id;
            w->event_id = stmt_i64(st, 1);
            w->body_len = (size_t)stmt_len(st, 2);
            w->body = xmalloc(w->body_len + 1);
            memcpy(w->body, stmt_text(st, 2), w->body_len + 1);
            w->attempts = (int)stmt_i64(st, 3);
            w->created_at = stmt_i64(st, 4);
            w->url = xstrdup(s->url);
            snprintf(w->msg_id, sizeof w->msg_id, "evt_%lld", (long long)w->event_id);
            memcpy(w->secret, s->secret, sizeof w->secret);
            memcpy(w->previous, s->previous, sizeof w->previous);
        }
        for (int k = first; k < j->n && e == SHOP_OK; k++) {
            st = db_prepare(db, "UPDATE webhook_deliveries SET next_at = ?"
                                " WHERE id = ? AND status = 'pending'");
            if (!st) {
                e = db_fail(db, pb, "claiming a delivery");
                break;
            }
            stmt_bind_i64(st, 1, now + j->hold_ms);
            stmt_bind_i64(st, 2, j->jobs[k].id);
            if (stmt_step(st) != STMT_DONE)
                e = db_fail(db, pb, "claiming a delivery");
        }
    }
    for (int i = 0; i < nsubs; i++)
        free(subs[i].url);
    free(subs);
    return e;
}

enum shop_err webhook_claim(struct shop *shop, int max, int per_sub, int64_t hold_ms,
                            int (*inflight_of)(void *cls, int64_t webhook_id), void *cls,
                            struct webhook_job **out, int *n, struct problem *pb)
{
    struct claim_job j = {.shop = shop,
                          .max = max,
                          .per_sub = per_sub,
                          .hold_ms = hold_ms,
                          .inflight_of = inflight_of,
                          .cls = cls};
    *out = NULL;
    *n = 0;
    if (store_write(shop->store, claim_write, &j, pb) != SHOP_OK) {
        jobs_reset(&j);
        return pb->err;
    }
    *out = j.jobs;
    *n = j.n;
    return SHOP_OK;
}

void webhook_jobs_free(struct webhook_job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        free(jobs[i].url);
        free(jobs[i].body);
    }
    free(jobs);
}

struct record_job {
    struct shop *shop;
    const struct webhook_job *jobs;
    int n;
    int64_t now;
};

/* Disables subscription `id` (if still active): its pending deliveries
 * fail and every admin is told. */
static enum shop_err disable(struct shop *shop, struct db *db, int64_t id, const char *reason,
                             int64_t now, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "UPDATE webhooks SET status = 'disabled', disabled_reason = ?"
                                     " WHERE id = ? AND status = 'active'");
    if (!st)
        return db_fail(db, pb, "disabling a webhook");
    stmt_bind_text(st, 1, reason);
    stmt_bind_i64(st, 2, id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "disabling a webhook");
    if (db_changes(db) == 0)
        return SHOP_OK;
    st = db_prepare(db, "UPDATE webhook_deliveries SET status = 'failed', finished_at = ?,"
                        " last_error = 'the subscription was disabled'"
                        " WHERE webhook_id = ? AND status = 'pending'");
    if (!st)
        return db_fail(db, pb, "failing a disabled webhook's deliveries");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "failing a disabled webhook's deliveries");
    st = db_prepare(db, "SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT ?");
    if (!st)
        return db_fail(db, pb, "finding admins");
    stmt_bind_i64(st, 1, ADMINS_MAX);
    int64_t admins[ADMINS_MAX];
    int na = 0;
    while (na < ADMINS_MAX && stmt_step(st) == STMT_ROW)
        admins[na++] = stmt_i64(st, 0);
    char key[64], title[96], body[NOTIFY_BODY_MAX];
    snprintf(key, sizeof key, "webhook.disabled:%lld:%lld", (long long)id, (long long)now);
    snprintf(title, sizeof title, "Webhook %lld disabled", (long long)id);
    snprintf(body, sizeof body, "Webhook %lld no longer receives events: %.400s", (long long)id,
             reason);
    json_t *data = json_pack("{s:I, s:s}", "webhook_id", (json_int_t)id, "reason", reason);
    struct notify_spec spec = {
        .key = key, .kind = "webhook.disabled", .title = title, .body = body, .data = data};
    enum shop_err e = SHOP_OK;
    for (int i = 0; i < na && e == SHOP_OK; i++)
        e = notify_user(shop, admins[i], &spec, pb);
    json_decref(data);
    log_event(LOG_WARN, "webhook.disabled", "{s:I, s:s}", "id", (json_int_t)id, "reason", reason);
    return e;
}

static enum shop_err record_write(struct db *db, void *arg, struct problem *pb)
{
    struct record_job *j = arg;
    const struct shop_config *cfg = &j->shop->cfg;
    for (int i = 0; i < j->n; i++) {
        const struct webhook_job *w = &j->jobs[i];
        bool ok = w->http_status >= 200 && w->http_status <= 299;
        struct stmt *st;
        if (ok) {
            st = db_prepare(db, "UPDATE webhook_deliveries SET status = 'delivered',"
                                " attempts = attempts + 1, finished_at = ?, last_status = ?,"
                                " last_error = NULL WHERE id = ? AND status = 'pending'");
            if (!st)
                return db_fail(db, pb, "recording a delivery");
            stmt_bind_i64(st, 1, j->now);
            stmt_bind_i64(st, 2, w->http_status);
            stmt_bind_i64(st, 3, w->id);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "recording a delivery");
            st = db_prepare(db, "UPDATE webhooks SET failing_since = NULL"
                                " WHERE id = ? AND failing_since IS NOT NULL");
            if (!st)
                return db_fail(db, pb, "recording a delivery");
            stmt_bind_i64(st, 1, w->webhook_id);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "recording a delivery");
            continue;
        }
        bool give_up = j->now - w->created_at >= cfg->webhook_retry_window_ms;
        int64_t next = j->now + webhook_backoff_ms(w->attempts + 1, cfg->webhook_backoff_ms,
                                                   cfg->webhook_backoff_max_ms);
        st = db_prepare(db, "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,"
                            " next_at = ?, finished_at = ?, last_status = ?, last_error = ?"
                            " WHERE id = ? AND status = 'pending'");
        if (!st)
            return db_fail(db, pb, "recording a failed delivery");
        stmt_bind_text(st, 1, give_up ? "failed" : "pending");
        stmt_bind_i64(st, 2, next);
        if (give_up)
            stmt_bind_i64(st, 3, j->now);
        else
            stmt_bind_null(st, 3);
        if (w->http_status)
            stmt_bind_i64(st, 4, w->http_status);
        else
            stmt_bind_null(st, 4);
        stmt_bind_text(st, 5, w->error);
        stmt_bind_i64(st, 6, w->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording a failed delivery");
        if (w->http_status == 410) {
            if (disable(j->shop, db, w->webhook_id, "the receiver answered 410 Gone", j->now, pb) !=
                SHOP_OK)
                return pb->err;
            continue;
        }
        st = db_prepare(db, "UPDATE webhooks SET failing_since = ?"
                            " WHERE id = ? AND failing_since IS NULL");
        if (!st)
            return db_fail(db, pb, "recording a failure");
        stmt_bind_i64(st, 1, j->now);
        stmt_bind_i64(st, 2, w->webhook_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording a failure");
        int64_t since = db_scalar_i64(db, "SELECT failing_since FROM webhooks WHERE id = ?",
                                      w->webhook_id, j->now);
        if (j->now - since >= cfg->webhook_disable_after_ms) {
            char reason[WEBHOOK_ERROR_MAX + 1];
            snprintf(reason, sizeof reason, "every delivery failed for %lld s (last: %.120s)",
                     (long long)((j->now - since) / 1000), w->error);
            if (disable(j->shop, db, w->webhook_id, reason, j->now, pb) != SHOP_OK)
                return pb->err;
        }
    }
    return SHOP_OK;
}

enum shop_err webhook_record(struct shop *shop, const struct webhook_job *jobs, int n,
                             struct problem *pb)
{
    if (n == 0)
        return SHOP_OK;
    struct record_job j = {.shop = shop, .jobs = jobs, .n = n, .now = clock_now_ms()};
    if (store_write(shop->store, record_write, &j, pb) != SHOP_OK)
        return pb->err;
    notify_kick(shop);
    return SHOP_OK;
}

/* ---- signatures and backoff ------------------------------------------------- */

static bool sign_one(const char *secret, const char *msg_id, const char *ts, const char *body,
                     size_t len, char *out, size_t outlen)
{
    if (strncmp(secret, "whsec_", 6))
        return false;
    unsigned char key[64];
    size_t klen;
    if (sodium_base642bin(key, sizeof key, secret + 6, strlen(secret + 6), NULL, &klen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    crypto_auth_hmacsha256_state h;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&h, key, klen);
    crypto_auth_hmacsha256_update(&h, (const unsigned char *)msg_id, strlen(msg_id));
    crypto_auth_hmacsha256_update(&h, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&h, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&h, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&h, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&h, mac);
    sodium_memzero(key, sizeof key);
    if (outlen < 3 + sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_ORIGINAL))
        return false;
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, outlen - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    return true;
}

bool webhook_sign(const char *secret, const char *previous, const char *msg_id, int64_t ts,
                  const char *body, size_t len, char out[WEBHOOK_SIG_MAX])
{
    char tss[24];
    snprintf(tss, sizeof tss, "%lld", (long long)ts);
    if (!sign_one(secret, msg_id, tss, body, len, out, WEBHOOK_SIG_MAX))
        return false;
    if (previous && *previous) {
        size_t used = strlen(out);
        out[used++] = ' ';
        if (!sign_one(previous, msg_id, tss, body, len, out + used, WEBHOOK_SIG_MAX - used))
            out[used - 1] = '\0';
    }
    return true;
}

int64_t webhook_backoff_ms(int attempts, int64_t base_ms, int64_t max_ms)
{
    int64_t d = base_ms;
    for (int i = 1; i < attempts && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* Half fixed, half random: retries of many deliveries spread out. */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)randombytes_uniform(
                                  (uint32_t)(half > 0x7fffffff ? 0x7fffffff : half) + 1)
                            : 0);
}
