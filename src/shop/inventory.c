#include "shop/inventory.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/address.h"
#include "shop/catalog.h"
#include "shop/changes.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/keyset.h"
#include "util/xalloc.h"

/* ---- warehouses ----------------------------------------------------------- */

struct warehouse_job {
    const char *code, *name, *country, *postal_code;
    double lat, lon;
    int64_t now, id;
};

static enum shop_err warehouse_write(struct db *db, void *arg, struct problem *pb)
{
    struct warehouse_job *j = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO warehouses (code, name, country, postal_code,"
                                     " lat, lon, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the warehouse");
    stmt_bind_text(st, 1, j->code);
    stmt_bind_text(st, 2, j->name);
    stmt_bind_text(st, 3, j->country);
    stmt_bind_text(st, 4, j->postal_code);
    stmt_bind_double(st, 5, j->lat);
    stmt_bind_double(st, 6, j->lon);
    stmt_bind_i64(st, 7, j->now);
    int rc = stmt_step(st);
    if (rc == STMT_CONSTRAINT)
        return problem_field(pb, SHOP_CONFLICT, "code", "warehouse %s already exists", j->code);
    if (rc != STMT_DONE)
        return db_fail(db, pb, "creating the warehouse");
    j->id = db_last_id(db);
    return SHOP_OK;
}

static json_t *warehouse_json(int64_t id, const char *code, const char *name, const char *country,
                              const char *postal, double lat, double lon)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:f, s:f}", "id", (json_int_t)id, "code", code,
                     "name", name, "country", country, "postal_code", postal, "lat", lat, "lon",
                     lon);
}

enum shop_err warehouse_create(struct shop *shop, json_t *body, json_t **out, struct problem *pb)
{
    struct warehouse_job j = {.now = clock_now_ms()};
    if (jx_str(body, "code", NULL, JX_REQUIRED, 1, 16, &j.code, pb))
        for (const char *p = j.code; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
                problem_field(pb, SHOP_INVALID, "code", "may hold letters, digits, - and _ only");
                break;
            }
    jx_str(body, "name", NULL, JX_REQUIRED, 1, 100, &j.name, pb);
    if (jx_str(body, "country", NULL, JX_REQUIRED, 2, 2, &j.country, pb) &&
        !address_country_valid(j.country))
        problem_field(pb, SHOP_INVALID, "country", "must be an ISO 3166-1 alpha-2 code such as US");
    if (jx_str(body, "postal_code", NULL, JX_REQUIRED, 1, 16, &j.postal_code, pb) && j.country &&
        address_country_valid(j.country) && !address_postal_valid(j.country, j.postal_code))
        problem_field(pb, SHOP_INVALID, "postal_code", "is not a valid postal code for %s",
                      j.country);
    jx_num(body, "lat", NULL, JX_REQUIRED, -90, 90, &j.lat, pb);
    jx_num(body, "lon", NULL, JX_REQUIRED, -180, 180, &j.lon, pb);
    if (pb->err)
        return pb->err;
    if (store_write(shop->store, warehouse_write, &j, pb) != SHOP_OK)
        return pb->err;
    *out = warehouse_json(j.id, j.code, j.name, j.country, j.postal_code, j.lat, j.lon);
    return SHOP_OK;
}

enum shop_err warehouse_list(struct shop *shop, int limit, const char *cursor, json_t **out,
                             struct problem *pb)
{
    int64_t after = 0;
    if (cursor && !keyset_id_parse(cursor, &after))
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    if (limit < 1 || limit > WAREHOUSE_PAGE_MAX)
        limit = WAREHOUSE_PAGE_MAX;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT id, code, name, country, postal_code, lat, lon"
                                     " FROM warehouses WHERE id > ? ORDER BY id LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing warehouses");
    stmt_bind_i64(st, 1, after);
    stmt_bind_i64(st, 2, limit + 1);
    json_t *data = json_array();
    int64_t last = 0;
    bool more = false;
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if ((int)json_array_size(data) == limit) {
            more = true; /* the row past the page */
            break;
        }
        last = stmt_i64(st, 0);
        json_array_append_new(data, warehouse_json(last, stmt_text(st, 1), stmt_text(st, 2),
                                                   stmt_text(st, 3), stmt_text(st, 4),
                                                   stmt_double(st, 5), stmt_double(st, 6)));
    }
    if (rc != STMT_DONE && rc != STMT_ROW) {
        json_decref(data);
        enum shop_err e = db_fail(db, pb, "listing warehouses");
        db_release(db);
        return e;
    }
    db_release(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)last) : json_null());
    return SHOP_OK;
}

/* ---- stock --------------------------------------------------------------------- */

enum shop_err inventory_audit(struct db *db, int64_t variant_id, int64_t warehouse_id,
                              const char *kind, const struct stock_row *before,
                              const struct stock_row *after, int64_t actor, const char *ref,
                              struct problem *pb)
{
    /* Chained after the stock row's latest movement; the database makes it
     * the row's latest (migration 0033's trigger). The row was written just
     * before by the change audited here, so on PostgreSQL its lock keeps the
     * chain a chain. */
    struct stmt *st = db_prepare(
        db, "INSERT INTO stock_movements (variant_id, warehouse_id, kind, on_hand_before,"
            " on_hand_after, reserved_before, reserved_after, actor_user_id, ref, at, prev_id)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, (SELECT last_movement_id FROM stock"
            " WHERE variant_id = ?1 AND warehouse_id = ?2))");
    if (!st)
        return db_fail(db, pb, "auditing a stock movement");
    stmt_bind_i64(st, 1, variant_id);
    stmt_bind_i64(st, 2, warehouse_id);
    stmt_bind_text(st, 3, kind);
    stmt_bind_i64(st, 4, before->on_hand);
    stmt_bind_i64(st, 5, after->on_hand);
    stmt_bind_i64(st, 6, before->reserved);
    stmt_bind_i64(st, 7, after->reserved);
    if (actor)
        stmt_bind_i64(st, 8, actor);
    else
        stmt_bind_null(st, 8);
    stmt_bind_text(st, 9, ref);
    stmt_bind_i64(st, 10, clock_now_ms());
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "auditing a stock movement");
}

enum shop_err inventory_available(struct db *db, int64_t variant_id, int64_t *available,
                                  struct problem *pb)
{
    return db_scalar_i64_or_fail(db, "SELECT coalesce(sum(on_hand - reserved), 0) FROM stock"
                                     " WHERE variant_id = ?",
                                 variant_id, 0, available, pb, "reading the available stock");
}

enum shop_err inventory_changed_event(struct db *db, int64_t variant_id, int64_t product_id,
                                      int64_t available_before, struct problem *pb)
{
    int64_t after;
    if (inventory_available(db, variant_id, &after, pb) != SHOP_OK)
        return pb->err;
    return inventory_moved_event(db, variant_id, product_id, available_before, after, pb);
}

enum shop_err inventory_moved_event(struct db *db, int64_t variant_id, int64_t product_id,
                                    int64_t available_before, int64_t after, struct problem *pb)
{
    enum shop_err e = outbox_emit(db, "stock.changed", product_id,
                                  json_pack("{s:I, s:I, s:I}", "variant_id", (json_int_t)variant_id,
                                            "product_id", (json_int_t)product_id, "available",
                                            (json_int_t)after),
                                  pb);
    if (e == SHOP_OK && available_before <= 0 && after > 0)
        e = outbox_emit(db, "stock.back_in_stock", product_id,
                        json_pack("{s:I, s:I, s:I}", "variant_id", (json_int_t)variant_id,
                                  "product_id", (json_int_t)product_id, "available",
                                  (json_int_t)after),
                        pb);
    if (e == SHOP_OK && available_before > INVENTORY_LOW_STOCK && after <= INVENTORY_LOW_STOCK)
        e = outbox_emit(db, "stock.low", product_id,
                        json_pack("{s:I, s:I, s:I, s:i}", "variant_id", (json_int_t)variant_id,
                                  "product_id", (json_int_t)product_id, "available",
                                  (json_int_t)after, "threshold", INVENTORY_LOW_STOCK),
                        pb);
    return e;
}

struct set_job {
    const struct principal *who;
    int64_t variant_id, warehouse_id, on_hand, now;
    int64_t product_id;     /* out */
    struct stock_row after; /* out */
};

/* Checks the variant exists and `who` may manage its stock; fills its product. */
static enum shop_err variant_owner(struct db *db, const struct principal *who, int64_t variant_id,
                                   int64_t *product_id, struct problem *pb)
{
    if (db_scalar_i64_or_fail(db, "SELECT product_id FROM variants WHERE id = ?", variant_id, 0,
                              product_id, pb, "reading the variant") != SHOP_OK)
        return pb->err;
    if (!*product_id)
        return problem_set(pb, SHOP_NOT_FOUND, "no variant %lld", (long long)variant_id);
    if (catalog_check_owner(db, who, *product_id, NULL, NULL, pb) != SHOP_OK) {
        if (pb->err == SHOP_NOT_FOUND)
            problem_set(pb, SHOP_NOT_FOUND, "no variant %lld", (long long)variant_id);
        return pb->err;
    }
    return SHOP_OK;
}

static enum shop_err set_write(struct db *db, void *arg, struct problem *pb)
{
    struct set_job *j = arg;
    if (variant_owner(db, j->who, j->variant_id, &j->product_id, pb) != SHOP_OK)
        return pb->err;
    int64_t warehouses, available_before;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM warehouses WHERE id = ?", j->warehouse_id,
                              0, &warehouses, pb, "reading the warehouse") != SHOP_OK)
        return pb->err;
    if (!warehouses)
        return problem_set(pb, SHOP_NOT_FOUND, "no warehouse %lld", (long long)j->warehouse_id);
    struct stock_row before = {j->variant_id, j->warehouse_id, 0, 0};
    if (inventory_available(db, j->variant_id, &available_before, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT on_hand, reserved FROM stock WHERE variant_id = ?"
                                     " AND warehouse_id = ?");
    if (!st)
        return db_fail(db, pb, "reading stock");
    stmt_bind_i64(st, 1, j->variant_id);
    stmt_bind_i64(st, 2, j->warehouse_id);
    if (stmt_step(st) == STMT_ROW) {
        before.on_hand = stmt_i64(st, 0);
        before.reserved = stmt_i64(st, 1);
    }
    /* Conditional on what is reserved, so a reservation committed meanwhile
     * by another process is never undercut. */
    st = db_prepare(db, "INSERT INTO stock (variant_id, warehouse_id, on_hand, reserved, updated_at)"
                        " VALUES (?, ?, ?, 0, ?) ON CONFLICT (variant_id, warehouse_id) DO UPDATE"
                        " SET on_hand = excluded.on_hand, updated_at = excluded.updated_at"
                        " WHERE stock.reserved <= excluded.on_hand RETURNING on_hand, reserved");
    if (!st)
        return db_fail(db, pb, "setting stock");
    stmt_bind_i64(st, 1, j->variant_id);
    stmt_bind_i64(st, 2, j->warehouse_id);
    stmt_bind_i64(st, 3, j->on_hand);
    stmt_bind_i64(st, 4, j->now);
    int rc = stmt_step(st);
    if (rc == STMT_DONE || rc == STMT_CONSTRAINT) {
        problem_extra(pb, "reserved", json_integer(before.reserved));
        return problem_field(pb, SHOP_CONFLICT, "on_hand",
                             "%lld units are reserved by open checkouts; on_hand cannot go below",
                             (long long)before.reserved);
    }
    if (rc != STMT_ROW)
        return db_fail(db, pb, "setting stock");
    j->after = (struct stock_row){j->variant_id, j->warehouse_id, stmt_i64(st, 0), stmt_i64(st, 1)};
    enum shop_err e = inventory_audit(db, j->variant_id, j->warehouse_id, "adjust", &before,
                                      &j->after, j->who->user_id, NULL, pb);
    if (e != SHOP_OK)
        return e;
    return inventory_changed_event(db, j->variant_id, j->product_id, available_before, pb);
}

enum shop_err inventory_set_on_hand(struct shop *shop, const struct principal *who,
                                    int64_t variant_id, int64_t warehouse_id, int64_t on_hand,
                                    struct stock_row *out, struct problem *pb)
{
    struct set_job j = {.who = who, .variant_id = variant_id, .warehouse_id = warehouse_id,
                        .on_hand = on_hand, .now = clock_now_ms()};
    if (store_write(shop->store, set_write, &j, pb) != SHOP_OK)
        return pb->err;
    *out = j.after;
    shop_product_changed(shop, j.product_id);
    return SHOP_OK;
}

/* ---- a variant's movements ---------------------------------------------- */

/* One stock row's chain of movements (inventory.h): the next one to show,
 * 0 when none is left. */
struct chain {
    int64_t warehouse_id, next;
};

/* Reads a cursor "w:id,w:id…" into the chains: a chain it does not name is
 * done. False when it is not one a page gave (a warehouse twice, or not one
 * of the variant's). */
static bool cursor_read(const char *text, struct chain *c, int n)
{
    for (int i = 0; i < n; i++)
        c[i].next = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long long w = strtoll(p, &end, 10);
        if (end == p || *end != ':')
            return false;
        p = end + 1;
        long long id = strtoll(p, &end, 10);
        if (end == p || id <= 0 || (*end != ',' && *end != '\0'))
            return false;
        if (*end == ',' && end[1] == '\0')
            return false;
        p = *end ? end + 1 : end;
        int i = 0;
        while (i < n && c[i].warehouse_id != w)
            i++;
        if (i == n || c[i].next)
            return false;
        c[i].next = id;
    }
    return true;
}

static json_t *cursor_json(const struct chain *c, int n)
{
    struct buf b;
    buf_init(&b, (size_t)n * 42 + 1); /* "w:id," with 20 digits each */
    for (int i = 0; i < n; i++)
        if (c[i].next)
            buf_printf(&b, "%s%lld:%lld", b.len ? "," : "", (long long)c[i].warehouse_id,
                       (long long)c[i].next);
    json_t *j = b.len ? json_stringn(b.data, b.len) : json_null();
    buf_free(&b);
    return j;
}

/* Up to `limit` movements, newest first: the chains merged by id, one
 * lookup by id for each movement shown. */
static enum shop_err movements_page(struct db *db, int64_t variant_id, struct chain *c, int n,
                                    int limit, json_t *moves, struct problem *pb)
{
    char ts[RFC3339_LEN];
    for (int k = 0; k < limit; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (c[i].next && (best < 0 || c[i].next > c[best].next))
                best = i;
        if (best < 0)
            return SHOP_OK;
        struct stmt *st = db_prepare(db, "SELECT variant_id, warehouse_id, kind, on_hand_before,"
                                         " on_hand_after, reserved_before, reserved_after,"
                                         " actor_user_id, ref, at, prev_id"
                                         " FROM stock_movements WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "reading the stock movements");
        int64_t id = c[best].next;
        stmt_bind_i64(st, 1, id);
        int rc = stmt_step(st);
        if (rc != STMT_ROW && rc != STMT_DONE)
            return db_fail(db, pb, "reading the stock movements");
        if (rc == STMT_DONE || stmt_i64(st, 0) != variant_id ||
            stmt_i64(st, 1) != c[best].warehouse_id)
            return problem_field(pb, SHOP_INVALID, "cursor",
                                 "is not a movements_next_cursor of this variant");
        json_array_append_new(
            moves,
            json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:o, s:s?, s:s}", "id", (json_int_t)id,
                      "warehouse_id", (json_int_t)c[best].warehouse_id, "kind", stmt_text(st, 2),
                      "on_hand_before", (json_int_t)stmt_i64(st, 3), "on_hand_after",
                      (json_int_t)stmt_i64(st, 4), "reserved_before", (json_int_t)stmt_i64(st, 5),
                      "reserved_after", (json_int_t)stmt_i64(st, 6), "actor_user_id",
                      stmt_is_null(st, 7) ? json_null() : json_integer(stmt_i64(st, 7)), "ref",
                      stmt_is_null(st, 8) ? NULL : stmt_text(st, 8), "at",
                      clock_fmt(stmt_i64(st, 9), ts)));
        int64_t prev = stmt_is_null(st, 10) ? 0 : stmt_i64(st, 10);
        /* Ids only go down a chain; anything else would be a loop. */
        c[best].next = prev > 0 && prev < id ? prev : 0;
    }
    return SHOP_OK;
}

enum shop_err inventory_get(struct shop *shop, const struct principal *who, int64_t variant_id,
                            int limit, const char *cursor, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    int64_t product_id;
    db_read_begin(db);
    enum shop_err e = variant_owner(db, who, variant_id, &product_id, pb);
    if (e != SHOP_OK) {
        db_read_end(db);
        return e;
    }
    struct stmt *st = db_prepare(db, "SELECT s.warehouse_id, w.code, s.on_hand, s.reserved,"
                                     " s.updated_at, s.last_movement_id FROM stock s"
                                     " JOIN warehouses w ON w.id = s.warehouse_id"
                                     " WHERE s.variant_id = ? ORDER BY s.warehouse_id");
    json_t *rows = json_array(), *moves = json_array();
    int64_t on_hand = 0, reserved = 0;
    char ts[RFC3339_LEN];
    struct chain *chains = NULL;
    int n = 0, cap = 0, rc = STMT_ERROR;
    if (st) {
        stmt_bind_i64(st, 1, variant_id);
        while ((rc = stmt_step(st)) == STMT_ROW) {
            int64_t oh = stmt_i64(st, 2), rs = stmt_i64(st, 3);
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                chains = xrealloc(chains, (size_t)cap * sizeof *chains);
            }
            chains[n++] = (struct chain){stmt_i64(st, 0), stmt_is_null(st, 5) ? 0 : stmt_i64(st, 5)};
            json_array_append_new(
                rows, json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:s}", "variant_id",
                                (json_int_t)variant_id, "warehouse_id",
                                (json_int_t)stmt_i64(st, 0), "warehouse_code", stmt_text(st, 1),
                                "on_hand", (json_int_t)oh, "reserved", (json_int_t)rs, "available",
                                (json_int_t)(oh - rs), "updated_at",
                                clock_fmt(stmt_i64(st, 4), ts)));
            on_hand += oh;
            reserved += rs;
        }
    }
    if (rc != STMT_DONE) /* the totals would be of some warehouses */
        e = db_fail(db, pb, "reading the stock");
    else if (cursor && !cursor_read(cursor, chains, n))
        e = problem_field(pb, SHOP_INVALID, "cursor",
                          "is not a movements_next_cursor of this variant");
    else
        e = movements_page(db, variant_id, chains, n, limit, moves, pb);
    db_read_end(db);
    if (e != SHOP_OK) {
        json_decref(rows);
        json_decref(moves);
        free(chains);
        return e;
    }
    *out = json_pack("{s:I, s:I, s:o, s:{s:I, s:I, s:I}, s:o, s:o}", "variant_id",
                     (json_int_t)variant_id, "product_id", (json_int_t)product_id, "rows", rows,
                     "total", "on_hand", (json_int_t)on_hand, "reserved", (json_int_t)reserved,
                     "available", (json_int_t)(on_hand - reserved), "movements", moves,
                     "movements_next_cursor", cursor_json(chains, n));
    free(chains);
    return SHOP_OK;
}
