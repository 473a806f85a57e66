/* flashsale.c — flash sales: units set aside, a FIFO waiting room, purchase
 * tokens, exactly N units sold (FLS-1…3).
 *
 * Units. Creating a sale reserves its N units in stock (stock.reserved,
 * audited as "reserve" with ref flash_sale:<id>; per warehouse in
 * flash_sale_stock), so ordinary shoppers cannot buy them. The sale then
 * accounts for every unit in exactly one bucket:
 *
 *     quantity = sold + in_flight + held + remaining
 *
 *   held       admitted customers' tokens hold units (FIFO fairness: the
 *              earliest joiners are guaranteed theirs)
 *   in_flight  a checkout took them (they sit in the order's reservations)
 *   sold       the order was paid
 *   remaining  unallocated
 *
 * Every move between buckets is a conditional UPDATE inside one write
 * transaction, and CHECK (sold + in_flight + held <= quantity) backs it, so
 * no interleaving of buyers, processes or crashes can sell unit N+1.
 *
 * Waiting room, per customer (flash_sale_queue.status):
 *
 *     waiting ──admit (scheduler, in position order, admit_per_second)──► admitted
 *     admitted ──purchase begins──► purchasing ──paid──► purchased
 *                                       └──payment failed──► admitted (token still good)
 *     purchased ──purchase begins (fewer than per_customer_limit units
 *                 bought, token still good)──► purchasing
 *     admitted ──token expires (its units return to remaining)──► expired
 *     waiting | admitted ──sale ends──► expired
 *     expired ──joins again while the sale is live and not sold out──►
 *              waiting, at the back of the queue (a new position)
 *
 * Positions are assigned in the writer transaction (max + 1), so they follow
 * commit order: first come, first served. An admission holds
 * min(per_customer_limit, remaining) units; admissions continue when none
 * are left (such a token can still buy what others' tokens give back).
 *
 * Tokens are HMAC-SHA256(key, "sale:user:admitted_at"), base64url: nothing
 * to store or leak, and a token for one customer or sale is useless for
 * another. The key is generated once per database (settings table) so every
 * process agrees.
 *
 * Files: this one creates, reads and ends sales and runs the waiting room;
 * flashsale_sell.c admits, expires tokens and sells through the checkout.
 *
 * Sale status: scheduled → live (scheduler, at starts_at; writes
 * flash_sale.started, which notifies wishlisters) → ended (at ends_at or by
 * an admin: unsold units go back to stock, open admissions expire). Shown
 * as sold_out while live with every unit sold.
 */
#include "shop/flashsale.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/changes.h"
#include "shop/flashsale_sale.h"
#include "shop/inventory.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/keyset.h"
#include "util/log.h"

#define MAX_WAREHOUSES 64

/* ---- tokens ------------------------------------------------------------------------ */

void flashsale_token_for(const unsigned char key[32], int64_t sale, int64_t user,
                         int64_t admitted_at, char out[FLASH_TOKEN_LEN + 1])
{
    char msg[80];
    int n = snprintf(msg, sizeof msg, "%lld:%lld:%lld", (long long)sale, (long long)user,
                     (long long)admitted_at);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (unsigned long long)n, key);
    sodium_bin2base64(out, FLASH_TOKEN_LEN + 1, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum shop_err flashsale_load_key(struct shop *shop, struct problem *pb)
{
    char hex[65];
    if (shop_secret(shop, "flash_token_key", hex, pb) != SHOP_OK)
        return pb->err;
    sodium_hex2bin(shop->token_key, sizeof shop->token_key, hex, 64, NULL, NULL, NULL);
    return SHOP_OK;
}

/* ---- reading a sale ------------------------------------------------------------------ */

void flashsale_row_to_sale(struct stmt *st, struct sale *s)
{
    /* clang-format off */
    int64_t *f[] = {&s->id, &s->variant_id, &s->product_id, &s->quantity, &s->sold,
                    &s->in_flight, &s->held, &s->price_cents, &s->starts_at, &s->ends_at,
                    &s->per_customer_limit, &s->admit_per_second, &s->admitted_through,
                    &s->last_admit_at, &s->created_at, &s->started_at, &s->ended_at};
    /* clang-format on */
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        *f[i] = stmt_i64(st, (int)i);
    snprintf(s->status, sizeof s->status, "%s", stmt_text(st, 17));
    snprintf(s->currency, sizeof s->currency, "%s", stmt_text(st, 18));
}

enum shop_err flashsale_read_sale(struct db *db, int64_t id, struct sale *s, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT " SALE_COLS " FROM flash_sales WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading a flash sale");
    stmt_bind_i64(st, 1, id);
    int rc = stmt_step(st);
    if (rc == STMT_DONE)
        return problem_set(pb, SHOP_NOT_FOUND, "no flash sale %lld", (long long)id);
    if (rc != STMT_ROW)
        return db_fail(db, pb, "reading a flash sale");
    flashsale_row_to_sale(st, s);
    return SHOP_OK;
}

int64_t flashsale_remaining(const struct sale *s)
{
    return s->quantity - s->sold - s->in_flight - s->held;
}

const char *flashsale_shown_status(const struct sale *s, int64_t now)
{
    if (!strcmp(s->status, "ended") || now >= s->ends_at)
        return "ended";
    if (!strcmp(s->status, "scheduled"))
        return "scheduled";
    return s->sold >= s->quantity ? "sold_out" : "live";
}

static json_t *sale_json(const struct sale *s, int64_t queue_length)
{
    char a[RFC3339_LEN], b[RFC3339_LEN], c[RFC3339_LEN];
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, "
        "s:s}",
        "id", (json_int_t)s->id, "variant_id", (json_int_t)s->variant_id, "product_id",
        (json_int_t)s->product_id, "quantity", (json_int_t)s->quantity, "sold", (json_int_t)s->sold,
        "in_flight", (json_int_t)s->in_flight, "held", (json_int_t)s->held, "remaining",
        (json_int_t)flashsale_remaining(s), "price_cents", (json_int_t)s->price_cents, "currency",
        s->currency, "starts_at", clock_fmt(s->starts_at, a), "ends_at", clock_fmt(s->ends_at, b),
        "per_customer_limit", (json_int_t)s->per_customer_limit, "admit_per_second",
        (json_int_t)s->admit_per_second, "status", flashsale_shown_status(s, clock_now_ms()),
        "queue_length", (json_int_t)queue_length, "admitted_through",
        (json_int_t)s->admitted_through, "created_at", clock_fmt(s->created_at, c));
    json_object_set_new(o, "started_at",
                        s->started_at ? json_string(clock_fmt(s->started_at, a)) : json_null());
    json_object_set_new(o, "ended_at",
                        s->ended_at ? json_string(clock_fmt(s->ended_at, b)) : json_null());
    return o;
}

static int64_t queue_length(struct db *db, int64_t sale)
{
    return db_scalar_i64(db, "SELECT queue_length FROM flash_sales WHERE id = ?", sale, 0);
}

enum shop_err flashsale_get(struct shop *shop, int64_t id, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    struct sale s;
    bool found = flashsale_read_sale(db, id, &s, pb) == SHOP_OK;
    int64_t len = found ? queue_length(db, id) : 0;
    db_read_end(db);
    if (!found)
        return pb->err;
    *out = sale_json(&s, len);
    return SHOP_OK;
}

enum shop_err flashsale_list(struct shop *shop, int limit, const char *cursor, json_t **out,
                             struct problem *pb)
{
    /* The cursor is the id of the last sale shown (ids only grow). */
    int64_t before = INT64_MAX;
    if (cursor && !keyset_id_parse(cursor, &before))
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    if (limit < 1 || limit > FLASH_LIST_MAX)
        limit = FLASH_LIST_MAX;
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    struct stmt *st = db_prepare(db, "SELECT " SALE_COLS " FROM flash_sales WHERE id < ?"
                                     " ORDER BY id DESC LIMIT ?");
    struct sale rows[FLASH_LIST_MAX + 1];
    int n = 0, rc = STMT_ERROR;
    if (st) {
        stmt_bind_i64(st, 1, before);
        stmt_bind_i64(st, 2, limit + 1);
        while (n <= limit && (rc = stmt_step(st)) == STMT_ROW)
            flashsale_row_to_sale(st, &rows[n++]);
    }
    /* STMT_ROW: stopped at limit + 1, the LIMIT; else a failed step is not
     * the end of the sales. */
    if (rc != STMT_DONE && rc != STMT_ROW) {
        db_fail(db, pb, "listing the flash sales");
        db_read_end(db);
        return pb->err;
    }
    bool more = n > limit;
    json_t *data = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(data, sale_json(&rows[i], queue_length(db, rows[i].id)));
    db_read_end(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)rows[limit - 1].id) : json_null());
    return SHOP_OK;
}

/* ---- creating and ending ------------------------------------------------------------- */

struct create_job {
    const struct principal *who;
    int64_t variant_id, quantity, price, starts_at, ends_at, limit, rate, now;
    int64_t id, product_id; /* out */
};

/* Moves `q` units of the sale's pool in warehouse `wh` back to free stock. */
static enum shop_err release_pool(struct db *db, int64_t sale_id, int64_t variant_id,
                                  int64_t product_id, struct problem *pb)
{
    struct {
        int64_t wh, q;
    } rows[MAX_WAREHOUSES];
    int n = 0;
    struct stmt *st = db_prepare(db, "SELECT warehouse_id, left_qty FROM flash_sale_stock"
                                     " WHERE sale_id = ? AND left_qty > 0 LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading the sale's stock");
    stmt_bind_i64(st, 1, sale_id);
    stmt_bind_i64(st, 2, MAX_WAREHOUSES);
    while (stmt_step(st) == STMT_ROW) {
        rows[n].wh = stmt_i64(st, 0);
        rows[n].q = stmt_i64(st, 1);
        n++;
    }
    if (n == 0)
        return SHOP_OK;
    int64_t before;
    if (inventory_available(db, variant_id, &before, pb) != SHOP_OK)
        return pb->err;
    char ref[40];
    snprintf(ref, sizeof ref, "flash_sale:%lld", (long long)sale_id);
    for (int i = 0; i < n; i++) {
        st = db_prepare(db, "UPDATE stock SET reserved = reserved - ?1, updated_at = ?2"
                            " WHERE variant_id = ?3 AND warehouse_id = ?4 AND reserved >= ?1"
                            " RETURNING on_hand, reserved");
        if (!st)
            return db_fail(db, pb, "releasing the sale's stock");
        stmt_bind_i64(st, 1, rows[i].q);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, variant_id);
        stmt_bind_i64(st, 4, rows[i].wh);
        if (stmt_step(st) != STMT_ROW)
            return problem_set(pb, SHOP_INTERNAL, "the sale's stock is not reserved");
        struct stock_row after = {variant_id, rows[i].wh, stmt_i64(st, 0), stmt_i64(st, 1)};
        struct stock_row was = {variant_id, rows[i].wh, after.on_hand, after.reserved + rows[i].q};
        if (inventory_audit(db, variant_id, rows[i].wh, "release", &was, &after, 0, ref, pb))
            return pb->err;
    }
    st = db_prepare(db, "UPDATE flash_sale_stock SET left_qty = 0 WHERE sale_id = ?");
    if (!st)
        return db_fail(db, pb, "releasing the sale's stock");
    stmt_bind_i64(st, 1, sale_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "releasing the sale's stock");
    return inventory_changed_event(db, variant_id, product_id, before, pb);
}

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct create_job *j = arg;
    struct stmt *st = db_prepare(db, "SELECT p.id, p.currency, p.status FROM variants v"
                                     " JOIN products p ON p.id = v.product_id WHERE v.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the variant");
    stmt_bind_i64(st, 1, j->variant_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_field(pb, SHOP_INVALID, "variant_id", "no variant %lld",
                             (long long)j->variant_id);
    j->product_id = stmt_i64(st, 0);
    char currency[4];
    snprintf(currency, sizeof currency, "%s", stmt_text(st, 1));
    if (strcmp(stmt_text(st, 2), "published") != 0)
        return problem_field(pb, SHOP_INVALID, "variant_id", "the product is not published");

    st = db_prepare(db, "INSERT INTO flash_sales (variant_id, product_id, quantity, price_cents,"
                        " currency, starts_at, ends_at, per_customer_limit, admit_per_second,"
                        " status, created_by, created_at) VALUES"
                        " (?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the sale");
    stmt_bind_i64(st, 1, j->variant_id);
    stmt_bind_i64(st, 2, j->product_id);
    stmt_bind_i64(st, 3, j->quantity);
    stmt_bind_i64(st, 4, j->price);
    stmt_bind_text(st, 5, currency);
    stmt_bind_i64(st, 6, j->starts_at);
    stmt_bind_i64(st, 7, j->ends_at);
    stmt_bind_i64(st, 8, j->limit);
    stmt_bind_i64(st, 9, j->rate);
    stmt_bind_i64(st, 10, j->who->user_id);
    stmt_bind_i64(st, 11, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating the sale");
    j->id = db_last_id(db);

    /* Set the units aside, most available warehouse first. */
    struct {
        int64_t wh, avail;
    } rows[MAX_WAREHOUSES];
    int n = 0;
    int64_t total = 0;
    st = db_prepare(db, "SELECT warehouse_id, on_hand - reserved FROM stock WHERE variant_id = ?"
                        " AND on_hand - reserved > 0 ORDER BY on_hand - reserved DESC LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading stock");
    stmt_bind_i64(st, 1, j->variant_id);
    stmt_bind_i64(st, 2, MAX_WAREHOUSES);
    while (stmt_step(st) == STMT_ROW) {
        rows[n].wh = stmt_i64(st, 0);
        rows[n].avail = stmt_i64(st, 1);
        total += rows[n++].avail;
    }
    if (total < j->quantity) {
        problem_extra(pb, "available", json_integer(total));
        return problem_field(pb, SHOP_CONFLICT, "quantity", "only %lld units are available",
                             (long long)total);
    }
    char ref[40];
    snprintf(ref, sizeof ref, "flash_sale:%lld", (long long)j->id);
    int64_t need = j->quantity;
    for (int i = 0; i < n && need > 0; i++) {
        int64_t take = rows[i].avail < need ? rows[i].avail : need;
        st = db_prepare(db,
                        "UPDATE stock SET reserved = reserved + ?1, updated_at = ?2"
                        " WHERE variant_id = ?3 AND warehouse_id = ?4 AND on_hand - reserved >= ?1"
                        " RETURNING on_hand, reserved");
        if (!st)
            return db_fail(db, pb, "setting units aside");
        stmt_bind_i64(st, 1, take);
        stmt_bind_i64(st, 2, j->now);
        stmt_bind_i64(st, 3, j->variant_id);
        stmt_bind_i64(st, 4, rows[i].wh);
        if (stmt_step(st) != STMT_ROW)
            return problem_set(pb, SHOP_CONFLICT, "stock changed meanwhile");
        struct stock_row after = {j->variant_id, rows[i].wh, stmt_i64(st, 0), stmt_i64(st, 1)};
        struct stock_row was = {j->variant_id, rows[i].wh, after.on_hand, after.reserved - take};
        if (inventory_audit(db, j->variant_id, rows[i].wh, "reserve", &was, &after, j->who->user_id,
                            ref, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "INSERT INTO flash_sale_stock (sale_id, warehouse_id, left_qty)"
                            " VALUES (?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "setting units aside");
        stmt_bind_i64(st, 1, j->id);
        stmt_bind_i64(st, 2, rows[i].wh);
        stmt_bind_i64(st, 3, take);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "setting units aside");
        need -= take;
    }
    enum shop_err e = inventory_changed_event(db, j->variant_id, j->product_id, total, pb);
    if (e != SHOP_OK)
        return e;
    return outbox_emit(db, "flash_sale.created", j->id,
                       json_pack("{s:I, s:I, s:I}", "sale_id", (json_int_t)j->id, "product_id",
                                 (json_int_t)j->product_id, "variant_id",
                                 (json_int_t)j->variant_id),
                       pb);
}

static bool time_field(json_t *body, const char *key, int64_t *out, struct problem *pb)
{
    const char *s;
    if (!jx_str(body, key, NULL, JX_REQUIRED, 20, 40, &s, pb))
        return false;
    if (!clock_parse(s, out)) {
        problem_field(pb, SHOP_INVALID, key,
                      "must be an RFC 3339 time such as 2026-11-21T09:00:00Z");
        return false;
    }
    return true;
}

enum shop_err flashsale_create(struct shop *shop, const struct principal *who, json_t *body,
                               json_t **out, struct problem *pb)
{
    struct create_job j = {.who = who, .limit = 1, .rate = 100, .now = clock_now_ms()};
    jx_int(body, "variant_id", NULL, JX_REQUIRED, 1, INT64_MAX, &j.variant_id, pb);
    jx_int(body, "quantity", NULL, JX_REQUIRED, 1, 1000000, &j.quantity, pb);
    jx_int(body, "price_cents", NULL, JX_REQUIRED, 1, PRICE_MAX_CENTS, &j.price, pb);
    jx_int(body, "per_customer_limit", NULL, JX_OPTIONAL, 1, 100, &j.limit, pb);
    jx_int(body, "admit_per_second", NULL, JX_OPTIONAL, 1, 100000, &j.rate, pb);
    bool s_ok = time_field(body, "starts_at", &j.starts_at, pb);
    bool e_ok = time_field(body, "ends_at", &j.ends_at, pb);
    if (s_ok && e_ok && j.ends_at <= j.starts_at)
        problem_field(pb, SHOP_INVALID, "ends_at", "must be after starts_at");
    else if (e_ok && j.ends_at <= j.now)
        problem_field(pb, SHOP_INVALID, "ends_at", "must be in the future");
    if (pb->err)
        return pb->err;
    if (store_write(shop->store, create_write, &j, pb) != SHOP_OK)
        return pb->err;
    shop_product_changed(shop, j.product_id);
    return flashsale_get(shop, j.id, out, pb);
}

/* Ends a sale inside a write: unsold units back to stock, open admissions
 * expire. Conditional on it not having ended already. */
enum shop_err flashsale_end_sale(struct db *db, int64_t id, int64_t now, struct problem *pb)
{
    struct sale s;
    if (flashsale_read_sale(db, id, &s, pb) != SHOP_OK)
        return pb->err;
    if (!strcmp(s.status, "ended"))
        return problem_set(pb, SHOP_CONFLICT, "the sale has already ended");
    struct stmt *st = db_prepare(db, "UPDATE flash_sales SET status = 'ended', ended_at = ?,"
                                     " held = 0 WHERE id = ? AND status <> 'ended'");
    if (!st)
        return db_fail(db, pb, "ending the sale");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, id);
    if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the sale changed meanwhile");
    st = db_prepare(db, "UPDATE flash_sale_queue SET status = 'expired', held = 0"
                        " WHERE sale_id = ? AND status IN ('waiting', 'admitted')");
    if (!st)
        return db_fail(db, pb, "ending the sale");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "ending the sale");
    if (release_pool(db, id, s.variant_id, s.product_id, pb) != SHOP_OK)
        return pb->err;
    return outbox_emit(db, "flash_sale.ended", id,
                       json_pack("{s:I, s:I, s:I}", "sale_id", (json_int_t)id, "product_id",
                                 (json_int_t)s.product_id, "sold", (json_int_t)s.sold),
                       pb);
}

struct end_job {
    int64_t id, now, product_id;
};

static enum shop_err end_write(struct db *db, void *arg, struct problem *pb)
{
    struct end_job *j = arg;
    if (db_scalar_i64_or_fail(db, "SELECT product_id FROM flash_sales WHERE id = ?", j->id, 0,
                              &j->product_id, pb, "reading the flash sale") != SHOP_OK)
        return pb->err;
    return flashsale_end_sale(db, j->id, j->now, pb);
}

enum shop_err flashsale_end(struct shop *shop, int64_t id, json_t **out, struct problem *pb)
{
    struct end_job j = {.id = id, .now = clock_now_ms()};
    if (store_write(shop->store, end_write, &j, pb) != SHOP_OK)
        return pb->err;
    shop_product_changed(shop, j.product_id);
    return flashsale_get(shop, id, out, pb);
}

enum shop_err flashsale_bought(struct db *db, int64_t sale_id, int64_t user_id, int64_t *bought,
                               struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT coalesce(sum(l.quantity), 0) FROM orders o"
                                     " JOIN order_lines l ON l.order_id = o.id"
                                     " WHERE o.flash_sale_id = ? AND o.user_id = ?"
                                     " AND o.status <> 'cancelled'");
    if (!st)
        return db_fail(db, pb, "reading what you bought");
    stmt_bind_i64(st, 1, sale_id);
    stmt_bind_i64(st, 2, user_id);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading what you bought");
    *bought = stmt_i64(st, 0);
    return SHOP_OK;
}

/* ---- the waiting room --------------------------------------------------------------- */

static json_t *entry_json(struct shop *shop, struct db *db, int64_t sale_id, int64_t user_id)
{
    struct stmt *st =
        db_prepare(db, "SELECT q.position, q.status, q.held, coalesce(q.admitted_at, 0),"
                       " coalesce(q.token_expires_at, 0), q.order_id,"
                       " s.admitted_through, s.per_customer_limit FROM flash_sale_queue q"
                       " JOIN flash_sales s"
                       " ON s.id = q.sale_id WHERE q.sale_id = ? AND q.user_id = ?");
    if (!st)
        return NULL;
    stmt_bind_i64(st, 1, sale_id);
    stmt_bind_i64(st, 2, user_id);
    if (stmt_step(st) != STMT_ROW)
        return NULL;
    int64_t position = stmt_i64(st, 0), through = stmt_i64(st, 6), limit = stmt_i64(st, 7);
    char status[16];
    snprintf(status, sizeof status, "%s", stmt_text(st, 1));
    int64_t admitted_at = stmt_i64(st, 3), expires = stmt_i64(st, 4), held = stmt_i64(st, 2);
    int64_t order_id = stmt_is_null(st, 5) ? 0 : stmt_i64(st, 5);
    bool waiting = !strcmp(status, "waiting");
    bool admitted = !strcmp(status, "admitted") && expires > clock_now_ms();
    if (!strcmp(status, "admitted") && !admitted)
        snprintf(status, sizeof status, "expired");
    /* A customer who bought fewer than the limit may buy more with the
     * same token while it lasts (flashsale_check). */
    int64_t bought = 0;
    struct problem ignored = {0};
    bool more = !strcmp(status, "purchased") && expires > clock_now_ms() &&
                flashsale_bought(db, sale_id, user_id, &bought, &ignored) == SHOP_OK &&
                bought < limit;
    problem_clear(&ignored);
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:s, s:I}", "sale_id", (json_int_t)sale_id, "position",
                  (json_int_t)position, "ahead",
                  (json_int_t)(waiting && position > through + 1 ? position - through - 1 : 0),
                  "status", status, "held", (json_int_t)held);
    if (order_id)
        json_object_set_new(o, "order_id", json_integer(order_id));
    if (admitted || more || !strcmp(status, "purchasing")) {
        char token[FLASH_TOKEN_LEN + 1], ts[RFC3339_LEN];
        flashsale_token_for(shop->token_key, sale_id, user_id, admitted_at, token);
        json_object_set_new(o, "token", json_string(token));
        json_object_set_new(o, "token_expires_at", json_string(clock_fmt(expires, ts)));
    }
    return o;
}

struct join_job {
    int64_t sale_id, user_id, now;
    bool created;
};

static enum shop_err join_write(struct db *db, void *arg, struct problem *pb)
{
    struct join_job *j = arg;
    struct sale s;
    if (flashsale_read_sale(db, j->sale_id, &s, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT status = 'expired' FROM flash_sale_queue"
                                     " WHERE sale_id = ? AND user_id = ?");
    if (!st)
        return db_fail(db, pb, "joining the queue");
    stmt_bind_i64(st, 1, j->sale_id);
    stmt_bind_i64(st, 2, j->user_id);
    j->created = false;
    int rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "joining the queue");
    bool expired = rc == STMT_ROW && stmt_i64(st, 0) != 0;
    const char *shown = flashsale_shown_status(&s, j->now);
    bool joinable = strcmp(shown, "ended") != 0 && strcmp(shown, "sold_out") != 0;
    /* Already in the room; or out of it with the sale over, which the
     * entry shows. An admission whose token lapsed is "expired" to the
     * customer at once, but only the scheduler's next tick gives its units
     * back and marks it (flashsale_sell.c: expire_tokens, which alone
     * moves such rows): until then a join answers the entry. */
    if (rc == STMT_ROW && (!expired || !joinable))
        return SHOP_OK;
    if (!strcmp(shown, "ended"))
        return problem_set(pb, SHOP_CONFLICT, "the sale has ended");
    if (!strcmp(shown, "sold_out")) {
        problem_extra(pb, "code", json_string(PROBLEM_CODE_SOLD_OUT));
        return problem_set(pb, SHOP_CONFLICT, "the sale is sold out");
    }
    /* The next place is the sale's counter, taken under the sale row's lock
     * until this write commits: concurrent joins (from any process) line up
     * behind it, so places are unique and follow the order joins commit. */
    st = db_prepare(db, "UPDATE flash_sales SET queue_length = queue_length + 1 WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "joining the queue");
    stmt_bind_i64(st, 1, j->sale_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "joining the queue");
    int64_t position = queue_length(db, j->sale_id);
    if (expired) {
        /* A customer whose token expired unused joins again at the back,
         * like anyone arriving now (what they bought still counts against
         * the per-customer limit: flashsale_bought reads the orders). */
        st = db_prepare(db, "UPDATE flash_sale_queue SET position = ?, status = 'waiting',"
                            " joined_at = ?, admitted_at = NULL, token_expires_at = NULL,"
                            " held = 0 WHERE sale_id = ? AND user_id = ? AND status = 'expired'");
        if (!st)
            return db_fail(db, pb, "joining the queue");
        stmt_bind_i64(st, 1, position);
        stmt_bind_i64(st, 2, j->now);
        stmt_bind_i64(st, 3, j->sale_id);
        stmt_bind_i64(st, 4, j->user_id);
    } else {
        st = db_prepare(db, "INSERT INTO flash_sale_queue (sale_id, user_id, position, status,"
                            " joined_at) VALUES (?, ?, ?, 'waiting', ?)"
                            " ON CONFLICT (sale_id, user_id) DO NOTHING");
        if (!st)
            return db_fail(db, pb, "joining the queue");
        stmt_bind_i64(st, 1, j->sale_id);
        stmt_bind_i64(st, 2, j->user_id);
        stmt_bind_i64(st, 3, position);
        stmt_bind_i64(st, 4, j->now);
    }
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "joining the queue");
    if (db_changes(db) == 0) {
        /* The same customer joining twice at once: the second to get the
         * lock finds the first's row (or rejoin) and gives its place back. */
        st = db_prepare(db, "UPDATE flash_sales SET queue_length = queue_length - 1 WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "joining the queue");
        stmt_bind_i64(st, 1, j->sale_id);
        return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "joining the queue");
    }
    j->created = true;
    return SHOP_OK;
}

enum shop_err flashsale_join(struct shop *shop, int64_t user_id, int64_t sale_id, json_t **out,
                             bool *created, struct problem *pb)
{
    struct join_job j = {.sale_id = sale_id, .user_id = user_id, .now = clock_now_ms()};
    if (store_write(shop->store, join_write, &j, pb) != SHOP_OK)
        return pb->err;
    *created = j.created;
    return flashsale_queue_me(shop, user_id, sale_id, out, pb);
}

enum shop_err flashsale_queue_me(struct shop *shop, int64_t user_id, int64_t sale_id, json_t **out,
                                 struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t sale;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM flash_sales WHERE id = ?", sale_id, 0,
                              &sale, pb, "reading the flash sale") != SHOP_OK) {
        db_read_end(db);
        return pb->err;
    }
    json_t *o = sale ? entry_json(shop, db, sale_id, user_id) : NULL;
    db_read_end(db);
    if (!sale)
        return problem_set(pb, SHOP_NOT_FOUND, "no flash sale %lld", (long long)sale_id);
    if (!o)
        return problem_set(pb, SHOP_NOT_FOUND,
                           "you are not in this sale's waiting room; join it"
                           " with POST /v1/flash-sales/%lld/queue",
                           (long long)sale_id);
    *out = o;
    return SHOP_OK;
}
