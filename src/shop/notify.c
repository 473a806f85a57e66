/* notify.c — recording what is owed (messages, fan-outs, one user's rows)
 * and the admin's view of it: fan-out progress and dead letters. The
 * delivery side is work/notify_worker.h; the state machine is in notify.h.
 */
#include "shop/notify.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "work/notify_worker.h"

static const char *const state_names[] = {"pending", "sent", "failed", "dead", "skipped"};

const char *notify_state_name(enum notify_state s)
{
    return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "?";
}

const char *notify_money(int64_t cents, const char *currency, char out[64])
{
    lldiv_t d = lldiv((long long)cents, 100);
    snprintf(out, 64, "%s%lld.%02d %.8s", cents < 0 ? "-" : "", d.quot < 0 ? -d.quot : d.quot,
             (int)(d.rem < 0 ? -d.rem : d.rem), currency);
    return out;
}

void notify_kick(struct shop *shop)
{
    if (shop->notify)
        notify_engine_kick(shop->notify);
}

/* Wakes the engine for what was just recorded, unless it is not committed
 * yet: inside a write function the caller kicks once the write commits (the
 * outbox consumers do so after each slice). */
static void kick_if_committed(struct shop *shop)
{
    if (!store_in_write(shop->store))
        notify_kick(shop);
}

/* ---- recording ------------------------------------------------------------- */

/* The messages of specs[0..n), n being 16, 4 or 1 (three statement texts
 * in the cache), each created on first use. */
static bool messages_insert(struct db *db, const struct notify_spec *specs, int n, int64_t now)
{
#define ROW   "(?, ?, ?, ?, ?, ?)"
#define ROWS4 ROW ", " ROW ", " ROW ", " ROW
#define INSERT                                                                                     \
    "INSERT INTO notify_messages (event_key, kind, title, body, data, created_at) VALUES "
#define ONCE " ON CONFLICT (event_key) DO NOTHING"
    struct stmt *st = db_prepare(db, n == 16  ? INSERT ROWS4 ", " ROWS4 ", " ROWS4 ", " ROWS4 ONCE
                                     : n == 4 ? INSERT ROWS4 ONCE
                                              : INSERT ROW ONCE);
#undef ONCE
#undef INSERT
#undef ROWS4
#undef ROW
    if (!st)
        return false;
    char *data[16];
    for (int i = 0; i < n; i++) {
        data[i] = specs[i].data ? jx_dump(specs[i].data, NULL) : NULL;
        stmt_bind_text(st, 6 * i + 1, specs[i].key);
        stmt_bind_text(st, 6 * i + 2, specs[i].kind);
        stmt_bind_text(st, 6 * i + 3, specs[i].title);
        stmt_bind_text(st, 6 * i + 4, specs[i].body);
        stmt_bind_text(st, 6 * i + 5, data[i] ? data[i] : "{}");
        stmt_bind_i64(st, 6 * i + 6, now);
    }
    bool ok = stmt_step(st) == STMT_DONE;
    for (int i = 0; i < n; i++)
        free(data[i]);
    return ok;
}

/* The message of an event, created on first use. */
static enum shop_err message_upsert(struct db *db, const struct notify_spec *s, int64_t now,
                                    int64_t *id, struct problem *pb)
{
    if (!messages_insert(db, s, 1, now))
        return db_fail(db, pb, "recording a notification");
    struct stmt *st = db_prepare(db, "SELECT id FROM notify_messages WHERE event_key = ?");
    if (!st)
        return db_fail(db, pb, "recording a notification");
    stmt_bind_text(st, 1, s->key);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "recording a notification");
    *id = stmt_i64(st, 0);
    return SHOP_OK;
}

/* The fan-out of `spec` to the wishlisters of `product_id`; a spec without a
 * title is titled `prefix` + the product's title. */
static enum shop_err fanout_in(struct db *db, int64_t product_id, const struct notify_spec *spec,
                               const char *prefix, int64_t *id, bool *created, struct problem *pb)
{
    *created = false;
    struct stmt *st = db_prepare(db, "SELECT title FROM products WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the product");
    stmt_bind_i64(st, 1, product_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_field(pb, SHOP_NOT_FOUND, "product_id", "no product with id %lld",
                             (long long)product_id);
    char title[NOTIFY_TITLE_MAX * 4 + 64];
    struct notify_spec s = *spec;
    if (!s.title) {
        snprintf(title, sizeof title, "%s%s", prefix, stmt_text(st, 0));
        s.title = title;
    }
    int64_t now = clock_now_ms(), message = 0;
    if (message_upsert(db, &s, now, &message, pb) != SHOP_OK)
        return pb->err;
    st = db_prepare(db, "INSERT INTO notify_fanouts (message_id, product_id, created_at)"
                        " VALUES (?, ?, ?) ON CONFLICT (message_id) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "recording a fan-out");
    stmt_bind_i64(st, 1, message);
    stmt_bind_i64(st, 2, product_id);
    stmt_bind_i64(st, 3, now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording a fan-out");
    if (db_changes(db) == 1) {
        *id = db_last_id(db);
        *created = true;
        return SHOP_OK;
    }
    st = db_prepare(db, "SELECT id, product_id FROM notify_fanouts WHERE message_id = ?");
    if (!st)
        return db_fail(db, pb, "reading a fan-out");
    stmt_bind_i64(st, 1, message);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading a fan-out");
    *id = stmt_i64(st, 0);
    if (stmt_i64(st, 1) != product_id)
        return problem_field(pb, SHOP_CONFLICT, "key", "%s was already announced for product %lld",
                             spec->key, (long long)stmt_i64(st, 1));
    return SHOP_OK;
}

enum shop_err notify_fanout_create_in(struct db *db, int64_t product_id,
                                      const struct notify_spec *spec, int64_t *id, bool *created,
                                      struct problem *pb)
{
    return fanout_in(db, product_id, spec, "", id, created, pb);
}

struct fanout_job {
    int64_t product_id;
    const struct notify_spec *spec;
    const char *prefix;
    int64_t id;
    bool created;
};

static enum shop_err fanout_write(struct db *db, void *arg, struct problem *pb)
{
    struct fanout_job *j = arg;
    return fanout_in(db, j->product_id, j->spec, j->prefix, &j->id, &j->created, pb);
}

/* Records the fan-out (committing with the caller's transaction when called
 * inside a write function) and wakes the engine. */
static enum shop_err fanout_record(struct shop *shop, struct fanout_job *j, struct problem *pb)
{
    if (store_write(shop->store, fanout_write, j, pb) != SHOP_OK)
        return pb->err;
    kick_if_committed(shop);
    return SHOP_OK;
}

enum shop_err notify_fanout_create(struct shop *shop, int64_t product_id,
                                   const struct notify_spec *spec, int64_t *id, bool *created,
                                   struct problem *pb)
{
    struct fanout_job j = {.product_id = product_id, .spec = spec, .prefix = ""};
    if (fanout_record(shop, &j, pb) != SHOP_OK)
        return pb->err;
    *id = j.id;
    *created = j.created;
    return SHOP_OK;
}

enum shop_err notify_fanout_custom(struct shop *shop, int64_t product_id, const char *key,
                                   const char *title, const char *body, int64_t *id, bool *created,
                                   struct problem *pb)
{
    size_t n = strlen(key);
    bool ok = n >= 1 && n <= NOTIFY_KEY_MAX;
    for (const char *p = key; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || strchr("._:-", *p);
    if (!ok)
        problem_field(pb, SHOP_INVALID, "key", "must be 1-%d letters, digits, '.', '_', ':' or '-'",
                      NOTIFY_KEY_MAX);
    if (title && (!*title || jx_utf8_len(title) > NOTIFY_TITLE_MAX))
        problem_field(pb, SHOP_INVALID, "title", "must be 1-%d characters", NOTIFY_TITLE_MAX);
    if (body && (!*body || jx_utf8_len(body) > NOTIFY_BODY_MAX))
        problem_field(pb, SHOP_INVALID, "body", "must be 1-%d characters", NOTIFY_BODY_MAX);
    if (pb->err)
        return pb->err;
    char event_key[NOTIFY_KEY_MAX + 16];
    snprintf(event_key, sizeof event_key, "fanout:%s", key);
    json_t *data = json_pack("{s:I, s:s}", "product_id", (json_int_t)product_id, "key", key);
    struct notify_spec spec = {.key = event_key,
                               .kind = "announcement",
                               .title = title, /* NULL: the product's title */
                               .body = body ? body : "News about a product on your wishlist.",
                               .data = data};
    struct fanout_job j = {.product_id = product_id, .spec = &spec, .prefix = ""};
    enum shop_err e = fanout_record(shop, &j, pb);
    json_decref(data);
    *id = j.id;
    *created = j.created;
    return e;
}

enum shop_err notify_flash_sale_started(struct shop *shop, int64_t sale_id, int64_t product_id,
                                        struct problem *pb)
{
    char key[64], url[64];
    snprintf(key, sizeof key, "flash_sale:%lld", (long long)sale_id);
    snprintf(url, sizeof url, "/v1/flash-sales/%lld", (long long)sale_id);
    json_t *data = json_pack("{s:I, s:I, s:s}", "sale_id", (json_int_t)sale_id, "product_id",
                             (json_int_t)product_id, "url", url);
    struct notify_spec spec = {
        .key = key,
        .kind = "flash_sale",
        .body = "A product on your wishlist is on sale now, in limited numbers. Join the queue.",
        .data = data,
    };
    struct fanout_job j = {.product_id = product_id, .spec = &spec, .prefix = "Flash sale: "};
    enum shop_err e = fanout_record(shop, &j, pb);
    json_decref(data);
    return e;
}

/* The notification rows of `n` (16, 4 or 1) users, each for its own event's
 * message, in one statement: the (user, event key) pairs are a UNION ALL of
 * SELECTs (SQLite's VALUES cannot name its columns), numbered ?3, ?4, … as
 * every channel's arm repeats them; ?1 is next_at and ?2 the rows' time. The
 * three texts are built once. */
#define PAIRS_MAX 16
static char pairs_sql[3][8 * 1024];
static pthread_once_t pairs_once = PTHREAD_ONCE_INIT;

static void pairs_build(void)
{
    static const int sizes[3] = {1, 4, PAIRS_MAX};
    for (int k = 0; k < 3; k++) {
        char from[1024];
        size_t n = (size_t)snprintf(from, sizeof from,
                                    "(SELECT CAST(?3 AS BIGINT) AS user_id, ?4 AS event_key");
        for (int i = 1; i < sizes[k]; i++)
            n += (size_t)snprintf(from + n, sizeof from - n, " UNION ALL SELECT ?%d, ?%d",
                                  3 + 2 * i, 4 + 2 * i);
        snprintf(from + n, sizeof from - n,
                 ") AS v JOIN users u ON u.id = v.user_id"
                 " JOIN notify_messages m ON m.event_key = v.event_key");
        /* NOTIFY_ROWS with FROM as a runtime string: %1$s for each arm. */
        snprintf(pairs_sql[k], sizeof pairs_sql[k],
                 "INSERT INTO notifications (message_id, user_id, channel, state, attempts,"
                 " next_at, created_at, updated_at) " NOTIFY_ROWS("m.id", "u.id", "%1$s", "1 = 1",
                                                                  "?1") " ON CONFLICT DO NOTHING",
                 from);
    }
}

static bool notifications_insert(struct db *db, const struct notify_spec *specs,
                                 const int64_t *users, int n, int64_t now)
{
    pthread_once(&pairs_once, pairs_build);
    struct stmt *st = db_prepare(db, pairs_sql[n == PAIRS_MAX ? 2 : n == 4 ? 1 : 0]);
    if (!st)
        return false;
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, now);
    for (int i = 0; i < n; i++) {
        stmt_bind_i64(st, 3 + 2 * i, users[i]);
        stmt_bind_text(st, 4 + 2 * i, specs[i].key);
    }
    return stmt_step(st) == STMT_DONE;
}

enum shop_err notify_users_in(struct db *db, const struct notify_spec *specs, const int64_t *users,
                              int n, struct problem *pb)
{
    int64_t now = clock_now_ms();
    for (int at = 0; at < n;) {
        int k = n - at >= PAIRS_MAX ? PAIRS_MAX : n - at >= 4 ? 4 : 1;
        if (!messages_insert(db, specs + at, k, now) ||
            !notifications_insert(db, specs + at, users + at, k, now))
            return db_fail(db, pb, "recording notifications");
        at += k;
    }
    return SHOP_OK;
}

struct user_job {
    int64_t user_id;
    const struct notify_spec *spec;
};

static enum shop_err user_write(struct db *db, void *arg, struct problem *pb)
{
    struct user_job *j = arg;
    return notify_users_in(db, j->spec, &j->user_id, 1, pb);
}

enum shop_err notify_user(struct shop *shop, int64_t user_id, const struct notify_spec *spec,
                          struct problem *pb)
{
    struct user_job j = {.user_id = user_id, .spec = spec};
    if (store_write(shop->store, user_write, &j, pb) != SHOP_OK)
        return pb->err;
    kick_if_committed(shop);
    return SHOP_OK;
}

/* ---- the admin's view ------------------------------------------------------- */

enum shop_err notify_fanout_get(struct shop *shop, int64_t id, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT f.id, m.event_key, f.product_id, f.state,"
                                     " f.users_total, f.users_done, f.notifications, f.created_at,"
                                     " f.finished_at, f.message_id FROM notify_fanouts f"
                                     " JOIN notify_messages m ON m.id = f.message_id"
                                     " WHERE f.id = ?");
    if (!st)
        return db_fail(db, pb, "reading a fan-out");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW) {
        db_release(db);
        return problem_set(pb, SHOP_NOT_FOUND, "no fan-out with id %lld", (long long)id);
    }
    char created[RFC3339_LEN];
    int64_t total = stmt_i64(st, 4);
    json_t *o =
        json_pack("{s:I, s:s, s:I, s:s, s:o, s:I, s:I, s:s}", "id", (json_int_t)stmt_i64(st, 0),
                  "key", stmt_text(st, 1), "product_id", (json_int_t)stmt_i64(st, 2), "state",
                  stmt_text(st, 3), "users_total", total < 0 ? json_null() : json_integer(total),
                  "users_done", (json_int_t)stmt_i64(st, 5), "notifications",
                  (json_int_t)stmt_i64(st, 6), "created_at", clock_fmt(stmt_i64(st, 7), created));
    json_object_set_new(o, "finished_at",
                        stmt_is_null(st, 8) ? json_null()
                                            : json_string(clock_fmt(stmt_i64(st, 8), created)));
    int64_t message = stmt_i64(st, 9);
    /* Walks the message's rows: proportional to the fan-out, an admin's view. */
    json_t *delivery = json_object();
    for (size_t k = 0; k < sizeof state_names / sizeof state_names[0]; k++)
        json_object_set_new(delivery, state_names[k], json_integer(0));
    st = db_prepare(db, "SELECT state, count(*) FROM notifications WHERE message_id = ?"
                        " GROUP BY state");
    if (st) {
        stmt_bind_i64(st, 1, message);
        while (stmt_step(st) == STMT_ROW)
            json_object_set_new(delivery, notify_state_name((enum notify_state)stmt_i64(st, 0)),
                                json_integer(stmt_i64(st, 1)));
    }
    db_release(db);
    json_object_set_new(o, "delivery", delivery);
    *out = o;
    return SHOP_OK;
}

#define NOTIFICATION_SQL                                                                           \
    "SELECT n.id, n.user_id, n.channel, n.state, n.attempts, n.last_error, n.next_at,"             \
    " n.created_at, n.updated_at, m.event_key, m.kind, m.title"                                    \
    " FROM notifications n JOIN notify_messages m ON m.id = n.message_id"

static json_t *notification_json(struct stmt *st)
{
    char t1[RFC3339_LEN], t2[RFC3339_LEN];
    enum notify_state state = (enum notify_state)stmt_i64(st, 3);
    json_t *o =
        json_pack("{s:I, s:I, s:s, s:s, s:I, s:s?, s:s, s:s, s:s, s:s, s:s}", "id",
                  (json_int_t)stmt_i64(st, 0), "user_id", (json_int_t)stmt_i64(st, 1), "channel",
                  notify_channel_name((enum notify_channel)stmt_i64(st, 2)), "state",
                  notify_state_name(state), "attempts", (json_int_t)stmt_i64(st, 4), "last_error",
                  stmt_is_null(st, 5) ? NULL : stmt_text(st, 5), "created_at",
                  clock_fmt(stmt_i64(st, 7), t1), "updated_at", clock_fmt(stmt_i64(st, 8), t2),
                  "key", stmt_text(st, 9), "kind", stmt_text(st, 10), "title", stmt_text(st, 11));
    if (state == NOTIFY_PENDING || state == NOTIFY_FAILED)
        json_object_set_new(o, "next_attempt_at", json_string(clock_fmt(stmt_i64(st, 6), t1)));
    return o;
}

enum shop_err notify_dead_letters(struct shop *shop, int limit, const char *cursor, json_t **out,
                                  struct problem *pb)
{
    int64_t before = INT64_MAX;
    if (cursor) {
        char *end;
        errno = 0;
        long long v = strtoll(cursor, &end, 10);
        if (!*cursor || *end || errno || v <= 0)
            return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
        before = v;
    }
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, NOTIFICATION_SQL " WHERE n.state = 3 AND n.id < ?"
                                                      " ORDER BY n.id DESC LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing dead letters");
    stmt_bind_i64(st, 1, before);
    stmt_bind_i64(st, 2, limit + 1);
    json_t *data = json_array();
    int n = 0;
    int64_t last = 0;
    bool more = false;
    while (stmt_step(st) == STMT_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        last = stmt_i64(st, 0);
        json_array_append_new(data, notification_json(st));
        n++;
    }
    db_release(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)last) : json_null());
    return SHOP_OK;
}

struct retry_job {
    int64_t id;
};

static enum shop_err retry_write(struct db *db, void *arg, struct problem *pb)
{
    struct retry_job *j = arg;
    int64_t now = clock_now_ms();
    struct stmt *st = db_prepare(db, "UPDATE notifications SET state = 0, attempts = 0,"
                                     " next_at = ?, updated_at = ? WHERE id = ? AND state = 3");
    if (!st)
        return db_fail(db, pb, "retrying a notification");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, now);
    stmt_bind_i64(st, 3, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "retrying a notification");
    if (db_changes(db) == 1)
        return SHOP_OK;
    int64_t state;
    if (db_scalar_i64_or_fail(db, "SELECT state FROM notifications WHERE id = ?", j->id, -1, &state,
                              pb, "reading the notification") != SHOP_OK)
        return pb->err;
    if (state < 0)
        return problem_set(pb, SHOP_NOT_FOUND, "no notification with id %lld", (long long)j->id);
    return problem_set(pb, SHOP_CONFLICT, "notification %lld is %s, not dead", (long long)j->id,
                       notify_state_name((enum notify_state)state));
}

enum shop_err notify_dead_letter_retry(struct shop *shop, int64_t id, json_t **out,
                                       struct problem *pb)
{
    struct retry_job j = {.id = id};
    if (store_write(shop->store, retry_write, &j, pb) != SHOP_OK)
        return pb->err;
    notify_kick(shop);
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, NOTIFICATION_SQL " WHERE n.id = ?");
    if (!st)
        return db_fail(db, pb, "reading a notification");
    stmt_bind_i64(st, 1, id);
    enum shop_err e = SHOP_OK;
    if (stmt_step(st) == STMT_ROW)
        *out = notification_json(st);
    else
        e = db_fail(db, pb, "reading a notification");
    db_release(db);
    return e;
}
