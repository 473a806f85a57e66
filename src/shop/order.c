/* order.c — the order state machine and order reads (the document is
 * order_doc.c). */
#include "shop/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/fraud.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "shop/status.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/keyset.h"

static const char *const names[ORDER_STATUS_COUNT] = {
    "pending_payment", "paid",      "fulfilling", "partially_shipped",
    "shipped",         "delivered", "cancelled",  "on_hold",
};

/* allowed[from] is a bit set of the states `from` may move to. */
#define BIT(s) (1u << (s))
static const unsigned allowed[ORDER_STATUS_COUNT] = {
    [ORDER_PENDING_PAYMENT] = BIT(ORDER_PAID) | BIT(ORDER_ON_HOLD) | BIT(ORDER_CANCELLED),
    [ORDER_PAID] = BIT(ORDER_FULFILLING) | BIT(ORDER_CANCELLED),
    [ORDER_FULFILLING] = BIT(ORDER_PARTIALLY_SHIPPED) | BIT(ORDER_SHIPPED) | BIT(ORDER_CANCELLED),
    [ORDER_PARTIALLY_SHIPPED] = BIT(ORDER_SHIPPED),
    [ORDER_SHIPPED] = BIT(ORDER_DELIVERED),
    [ORDER_DELIVERED] = 0,
    [ORDER_CANCELLED] = 0,
    [ORDER_ON_HOLD] = BIT(ORDER_PAID) | BIT(ORDER_CANCELLED),
};

/* The moves order_status_sync may make: any among the shipping states,
 * and to cancelled when nothing is left to deliver (shipment.h). */
#define SHIPPING                                                                           \
    (BIT(ORDER_PAID) | BIT(ORDER_FULFILLING) | BIT(ORDER_PARTIALLY_SHIPPED) |               \
     BIT(ORDER_SHIPPED) | BIT(ORDER_DELIVERED) | BIT(ORDER_CANCELLED))
static const unsigned derived[ORDER_STATUS_COUNT] = {
    [ORDER_PAID] = SHIPPING,    [ORDER_FULFILLING] = SHIPPING, [ORDER_PARTIALLY_SHIPPED] = SHIPPING,
    [ORDER_SHIPPED] = SHIPPING, [ORDER_DELIVERED] = SHIPPING,
};

#define ORDER_UPDATE_SQL                                                                   \
    "UPDATE orders SET status = ?1, updated_at = ?2,"                                      \
    " paid_at = CASE WHEN ?1 = 'paid' THEN ?2 ELSE paid_at END,"                           \
    " cancelled_at = CASE WHEN ?1 = 'cancelled' THEN ?2 ELSE cancelled_at END"             \
    " WHERE id = ?3 AND status = ?4"
#define ORDER_HISTORY_SQL "INSERT INTO order_history (order_id, status, note, at) VALUES (?, ?, ?, ?)"

static const struct status_machine by_rule = {"order", names, ORDER_STATUS_COUNT, allowed,
                                              ORDER_UPDATE_SQL, ORDER_HISTORY_SQL};
static const struct status_machine by_shipments = {"order", names, ORDER_STATUS_COUNT, derived,
                                                   ORDER_UPDATE_SQL, ORDER_HISTORY_SQL};

const char *order_status_name(enum order_status s)
{
    return status_name(&by_rule, (int)s);
}

int order_status_parse(const char *s)
{
    return status_parse(&by_rule, s);
}

bool order_transition_allowed(enum order_status from, enum order_status to)
{
    return status_allowed(&by_rule, (int)from, (int)to);
}

/* Reads an order's head and its status (-1 when not a known one). Returns
 * 1, 0 when there is no such order, -1 when the read failed. */
static int read_head(struct db *db, int64_t order_id, struct order_head *h, int *status)
{
    struct stmt *st = db_prepare(db, "SELECT user_id, total_cents, coalesce(flash_sale_id, 0),"
                                     " currency, coalesce(idempotency_key, ''), status"
                                     " FROM orders WHERE id = ?");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, order_id);
    int rc = stmt_step(st);
    if (rc != STMT_ROW) /* a failed read is no missing order (a 404 to a paying client) */
        return rc == STMT_DONE ? 0 : -1;
    h->user_id = stmt_i64(st, 0);
    h->total_cents = stmt_i64(st, 1);
    h->flash_sale_id = stmt_i64(st, 2);
    snprintf(h->currency, sizeof h->currency, "%s", stmt_text(st, 3));
    snprintf(h->key, sizeof h->key, "%s", stmt_text(st, 4));
    *status = order_status_parse(stmt_text(st, 5));
    return 1;
}

bool order_head_read(struct db *db, int64_t order_id, struct order_head *out)
{
    int status;
    return read_head(db, order_id, out, &status) == 1;
}

enum shop_err order_transition(struct db *db, int64_t order_id, enum order_status to,
                               const char *note, struct order_head *head, struct problem *pb)
{
    struct order_head mine;
    int from;
    int found = read_head(db, order_id, head ? head : &mine, &from);
    if (found < 0)
        return db_fail(db, pb, "reading the order");
    if (!found)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)order_id);
    if (from < 0 || !order_transition_allowed((enum order_status)from, to))
        return problem_set(pb, SHOP_CONFLICT, "an order that is %s cannot become %s",
                           order_status_name((enum order_status)from), order_status_name(to));
    return status_move(db, &by_rule, order_id, from, (int)to, note, clock_now_ms(), pb);
}

enum shop_err order_transition_from(struct db *db, int64_t order_id, enum order_status from,
                                    enum order_status to, const char *note, int64_t at,
                                    struct problem *pb)
{
    return status_move(db, &by_rule, order_id, (int)from, (int)to, note, at, pb);
}

enum shop_err order_set_status(struct db *db, int64_t order_id, enum order_status from,
                               enum order_status to, const char *note, struct problem *pb)
{
    return status_move(db, &by_shipments, order_id, (int)from, (int)to, note, clock_now_ms(), pb);
}

int order_products(struct db *db, int64_t order_id, int64_t *out, int max)
{
    struct stmt *st = db_prepare(db, "SELECT product_id FROM order_lines WHERE order_id = ?");
    int n = 0;
    if (!st)
        return 0;
    stmt_bind_i64(st, 1, order_id);
    while (n < max && stmt_step(st) == STMT_ROW) {
        int64_t id = stmt_i64(st, 0);
        int i = 0;
        while (i < n && out[i] != id) /* an order has few lines: no DISTINCT, no temp table */
            i++;
        if (i == n)
            out[n++] = id;
    }
    return n;
}

/* ---- reads ------------------------------------------------------------------------ */

enum shop_err order_get(struct shop *shop, const struct principal *who, int64_t id, json_t **out,
                        struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t owner;
    if (db_scalar_i64_or_fail(db, "SELECT user_id FROM orders WHERE id = ?", id, 0, &owner, pb,
                              "reading the order") != SHOP_OK) {
        db_read_end(db);
        return pb->err;
    }
    json_t *o = NULL;
    if (owner && (owner == who->user_id || who->role == ROLE_ADMIN)) {
        /* The order is there (its owner was read): no document is a failed
         * read of one of its parts, not "no order". */
        o = order_render(db, id);
        if (!o) {
            db_fail(db, pb, "reading the order");
            db_read_end(db);
            return pb->err;
        }
    }
    if (o && who->role == ROLE_ADMIN) /* the verdict is for admins only (shop/fraud.h) */
        fraud_attach(db, id, o);
    db_read_end(db);
    if (!o)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)id);
    *out = o;
    return SHOP_OK;
}

enum shop_err order_list(struct shop *shop, const struct principal *who, int limit,
                         const char *cursor, json_t **out, struct problem *pb)
{
    int64_t before = INT64_MAX;
    if (cursor && !keyset_id_parse(cursor, &before))
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t ids[101];
    int n = 0, rc = STMT_ERROR;
    struct stmt *st = db_prepare(db, "SELECT id FROM orders WHERE user_id = ? AND id < ?"
                                     " ORDER BY id DESC LIMIT ?");
    if (st) {
        stmt_bind_i64(st, 1, who->user_id);
        stmt_bind_i64(st, 2, before);
        stmt_bind_i64(st, 3, limit + 1);
        while (n <= limit && (rc = stmt_step(st)) == STMT_ROW)
            ids[n++] = stmt_i64(st, 0);
    }
    /* Stopping at limit + 1 rows leaves rc at STMT_ROW: the page is whole. A
     * failed step is not the end of the customer's orders. */
    if (rc != STMT_DONE && rc != STMT_ROW) {
        db_fail(db, pb, "listing the orders");
        db_read_end(db);
        return pb->err;
    }
    json_t *data = json_array();
    bool more = n > limit;
    for (int i = 0; i < n && i < limit; i++) {
        json_t *o = order_render(db, ids[i]);
        if (!o) { /* read just now, in this transaction: a failed read */
            json_decref(data);
            db_fail(db, pb, "reading the orders");
            db_read_end(db);
            return pb->err;
        }
        json_array_append_new(data, o);
    }
    db_read_end(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)ids[limit - 1]) : json_null());
    return SHOP_OK;
}

enum shop_err order_events(struct shop *shop, int64_t id, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t exists;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM orders WHERE id = ?", id, 0, &exists, pb,
                              "reading the order") != SHOP_OK) {
        db_read_end(db);
        return pb->err;
    }
    json_t *data = json_array();
    struct stmt *st = db_prepare(db, "SELECT event_id, topic, recorded_at FROM order_event_log"
                                     " WHERE order_id = ? ORDER BY event_id");
    char ts[RFC3339_LEN];
    int rc = STMT_ERROR;
    if (st) {
        stmt_bind_i64(st, 1, id);
        while ((rc = stmt_step(st)) == STMT_ROW)
            json_array_append_new(
                data, json_pack("{s:I, s:s, s:s}", "event_id", (json_int_t)stmt_i64(st, 0), "topic",
                                stmt_text(st, 1), "recorded_at", clock_fmt(stmt_i64(st, 2), ts)));
    }
    if (rc != STMT_DONE) {
        json_decref(data);
        db_fail(db, pb, "reading the order's events");
        db_read_end(db);
        return pb->err;
    }
    db_read_end(db);
    if (!exists && json_array_size(data) == 0) {
        json_decref(data);
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)id);
    }
    *out = json_pack("{s:o, s:n}", "data", data, "next_cursor");
    return SHOP_OK;
}
