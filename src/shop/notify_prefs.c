#include "shop/notify_prefs.h"

#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/keyset.h"

/* ---- devices -------------------------------------------------------------------- */

static bool platform_valid(const char *p)
{
    return !strcmp(p, "ios") || !strcmp(p, "android") || !strcmp(p, "web");
}

/* Tokens are opaque to us but end up in JSON and logs: printable ASCII only. */
static bool token_valid(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return false;
    return true;
}

struct device_job {
    int64_t user_id;
    const char *platform, *token;
    int64_t now, id;
    bool created;
};

static enum shop_err device_write(struct db *db, void *arg, struct problem *pb)
{
    struct device_job *j = arg;
    struct stmt *st = db_prepare(db, "SELECT user_id FROM devices WHERE token = ?");
    if (!st)
        return db_fail(db, pb, "reading devices");
    stmt_bind_text(st, 1, j->token);
    j->created = stmt_step(st) != STMT_ROW || stmt_i64(st, 0) != j->user_id;
    st = db_prepare(db, "INSERT INTO devices (user_id, platform, token, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (token) DO UPDATE SET"
                        " user_id = excluded.user_id, platform = excluded.platform,"
                        " updated_at = excluded.updated_at,"
                        " created_at = CASE WHEN devices.user_id = excluded.user_id"
                        "   THEN devices.created_at ELSE excluded.created_at END"
                        " RETURNING id");
    if (!st)
        return db_fail(db, pb, "registering the device");
    stmt_bind_i64(st, 1, j->user_id);
    stmt_bind_text(st, 2, j->platform);
    stmt_bind_text(st, 3, j->token);
    stmt_bind_i64(st, 4, j->now);
    stmt_bind_i64(st, 5, j->now);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "registering the device");
    j->id = stmt_i64(st, 0);
    /* Bounded per user: the least recently registered go. */
    st = db_prepare(db, "DELETE FROM devices WHERE user_id = ?1 AND id NOT IN (SELECT id FROM"
                        " devices WHERE user_id = ?1 ORDER BY updated_at DESC, id DESC LIMIT ?2)");
    if (!st)
        return db_fail(db, pb, "registering the device");
    stmt_bind_i64(st, 1, j->user_id);
    stmt_bind_i64(st, 2, NOTIFY_DEVICES_MAX);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "registering the device");
}

#define DEVICE_SQL "SELECT id, platform, token, created_at, updated_at FROM devices"

static json_t *device_json(struct stmt *st)
{
    char c[RFC3339_LEN], u[RFC3339_LEN];
    return json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)stmt_i64(st, 0), "platform",
                     stmt_text(st, 1), "token", stmt_text(st, 2), "created_at",
                     clock_fmt(stmt_i64(st, 3), c), "updated_at", clock_fmt(stmt_i64(st, 4), u));
}

enum shop_err notify_device_register(struct shop *shop, int64_t user_id, json_t *body, json_t **out,
                                     bool *created, struct problem *pb)
{
    struct device_job j = {.user_id = user_id, .now = clock_now_ms()};
    if (jx_str(body, "platform", NULL, JX_REQUIRED, 1, 16, &j.platform, pb) &&
        !platform_valid(j.platform))
        problem_field(pb, SHOP_INVALID, "platform", "must be ios, android or web");
    if (jx_str(body, "token", NULL, JX_REQUIRED, 1, NOTIFY_TOKEN_MAX, &j.token, pb) &&
        !token_valid(j.token))
        problem_field(pb, SHOP_INVALID, "token",
                      "must be printable ASCII without spaces, quotes or backslashes");
    if (pb->err)
        return pb->err;
    if (store_write(shop->store, device_write, &j, pb) != SHOP_OK)
        return pb->err;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, DEVICE_SQL " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the device");
    stmt_bind_i64(st, 1, j.id);
    enum shop_err e = SHOP_OK;
    if (stmt_step(st) == STMT_ROW)
        *out = device_json(st);
    else /* replaced by another registration in between */
        e = problem_set(pb, SHOP_CONFLICT, "the device was registered again meanwhile; retry");
    db_release(db);
    *created = j.created;
    return e;
}

/* A cursor is "<updated_at>.<id>" of the last device of a page. */
enum shop_err notify_devices_list(struct shop *shop, int64_t user_id, int limit, const char *cursor,
                                  json_t **out, struct problem *pb)
{
    int64_t before_at = INT64_MAX, before_id = INT64_MAX;
    if (cursor && !keyset_pair_parse(cursor, &before_at, &before_id))
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, DEVICE_SQL " WHERE user_id = ? AND (updated_at < ? OR"
                                                " (updated_at = ? AND id < ?))"
                                                " ORDER BY updated_at DESC, id DESC LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing devices");
    stmt_bind_i64(st, 1, user_id);
    stmt_bind_i64(st, 2, before_at);
    stmt_bind_i64(st, 3, before_at);
    stmt_bind_i64(st, 4, before_id);
    stmt_bind_i64(st, 5, limit + 1);
    json_t *data = json_array();
    int64_t last_at = 0, last_id = 0;
    int rc, n = 0;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (n == limit)
            break; /* one more: there is a next page */
        last_id = stmt_i64(st, 0);
        last_at = stmt_i64(st, 4);
        json_array_append_new(data, device_json(st));
        n++;
    }
    bool more = rc == STMT_ROW;
    if (rc != STMT_DONE && !more) {
        json_decref(data);
        enum shop_err e = db_fail(db, pb, "listing devices");
        db_release(db);
        return e;
    }
    db_release(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld.%lld", (long long)last_at, (long long)last_id)
                          : json_null());
    return SHOP_OK;
}

struct device_delete_job {
    int64_t user_id, id;
};

static enum shop_err device_delete_write(struct db *db, void *arg, struct problem *pb)
{
    struct device_delete_job *j = arg;
    struct stmt *st = db_prepare(db, "DELETE FROM devices WHERE id = ? AND user_id = ?");
    if (!st)
        return db_fail(db, pb, "deleting the device");
    stmt_bind_i64(st, 1, j->id);
    stmt_bind_i64(st, 2, j->user_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "deleting the device");
    if (db_changes(db) == 0)
        return problem_set(pb, SHOP_NOT_FOUND, "no device %lld", (long long)j->id);
    return SHOP_OK;
}

enum shop_err notify_device_delete(struct shop *shop, int64_t user_id, int64_t id,
                                   struct problem *pb)
{
    struct device_delete_job j = {.user_id = user_id, .id = id};
    return store_write(shop->store, device_delete_write, &j, pb);
}

/* ---- preferences ------------------------------------------------------------------ */

enum shop_err notify_prefs_get(struct shop *shop, int64_t user_id, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT coalesce(p.push, 1), coalesce(p.email, 1),"
                                     " coalesce(p.sms, 0), u.email, (SELECT a.phone FROM"
                                     "   addresses a WHERE a.user_id = u.id AND a.is_default = 1"
                                     "   AND coalesce(a.phone, '') <> '')"
                                     " FROM users u LEFT JOIN notification_prefs p"
                                     " ON p.user_id = u.id WHERE u.id = ?");
    if (!st)
        return db_fail(db, pb, "reading preferences");
    stmt_bind_i64(st, 1, user_id);
    enum shop_err e = SHOP_OK;
    if (stmt_step(st) == STMT_ROW)
        *out = json_pack("{s:b, s:b, s:b, s:s, s:s?}", "push", stmt_i64(st, 0) != 0, "email",
                         stmt_i64(st, 1) != 0, "sms", stmt_i64(st, 2) != 0, "email_address",
                         stmt_text(st, 3), "phone", stmt_is_null(st, 4) ? NULL : stmt_text(st, 4));
    else
        e = problem_set(pb, SHOP_NOT_FOUND, "no user %lld", (long long)user_id);
    if (e == SHOP_OK && !json_object_get(*out, "phone"))
        json_object_set_new(*out, "phone", json_null());
    db_release(db);
    return e;
}

struct prefs_job {
    int64_t user_id, now;
    int push, email, sms; /* -1: keep */
};

static enum shop_err prefs_write(struct db *db, void *arg, struct problem *pb)
{
    struct prefs_job *j = arg;
    int64_t phones = 1;
    if (j->sms == 1 &&
        db_scalar_i64_or_fail(db,
                              "SELECT count(*) FROM addresses WHERE user_id = ? AND is_default = 1"
                              " AND coalesce(phone, '') <> ''",
                              j->user_id, 0, &phones, pb, "reading the default address") != SHOP_OK)
        return pb->err;
    if (phones == 0)
        return problem_field(pb, SHOP_INVALID, "sms",
                             "add a phone number to your default address first");
    struct stmt *st =
        db_prepare(db, "INSERT INTO notification_prefs (user_id, push, email, sms, updated_at)"
                       " VALUES (?1, coalesce(?2, 1), coalesce(?3, 1), coalesce(?4, 0), ?5)"
                       " ON CONFLICT (user_id) DO UPDATE SET"
                       " push = coalesce(?2, notification_prefs.push),"
                       " email = coalesce(?3, notification_prefs.email),"
                       " sms = coalesce(?4, notification_prefs.sms), updated_at = ?5");
    if (!st)
        return db_fail(db, pb, "saving preferences");
    stmt_bind_i64(st, 1, j->user_id);
    int v[3] = {j->push, j->email, j->sms};
    for (int i = 0; i < 3; i++)
        if (v[i] >= 0)
            stmt_bind_i64(st, 2 + i, v[i]);
    stmt_bind_i64(st, 5, j->now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "saving preferences");
}

enum shop_err notify_prefs_put(struct shop *shop, int64_t user_id, json_t *body, json_t **out,
                               struct problem *pb)
{
    struct prefs_job j = {
        .user_id = user_id, .now = clock_now_ms(), .push = -1, .email = -1, .sms = -1};
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "push") && strcmp(key, "email") && strcmp(key, "sms") &&
            strcmp(key, "email_address") && strcmp(key, "phone"))
            problem_field(pb, SHOP_INVALID, key, "is not a preference (push, email, sms)");
    }
    bool b;
    if (jx_bool(body, "push", NULL, JX_OPTIONAL, &b, pb))
        j.push = b;
    if (jx_bool(body, "email", NULL, JX_OPTIONAL, &b, pb))
        j.email = b;
    if (jx_bool(body, "sms", NULL, JX_OPTIONAL, &b, pb))
        j.sms = b;
    if (pb->err)
        return pb->err;
    if (store_write(shop->store, prefs_write, &j, pb) != SHOP_OK)
        return pb->err;
    return notify_prefs_get(shop, user_id, out, pb);
}
