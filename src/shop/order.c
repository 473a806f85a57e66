/* order.c — the order state machine, the order document, order reads. */
#include "shop/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

static const char *const names[ORDER_STATUS_COUNT] = {
    "pending_payment", "paid", "fulfilling", "partially_shipped", "shipped", "delivered", "cancelled",
};

/* allowed[from] is a bit set of the states `from` may move to. */
#define BIT(s) (1u << (s))
static const unsigned allowed[ORDER_STATUS_COUNT] = {
    [ORDER_PENDING_PAYMENT] = BIT(ORDER_PAID) | BIT(ORDER_CANCELLED),
    [ORDER_PAID] = BIT(ORDER_FULFILLING) | BIT(ORDER_CANCELLED),
    [ORDER_FULFILLING] = BIT(ORDER_PARTIALLY_SHIPPED) | BIT(ORDER_SHIPPED) | BIT(ORDER_CANCELLED),
    [ORDER_PARTIALLY_SHIPPED] = BIT(ORDER_SHIPPED),
    [ORDER_SHIPPED] = BIT(ORDER_DELIVERED),
    [ORDER_DELIVERED] = 0,
    [ORDER_CANCELLED] = 0,
};

const char *order_status_name(enum order_status s)
{
    return (unsigned)s < ORDER_STATUS_COUNT ? names[s] : "unknown";
}

int order_status_parse(const char *s)
{
    for (int i = 0; i < ORDER_STATUS_COUNT; i++)
        if (s && !strcmp(s, names[i]))
            return i;
    return -1;
}

bool order_transition_allowed(enum order_status from, enum order_status to)
{
    return (unsigned)from < ORDER_STATUS_COUNT && (unsigned)to < ORDER_STATUS_COUNT &&
           (allowed[from] & BIT(to)) != 0;
}

enum shop_err order_transition(struct db *db, int64_t order_id, enum order_status to,
                               const char *note, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT status FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)order_id);
    int from = order_status_parse(stmt_text(st, 0));
    if (from < 0 || !order_transition_allowed((enum order_status)from, to))
        return problem_set(pb, SHOP_CONFLICT, "an order that is %s cannot become %s",
                           order_status_name((enum order_status)from), order_status_name(to));
    int64_t now = clock_now_ms();
    st = db_prepare(db, "UPDATE orders SET status = ?1, updated_at = ?2,"
                        " paid_at = CASE WHEN ?1 = 'paid' THEN ?2 ELSE paid_at END,"
                        " cancelled_at = CASE WHEN ?1 = 'cancelled' THEN ?2 ELSE cancelled_at END"
                        " WHERE id = ?3 AND status = ?4");
    if (!st)
        return db_fail(db, pb, "updating the order");
    stmt_bind_text(st, 1, order_status_name(to));
    stmt_bind_i64(st, 2, now);
    stmt_bind_i64(st, 3, order_id);
    stmt_bind_text(st, 4, order_status_name((enum order_status)from));
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "updating the order");
    if (db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the order changed meanwhile");
    st = db_prepare(db, "INSERT INTO order_history (order_id, status, note, at) VALUES (?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording order history");
    stmt_bind_i64(st, 1, order_id);
    stmt_bind_text(st, 2, order_status_name(to));
    stmt_bind_text(st, 3, note);
    stmt_bind_i64(st, 4, now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording order history");
}

/* ---- the document --------------------------------------------------------------- */

static json_t *ts_or_null(int64_t ms)
{
    char ts[RFC3339_LEN];
    return ms ? json_string(clock_fmt(ms, ts)) : json_null();
}

static json_t *lines_json(struct db *db, int64_t order_id)
{
    json_t *lines = json_array();
    struct stmt *st = db_prepare(db, "SELECT id, product_id, variant_id, sku, title, options,"
                                     " quantity, unit_price_cents, tax_cents, status FROM order_lines"
                                     " WHERE order_id = ? ORDER BY id");
    if (!st)
        return lines;
    stmt_bind_i64(st, 1, order_id);
    while (stmt_step(st) == STMT_ROW) {
        json_t *opts = json_loads(stmt_text(st, 5), 0, NULL);
        int64_t qty = stmt_i64(st, 6), unit = stmt_i64(st, 7);
        json_array_append_new(
            lines, json_pack("{s:I, s:I, s:I, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s}", "id",
                             (json_int_t)stmt_i64(st, 0), "product_id", (json_int_t)stmt_i64(st, 1),
                             "variant_id", (json_int_t)stmt_i64(st, 2), "sku", stmt_text(st, 3),
                             "title", stmt_text(st, 4), "options", opts ? opts : json_object(),
                             "quantity", (json_int_t)qty, "unit_price_cents", (json_int_t)unit,
                             "line_total_cents", (json_int_t)(qty * unit), "tax_cents",
                             (json_int_t)stmt_i64(st, 8), "status", stmt_text(st, 9)));
    }
    return lines;
}

static json_t *payments_json(struct db *db, int64_t order_id)
{
    json_t *out = json_array();
    struct stmt *st = db_prepare(db, "SELECT id, tender, payment_method_id, brand, last4,"
                                     " amount_cents, status, failure_code, refunded_cents,"
                                     " created_at FROM payments WHERE order_id = ? ORDER BY id");
    if (!st)
        return out;
    stmt_bind_i64(st, 1, order_id);
    while (stmt_step(st) == STMT_ROW) {
        json_t *p = json_pack("{s:I, s:s, s:I, s:s, s:I, s:o}", "id", (json_int_t)stmt_i64(st, 0),
                              "tender", stmt_text(st, 1), "amount_cents",
                              (json_int_t)stmt_i64(st, 5), "status", stmt_text(st, 6),
                              "refunded_cents", (json_int_t)stmt_i64(st, 8), "created_at",
                              ts_or_null(stmt_i64(st, 9)));
        if (!stmt_is_null(st, 2)) {
            json_object_set_new(p, "payment_method_id", json_integer(stmt_i64(st, 2)));
            json_object_set_new(p, "brand", json_string(stmt_text(st, 3)));
            json_object_set_new(p, "last4", json_string(stmt_text(st, 4)));
        }
        if (!stmt_is_null(st, 7))
            json_object_set_new(p, "failure_code", json_string(stmt_text(st, 7)));
        json_array_append_new(out, p);
    }
    return out;
}

static json_t *refunds_json(struct db *db, int64_t order_id)
{
    json_t *out = json_array();
    struct stmt *st = db_prepare(db, "SELECT id, amount_cents, reason, status, created_at"
                                     " FROM refunds WHERE order_id = ? ORDER BY id");
    if (!st)
        return out;
    stmt_bind_i64(st, 1, order_id);
    while (stmt_step(st) == STMT_ROW)
        json_array_append_new(out, json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "id",
                                             (json_int_t)stmt_i64(st, 0), "amount_cents",
                                             (json_int_t)stmt_i64(st, 1), "reason",
                                             stmt_text(st, 2), "status", stmt_text(st, 3),
                                             "created_at", ts_or_null(stmt_i64(st, 4)),
                                             "allocations", json_array()));
    size_t i;
    json_t *r;
    json_array_foreach(out, i, r)
    {
        st = db_prepare(db, "SELECT payment_id, amount_cents, status FROM refund_allocations"
                            " WHERE refund_id = ? ORDER BY id");
        if (!st)
            break;
        stmt_bind_i64(st, 1, json_integer_value(json_object_get(r, "id")));
        json_t *alloc = json_object_get(r, "allocations");
        while (stmt_step(st) == STMT_ROW)
            json_array_append_new(alloc, json_pack("{s:I, s:I, s:s}", "payment_id",
                                                   (json_int_t)stmt_i64(st, 0), "amount_cents",
                                                   (json_int_t)stmt_i64(st, 1), "status",
                                                   stmt_text(st, 2)));
    }
    return out;
}

static json_t *history_json(struct db *db, int64_t order_id)
{
    json_t *out = json_array();
    struct stmt *st = db_prepare(db, "SELECT status, note, at FROM order_history"
                                     " WHERE order_id = ? ORDER BY id");
    if (!st)
        return out;
    stmt_bind_i64(st, 1, order_id);
    while (stmt_step(st) == STMT_ROW)
        json_array_append_new(out, json_pack("{s:s, s:s?, s:o}", "status", stmt_text(st, 0),
                                             "note", stmt_is_null(st, 1) ? NULL : stmt_text(st, 1),
                                             "at", ts_or_null(stmt_i64(st, 2))));
    return out;
}

json_t *order_render(struct db *db, int64_t order_id)
{
    struct stmt *st = db_prepare(
        db, "SELECT user_id, status, refund_status, currency, subtotal_cents, discount_cents,"
            " shipping_cents, tax_cents, total_cents, refunded_cents, shipping_method, ship_name,"
            " ship_line1, ship_line2, ship_city, ship_region, ship_postal, ship_country,"
            " ship_phone, cancel_reason, created_at, updated_at, paid_at, cancelled_at"
            " FROM orders WHERE id = ?");
    if (!st)
        return NULL;
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) != STMT_ROW)
        return NULL;
#define OPT(c) (stmt_is_null(st, c) ? NULL : stmt_text(st, c))
    json_t *o = json_pack(
        "{s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s,"
        " s:{s:s, s:s, s:s?, s:s, s:s?, s:s, s:s, s:s?}, s:s?, s:o, s:o, s:o, s:o}",
        "id", (json_int_t)order_id, "user_id", (json_int_t)stmt_i64(st, 0), "status",
        stmt_text(st, 1), "refund_status", stmt_text(st, 2), "currency", stmt_text(st, 3),
        "subtotal_cents", (json_int_t)stmt_i64(st, 4), "discount_cents",
        (json_int_t)stmt_i64(st, 5), "shipping_cents", (json_int_t)stmt_i64(st, 6), "tax_cents",
        (json_int_t)stmt_i64(st, 7), "total_cents", (json_int_t)stmt_i64(st, 8), "refunded_cents",
        (json_int_t)stmt_i64(st, 9), "shipping_method", stmt_text(st, 10), "shipping_address",
        "name", stmt_text(st, 11), "line1", stmt_text(st, 12), "line2", OPT(13), "city",
        stmt_text(st, 14), "region", OPT(15), "postal_code", stmt_text(st, 16), "country",
        stmt_text(st, 17), "phone", OPT(18), "cancel_reason", OPT(19), "created_at",
        ts_or_null(stmt_i64(st, 20)), "updated_at", ts_or_null(stmt_i64(st, 21)), "paid_at",
        ts_or_null(stmt_i64(st, 22)), "cancelled_at", ts_or_null(stmt_i64(st, 23)));
#undef OPT
    if (!o)
        return NULL;
    json_object_set_new(o, "lines", lines_json(db, order_id));
    json_object_set_new(o, "payments", payments_json(db, order_id));
    json_object_set_new(o, "refunds", refunds_json(db, order_id));
    json_object_set_new(o, "shipments", json_array());
    json_object_set_new(o, "history", history_json(db, order_id));
    return o;
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
    int64_t owner = db_scalar_i64(db, "SELECT user_id FROM orders WHERE id = ?", id, 0);
    json_t *o = NULL;
    if (owner && (owner == who->user_id || who->role == ROLE_ADMIN))
        o = order_render(db, id);
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
    if (cursor) {
        char *end;
        long long v = strtoll(cursor, &end, 10);
        if (!*cursor || *end || v <= 0)
            return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
        before = v;
    }
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t ids[101];
    int n = 0;
    struct stmt *st = db_prepare(db, "SELECT id FROM orders WHERE user_id = ? AND id < ?"
                                     " ORDER BY id DESC LIMIT ?");
    if (st) {
        stmt_bind_i64(st, 1, who->user_id);
        stmt_bind_i64(st, 2, before);
        stmt_bind_i64(st, 3, limit + 1);
        while (n <= limit && stmt_step(st) == STMT_ROW)
            ids[n++] = stmt_i64(st, 0);
    }
    json_t *data = json_array();
    bool more = n > limit;
    for (int i = 0; i < n && i < limit; i++) {
        json_t *o = order_render(db, ids[i]);
        if (o)
            json_array_append_new(data, o);
    }
    db_read_end(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)ids[limit - 1]) : json_null());
    return SHOP_OK;
}

struct transition_job {
    int64_t id;
    enum order_status to;
    const char *note;
    int64_t user_id;
};

static enum shop_err transition_write(struct db *db, void *arg, struct problem *pb)
{
    struct transition_job *j = arg;
    if (order_transition(db, j->id, j->to, j->note, pb) != SHOP_OK)
        return pb->err;
    j->user_id = db_scalar_i64(db, "SELECT user_id FROM orders WHERE id = ?", j->id, 0);
    char topic[40];
    snprintf(topic, sizeof topic, "order.%s", order_status_name(j->to));
    return outbox_emit(db, topic, j->id,
                       json_pack("{s:I, s:I, s:s}", "order_id", (json_int_t)j->id, "user_id",
                                 (json_int_t)j->user_id, "status", order_status_name(j->to)),
                       pb);
}

enum shop_err order_admin_transition(struct shop *shop, int64_t id, const char *to,
                                     const char *note, json_t **out, struct problem *pb)
{
    int s = order_status_parse(to);
    if (s < 0)
        return problem_field(pb, SHOP_INVALID, "status", "is not an order status");
    if (s == ORDER_CANCELLED)
        return problem_field(pb, SHOP_INVALID, "status",
                             "cancel through POST /v1/orders/{id}/cancel, which refunds");
    if (s == ORDER_PAID || s == ORDER_PENDING_PAYMENT)
        return problem_field(pb, SHOP_INVALID, "status", "payment states follow the payment");
    struct transition_job j = {.id = id, .to = (enum order_status)s, .note = note};
    if (store_write(shop->store, transition_write, &j, pb) != SHOP_OK)
        return pb->err;
    struct principal admin = {.role = ROLE_ADMIN};
    return order_get(shop, &admin, id, out, pb);
}

enum shop_err order_events(struct shop *shop, int64_t id, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    bool exists = db_scalar_i64(db, "SELECT count(*) FROM orders WHERE id = ?", id, 0) > 0;
    json_t *data = json_array();
    struct stmt *st = db_prepare(db, "SELECT event_id, topic, recorded_at FROM order_event_log"
                                     " WHERE order_id = ? ORDER BY event_id");
    char ts[RFC3339_LEN];
    if (st) {
        stmt_bind_i64(st, 1, id);
        while (stmt_step(st) == STMT_ROW)
            json_array_append_new(data, json_pack("{s:I, s:s, s:s}", "event_id",
                                                  (json_int_t)stmt_i64(st, 0), "topic",
                                                  stmt_text(st, 1), "recorded_at",
                                                  clock_fmt(stmt_i64(st, 2), ts)));
    }
    db_read_end(db);
    if (!exists && json_array_size(data) == 0) {
        json_decref(data);
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)id);
    }
    *out = json_pack("{s:o, s:n}", "data", data, "next_cursor");
    return SHOP_OK;
}
