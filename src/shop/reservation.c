#include "shop/reservation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/allocation.h"
#include "shop/flashsale.h"
#include "shop/inventory.h"
#include "store/store.h"
#include "util/clock.h"

#define MAX_WAREHOUSES 64

struct wh_avail {
    int64_t warehouse_id, available;
    int64_t on_hand, reserved; /* as read */
};

/* The variant's product, for the events of a stock change. */
static enum shop_err product_of(struct db *db, int64_t variant_id, int64_t *product_id,
                                struct problem *pb)
{
    return db_scalar_i64_or_fail(db, "SELECT product_id FROM variants WHERE id = ?", variant_id, 0,
                                 product_id, pb, "reading a variant's product");
}

/* The events of a stock change for a variant whose availability was
 * `before` (reads the product and what is available now). */
static enum shop_err changed_event(struct db *db, int64_t variant_id, int64_t before,
                                   struct problem *pb)
{
    int64_t product;
    if (product_of(db, variant_id, &product, pb) != SHOP_OK)
        return pb->err;
    return inventory_changed_event(db, variant_id, product, before, pb);
}

/* A conditional stock change, twice: plain, and returning the row as it
 * left it. The second is for writers side by side (PostgreSQL), where the
 * row as read may have moved meanwhile and reading it back would cost a
 * round trip; SQLite runs RETURNING through a temporary table, and there the
 * row as read (or read back) is exact. */
struct stock_sql {
    const char *plain, *returning;
};

/* Applies one conditional stock change and audits it. `known` is the row as
 * this transaction last read it, or NULL to read it back after the change.
 * Returns SHOP_CONFLICT when the condition did not hold. */
static enum shop_err move(struct db *db, const struct stock_sql *sql, const char *kind,
                          int64_t variant_id, int64_t warehouse_id, const struct wh_avail *known,
                          int64_t q, int64_t dh, int64_t dr, int64_t actor, int64_t order_id,
                          struct problem *pb)
{
    bool serialised = db_serialised(db);
    struct stmt *st = db_prepare(db, serialised ? sql->plain : sql->returning);
    if (!st)
        return db_fail(db, pb, "moving stock");
    stmt_bind_i64(st, 1, q);
    stmt_bind_i64(st, 2, clock_now_ms());
    stmt_bind_i64(st, 3, variant_id);
    stmt_bind_i64(st, 4, warehouse_id);
    int rc = stmt_step(st);
    if ((rc == STMT_DONE && (!serialised || db_changes(db) == 0)) || rc == STMT_CONSTRAINT)
        return problem_set(pb, SHOP_CONFLICT, "stock of variant %lld changed",
                           (long long)variant_id);
    if (rc != (serialised ? STMT_DONE : STMT_ROW))
        return db_fail(db, pb, "moving stock");
    struct stock_row after = {variant_id, warehouse_id, 0, 0};
    if (!serialised) {
        after.on_hand = stmt_i64(st, 0);
        after.reserved = stmt_i64(st, 1);
    } else if (known) {
        /* No other write ran since the read: the row is as read, plus this
         * change. */
        after.on_hand = known->on_hand + dh;
        after.reserved = known->reserved + dr;
    } else {
        /* Read back rather than RETURNING, which costs a temporary table. */
        st = db_prepare(
            db, "SELECT on_hand, reserved FROM stock WHERE variant_id = ? AND warehouse_id = ?");
        if (!st)
            return db_fail(db, pb, "moving stock");
        stmt_bind_i64(st, 1, variant_id);
        stmt_bind_i64(st, 2, warehouse_id);
        if (stmt_step(st) != STMT_ROW)
            return db_fail(db, pb, "moving stock");
        after.on_hand = stmt_i64(st, 0);
        after.reserved = stmt_i64(st, 1);
    }
    struct stock_row before = {variant_id, warehouse_id, after.on_hand - dh, after.reserved - dr};
    char ref[32];
    snprintf(ref, sizeof ref, "order:%lld", (long long)order_id);
    return inventory_audit(db, variant_id, warehouse_id, kind, &before, &after, actor, ref, pb);
}

#define RESERVE                                                                            \
    "UPDATE stock SET reserved = reserved + ?1, updated_at = ?2 WHERE variant_id = ?3"     \
    " AND warehouse_id = ?4 AND on_hand - reserved >= ?1"
#define CONSUME                                                                            \
    "UPDATE stock SET on_hand = on_hand - ?1, reserved = reserved - ?1, updated_at = ?2"   \
    " WHERE variant_id = ?3 AND warehouse_id = ?4 AND reserved >= ?1"
#define RELEASE                                                                            \
    "UPDATE stock SET reserved = reserved - ?1, updated_at = ?2 WHERE variant_id = ?3"     \
    " AND warehouse_id = ?4 AND reserved >= ?1"
#define RESTOCK                                                                            \
    "UPDATE stock SET on_hand = on_hand + ?1, updated_at = ?2 WHERE variant_id = ?3"       \
    " AND warehouse_id = ?4"
#define TAKE                                                                               \
    "UPDATE stock SET on_hand = on_hand - ?1, updated_at = ?2 WHERE variant_id = ?3"       \
    " AND warehouse_id = ?4 AND on_hand - reserved >= ?1"
#define RETURNING_ROW " RETURNING on_hand, reserved"
static const struct stock_sql sql_reserve = {RESERVE, RESERVE RETURNING_ROW};
static const struct stock_sql sql_consume = {CONSUME, CONSUME RETURNING_ROW};
static const struct stock_sql sql_release = {RELEASE, RELEASE RETURNING_ROW};
static const struct stock_sql sql_restock = {RESTOCK, RESTOCK RETURNING_ROW};
static const struct stock_sql sql_take = {TAKE, TAKE RETURNING_ROW};

static const struct alloc_rules default_rules = {1, 250, 5};

/* The warehouses holding available units of a variant, with what the
 * allocation rule weighs (shop/allocation.h). Returns n, or -1. */
static int candidates(struct db *db, int64_t variant_id, struct alloc_wh *wh, int64_t *total)
{
    int n = 0;
    *total = 0;
    struct stmt *st = db_prepare(db, "SELECT s.warehouse_id, s.on_hand, s.reserved, w.lat, w.lon,"
                                     " w.open_shipments FROM stock s JOIN warehouses w"
                                     " ON w.id = s.warehouse_id"
                                     " WHERE s.variant_id = ? AND s.on_hand - s.reserved > 0");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, variant_id);
    while (n < MAX_WAREHOUSES && stmt_step(st) == STMT_ROW) {
        int64_t on_hand = stmt_i64(st, 1), reserved = stmt_i64(st, 2);
        wh[n] = (struct alloc_wh){.warehouse_id = stmt_i64(st, 0),
                                  .available = on_hand - reserved,
                                  .open_shipments = stmt_i64(st, 5),
                                  .at = {stmt_double(st, 3), stmt_double(st, 4)},
                                  .on_hand = on_hand,
                                  .reserved = reserved};
        *total += wh[n++].available;
    }
    return n;
}

/* Records one reservation row; with `out`, also in the list (its id is
 * then read back: a round trip on PostgreSQL, where the consume's read of
 * the rows is one more). */
static enum shop_err insert_reservation(struct db *db, int64_t order_id, int64_t variant_id,
                                        int64_t warehouse_id, int64_t quantity, const char *status,
                                        int64_t expires_at, struct reserved_list *out,
                                        struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO reservations (order_id, variant_id, warehouse_id,"
                                     " quantity, status, expires_at, created_at, updated_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording a reservation");
    int64_t now = clock_now_ms();
    stmt_bind_i64(st, 1, order_id);
    stmt_bind_i64(st, 2, variant_id);
    stmt_bind_i64(st, 3, warehouse_id);
    stmt_bind_i64(st, 4, quantity);
    stmt_bind_text(st, 5, status);
    stmt_bind_i64(st, 6, expires_at);
    stmt_bind_i64(st, 7, now);
    stmt_bind_i64(st, 8, now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording a reservation");
    if (!out || !out->complete)
        return SHOP_OK;
    if (out->n == RESERVED_MAX) {
        out->complete = false;
        return SHOP_OK;
    }
    struct reserved *r = &out->r[out->n++];
    *r = (struct reserved){0, variant_id, warehouse_id, quantity, 0};
    db_last_id_into(db, &r->id); /* settle's, after the commit */
    return SHOP_OK;
}

static enum shop_err reserve_line(struct db *db, int64_t order_id, struct reserve_line *l,
                                  const struct reserve_where *where, int64_t expires_at,
                                  int64_t actor, bool *short_line, struct reserved_list *out,
                                  struct problem *pb)
{
    struct alloc_wh wh[MAX_WAREHOUSES];
    struct alloc_take take[MAX_WAREHOUSES];
    int64_t total, covered;
    int n = candidates(db, l->variant_id, wh, &total);
    if (n < 0)
        return db_fail(db, pb, "reading stock");
    l->available = total;
    l->backordered = 0;
    *short_line = total < l->quantity;
    if (*short_line) {
        /* A product that may be sold out of stock takes what there is and
         * backorders the rest; any other is short. */
        int64_t backorder;
        if (db_scalar_i64_or_fail(db, "SELECT allow_backorder FROM products WHERE id = ?",
                                  l->product_id, 0, &backorder, pb,
                                  "reading the product") != SHOP_OK)
            return pb->err;
        if (backorder == 0)
            return SHOP_OK;
        *short_line = false;
        l->backordered = l->quantity - total;
        struct stmt *st = db_prepare(db, "UPDATE order_lines SET backordered = ?"
                                         " WHERE order_id = ? AND variant_id = ?");
        if (!st)
            return db_fail(db, pb, "recording a backorder");
        stmt_bind_i64(st, 1, l->backordered);
        stmt_bind_i64(st, 2, order_id);
        stmt_bind_i64(st, 3, l->variant_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording a backorder");
    }
    int k = allocation_plan(wh, n, l->quantity - l->backordered, where ? where->dest : NULL,
                            where ? where->rules : &default_rules, take, &covered);
    for (int i = 0; i < k; i++) {
        const struct alloc_wh *w = &wh[take[i].index];
        struct wh_avail known = {w->warehouse_id, w->available, w->on_hand, w->reserved};
        enum shop_err e = move(db, &sql_reserve, "reserve", l->variant_id, w->warehouse_id, &known,
                               take[i].quantity, 0, take[i].quantity, actor, order_id, pb);
        if (e != SHOP_OK ||
            (e = insert_reservation(db, order_id, l->variant_id, w->warehouse_id,
                                    take[i].quantity, "active", expires_at, out, pb)) != SHOP_OK)
            return e;
    }
    return inventory_moved_event(db, l->variant_id, l->product_id, total, total - covered, pb);
}

enum shop_err reservation_reserve(struct db *db, int64_t order_id, struct reserve_line *lines,
                                  int n, const struct reserve_where *where, int64_t expires_at,
                                  int64_t actor, struct reserved_list *out, struct problem *pb)
{
    json_t *shorts = NULL;
    if (out)
        *out = (struct reserved_list){.n = 0, .complete = true};
    for (int i = 0; i < n; i++) {
        bool is_short;
        enum shop_err e =
            reserve_line(db, order_id, &lines[i], where, expires_at, actor, &is_short, out, pb);
        if (e != SHOP_OK) {
            json_decref(shorts);
            return e;
        }
        if (!is_short)
            continue;
        if (!shorts)
            shorts = json_array();
        json_array_append_new(shorts, json_pack("{s:I, s:s?, s:s?, s:I, s:I}", "variant_id",
                                                (json_int_t)lines[i].variant_id, "sku",
                                                lines[i].sku, "title", lines[i].title, "requested",
                                                (json_int_t)lines[i].quantity, "available",
                                                (json_int_t)lines[i].available));
    }
    if (!shorts)
        return SHOP_OK;
    size_t k = json_array_size(shorts);
    problem_extra(pb, "lines", shorts);
    problem_extra(pb, "code", json_string(PROBLEM_CODE_OUT_OF_STOCK));
    return problem_set(pb, SHOP_CONFLICT, "%zu line%s cannot be fully supplied; see lines", k,
                       k == 1 ? "" : "s");
}

/* Units a flash-sale order took go back to the sale's pool while the sale
 * runs (they stay in stock.reserved: nothing moves in stock). */
static enum shop_err back_to_sale(struct db *db, int64_t sale_id, int64_t warehouse_id, int64_t q,
                                  struct problem *pb)
{
    struct stmt *st =
        db_prepare(db, "INSERT INTO flash_sale_stock (sale_id, warehouse_id, left_qty)"
                       " VALUES (?1, ?2, ?3) ON CONFLICT (sale_id, warehouse_id)"
                       " DO UPDATE SET left_qty = flash_sale_stock.left_qty + ?3");
    if (!st)
        return db_fail(db, pb, "returning units to the sale");
    stmt_bind_i64(st, 1, sale_id);
    stmt_bind_i64(st, 2, warehouse_id);
    stmt_bind_i64(st, 3, q);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "returning units to the sale");
}

/* Ends one active reservation with `sql` (consume or release), marking the
 * row `to`: it must still be active. */
static enum shop_err settle_row(struct db *db, int64_t order_id, const struct stock_sql *sql,
                                const char *kind, const char *to, const struct reserved *row,
                                struct problem *pb)
{
    bool consuming = !strcmp(to, "consumed");
    /* Consuming leaves availability as it was (on hand and reserved fall
     * together), and so does handing units back to a running flash sale:
     * only a release to stock is news. */
    bool to_sale = false;
    if (!consuming && row->sale_id &&
        flashsale_pool_open(db, row->sale_id, &to_sale, pb) != SHOP_OK)
        return pb->err;
    bool news = !consuming && !to_sale;
    int64_t before = 0;
    if (news && inventory_available(db, row->variant_id, &before, pb) != SHOP_OK)
        return pb->err;
    int64_t q = row->quantity;
    enum shop_err e;
    if (to_sale)
        e = back_to_sale(db, row->sale_id, row->warehouse_id, q, pb);
    else
        e = move(db, sql, kind, row->variant_id, row->warehouse_id, NULL, q, consuming ? -q : 0,
                 -q, 0, order_id, pb);
    if (e != SHOP_OK)
        return e;
    struct stmt *st = db_prepare(db, "UPDATE reservations SET status = ?, updated_at = ?"
                                     " WHERE id = ? AND status = 'active'");
    if (!st)
        return db_fail(db, pb, "updating a reservation");
    stmt_bind_text(st, 1, to);
    stmt_bind_i64(st, 2, clock_now_ms());
    stmt_bind_i64(st, 3, row->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "updating a reservation");
    if (db_expect_changes(db, 1, pb, SHOP_INTERNAL,
                          "a reservation being settled changed meanwhile") != SHOP_OK)
        return pb->err;
    return news ? changed_event(db, row->variant_id, before, pb) : SHOP_OK;
}

/* Ends every active reservation of an order with `sql` (consume or
 * release), marking the rows `to`. */
static enum shop_err settle(struct db *db, int64_t order_id, const struct stock_sql *sql,
                           const char *kind, const char *to, struct problem *pb)
{
    /* The order's reservations in slices of 128, the active ones picked out
     * here: with "AND status = 'active'" PostgreSQL's planner would rather
     * walk the partial index of every active reservation in the shop, which
     * under load is thousands of entries (most of them dead), than the
     * order's few. */
    int64_t after = 0;
    for (int read = 128; read == 128;) {
        struct reserved rows[128];
        int n = 0;
        read = 0;
        struct stmt *st = db_prepare(db, "SELECT id, variant_id, warehouse_id, quantity,"
                                         " coalesce(sale_id, 0), status = 'active'"
                                         " FROM reservations WHERE order_id = ? AND id > ?"
                                         " ORDER BY id LIMIT 128");
        if (!st)
            return db_fail(db, pb, "reading reservations");
        stmt_bind_i64(st, 1, order_id);
        stmt_bind_i64(st, 2, after);
        int rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            read++;
            after = stmt_i64(st, 0);
            if (!stmt_i64(st, 5))
                continue;
            rows[n++] = (struct reserved){after, stmt_i64(st, 1), stmt_i64(st, 2),
                                          stmt_i64(st, 3), stmt_i64(st, 4)};
        }
        if (rc != STMT_DONE) /* not "no more reservations": stock would drift */
            return db_fail(db, pb, "reading reservations");
        for (int i = 0; i < n; i++) {
            enum shop_err e = settle_row(db, order_id, sql, kind, to, &rows[i], pb);
            if (e != SHOP_OK)
                return e;
        }
    }
    return SHOP_OK;
}

enum shop_err reservation_consume(struct db *db, int64_t order_id,
                                  const struct reserved_list *known, struct problem *pb)
{
    if (!known || !known->complete)
        return settle(db, order_id, &sql_consume, "consume", "consumed", pb);
    /* The rows begin wrote, not read back: each must still be active
     * (settle_row's expectation), as the order is still pending_payment. */
    for (int i = 0; i < known->n; i++) {
        enum shop_err e =
            settle_row(db, order_id, &sql_consume, "consume", "consumed", &known->r[i], pb);
        if (e != SHOP_OK)
            return e;
    }
    return SHOP_OK;
}

enum shop_err reservation_release(struct db *db, int64_t order_id, struct problem *pb)
{
    return settle(db, order_id, &sql_release, "release", "released", pb);
}

enum shop_err reservation_restock(struct db *db, int64_t order_id, int64_t variant_id,
                                  int64_t quantity, int64_t actor, struct problem *pb)
{
    /* Back to the warehouses the units left from, in the order they left. */
    struct stmt *st =
        db_prepare(db, "SELECT warehouse_id, quantity FROM reservations"
                       " WHERE order_id = ? AND variant_id = ? AND status = 'consumed'"
                       " ORDER BY id");
    if (!st)
        return db_fail(db, pb, "reading reservations");
    stmt_bind_i64(st, 1, order_id);
    stmt_bind_i64(st, 2, variant_id);
    struct wh_avail from[MAX_WAREHOUSES];
    int n = 0;
    while (n < MAX_WAREHOUSES && stmt_step(st) == STMT_ROW)
        from[n++] = (struct wh_avail){stmt_i64(st, 0), stmt_i64(st, 1), 0, 0};
    if (n == 0)
        return problem_set(pb, SHOP_INTERNAL, "no consumed stock to return for variant %lld",
                           (long long)variant_id);
    int64_t before;
    if (inventory_available(db, variant_id, &before, pb) != SHOP_OK)
        return pb->err;
    int64_t left = quantity;
    for (int i = 0; i < n && left > 0; i++) {
        int64_t q = i == n - 1 || from[i].available > left ? left : from[i].available;
        enum shop_err e = move(db, &sql_restock, "restock", variant_id, from[i].warehouse_id, NULL,
                               q, q, 0, actor, order_id, pb);
        if (e != SHOP_OK)
            return e;
        left -= q;
    }
    return changed_event(db, variant_id, before, pb);
}

int reservation_take_now(struct db *db, int64_t order_id, int64_t variant_id, int64_t quantity,
                         const struct reserve_where *where, int64_t actor,
                         struct reserve_take *out, struct problem *pb)
{
    struct alloc_wh wh[MAX_WAREHOUSES];
    struct alloc_take take[MAX_WAREHOUSES];
    int64_t total = 0, round = 0, left = quantity;
    int made = 0;
    /* A take that finds its row moved since the read (another writer side
     * by side, PostgreSQL) reads the stock again and takes what is there
     * now: whatever it cannot is left for the caller to backorder, never a
     * conflict the caller could do nothing about but try again. */
    for (int attempt = 0; attempt < 4 && left > 0; attempt++) {
        int64_t covered;
        int n = candidates(db, variant_id, wh, &total);
        if (n < 0) {
            db_fail(db, pb, "reading stock");
            return -1;
        }
        round = 0; /* taken since `total` was read */
        int k = allocation_plan(wh, n, left, where ? where->dest : NULL,
                                where ? where->rules : &default_rules, take, &covered);
        bool moved = false;
        for (int i = 0; i < k; i++) {
            const struct alloc_wh *w = &wh[take[i].index];
            struct wh_avail known = {w->warehouse_id, w->available, w->on_hand, w->reserved};
            int64_t q = take[i].quantity;
            if (move(db, &sql_take, "consume", variant_id, w->warehouse_id, &known, q, -q, 0, actor,
                     order_id, pb) != SHOP_OK) {
                if (pb->err != SHOP_CONFLICT || attempt == 3)
                    return -1;
                problem_clear(pb);
                moved = true;
                break;
            }
            if (insert_reservation(db, order_id, variant_id, w->warehouse_id, q, "consumed",
                                   clock_now_ms(), NULL, pb) != SHOP_OK)
                return -1;
            int m = 0;
            while (m < made && out[m].warehouse_id != w->warehouse_id)
                m++;
            if (m == made)
                out[made++] = (struct reserve_take){w->warehouse_id, 0};
            out[m].quantity += q;
            left -= q;
            round += q;
        }
        if (!moved)
            break;
    }
    int64_t product;
    if (made > 0 &&
        (product_of(db, variant_id, &product, pb) != SHOP_OK ||
         inventory_moved_event(db, variant_id, product, total - round + (quantity - left),
                               total - round, pb) != SHOP_OK))
        return -1;
    return made;
}

enum shop_err reservation_return(struct db *db, int64_t order_id, int64_t variant_id,
                                 int64_t warehouse_id, int64_t quantity, int64_t actor,
                                 struct problem *pb)
{
    int64_t before;
    if (inventory_available(db, variant_id, &before, pb) != SHOP_OK)
        return pb->err;
    enum shop_err e = move(db, &sql_restock, "return", variant_id, warehouse_id, NULL, quantity,
                           quantity, 0, actor, order_id, pb);
    if (e != SHOP_OK)
        return e;
    return changed_event(db, variant_id, before, pb);
}

enum shop_err reservation_keep(struct db *db, int64_t order_id, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "UPDATE reservations SET expires_at = ?, updated_at = ?"
                                     " WHERE order_id = ? AND status = 'active'");
    if (!st)
        return db_fail(db, pb, "keeping the reservations");
    stmt_bind_i64(st, 1, INT64_MAX);
    stmt_bind_i64(st, 2, clock_now_ms());
    stmt_bind_i64(st, 3, order_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "keeping the reservations");
}
