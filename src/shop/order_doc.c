/* order_doc.c — the order document (Order in docs/openapi.yaml), written
 * straight into a byte buffer, from the order's rows (order_text) or from
 * values (order_doc_text, shop/order_doc.h): each part is written by one
 * function from a struct, which the rows or the caller fill.
 *
 * Checkout stores this document with the Idempotency-Key on the database
 * writer for every order it places, and the writer is what bounds
 * checkout. Built as a jansson tree it cost a tenth of the writer's time
 * per order — an allocation per value, then a walk to print them — so,
 * like the search answers (search_json.c), it is written by hand. Read
 * back from the rows it took the writer four or five statements an order
 * (3 % of its time on SQLite, round trips on PostgreSQL), so checkout
 * renders it from values. order_render parses this text for callers that
 * want a tree: the shape is defined here only.
 *
 * Strings are escaped per RFC 8259 (buf_json_string). A line's options are
 * stored as the JSON object they were when the order was placed (copied
 * from the variant, which the catalog validates) and are copied through.
 */
#include <stdlib.h>
#include <string.h>

#include "shop/order.h"
#include "shop/order_doc.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"

/* Far above an order of 100 lines with long titles and many refunds. */
#define ORDER_DOC_MAX (4u * 1024 * 1024)

/* ---- values ------------------------------------------------------------- */

/* The text being written; `full` once an append was refused (the text
 * would have a hole, so it is thrown away). */
struct doc {
    struct buf b;
    bool full;
};

static void put(struct doc *d, const char *s, size_t n)
{
    d->full |= !buf_append(&d->b, s, n);
}

static void raw(struct doc *d, const char *s)
{
    put(d, s, strlen(s));
}

/* A JSON string, or null for NULL. */
static void str(struct doc *d, const char *s)
{
    if (s)
        d->full |= !buf_json_string(&d->b, s);
    else
        raw(d, "null");
}

static void num(struct doc *d, int64_t v)
{
    d->full |= !buf_json_int(&d->b, v);
}

/* `,"key":` — or `{"key":` for the first member of an object. */
static void key(struct doc *d, bool first, const char *k)
{
    raw(d, first ? "{\"" : ",\"");
    raw(d, k);
    raw(d, "\":");
}

/* A millisecond time as RFC 3339, or null when 0 (never happened). */
static void time_ms(struct doc *d, int64_t ms)
{
    char ts[RFC3339_LEN + 2];
    if (!ms) {
        raw(d, "null");
        return;
    }
    ts[0] = '"';
    size_t n = strlen(clock_fmt(ms, ts + 1));
    ts[n + 1] = '"';
    put(d, ts, n + 2);
}

/* A stored JSON object, copied through ({} if it is not one). */
static void object(struct doc *d, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}')
        put(d, s, n);
    else
        raw(d, "{}");
}

/* Column `c` as text, NULL when it is NULL. */
static const char *col_text(struct stmt *st, int c)
{
    return stmt_is_null(st, c) ? NULL : stmt_text(st, c);
}

/* ---- the parts, from values ------------------------------------------------ */

/* Everything before the lines, without the closing brace. */
static void put_head(struct doc *d, const struct order_doc *o)
{
    key(d, true, "id");
    num(d, o->id);
    key(d, false, "user_id");
    num(d, o->user_id);
    key(d, false, "status");
    str(d, o->status);
    key(d, false, "refund_status");
    str(d, o->refund_status);
    key(d, false, "currency");
    str(d, o->currency);
    static const char *const money[] = {"subtotal_cents", "discount_cents", "shipping_cents",
                                        "tax_cents",      "total_cents",    "refunded_cents"};
    const int64_t amounts[] = {o->subtotal_cents, o->discount_cents, o->shipping_cents,
                               o->tax_cents,      o->total_cents,    o->refunded_cents};
    for (int k = 0; k < 6; k++) {
        key(d, false, money[k]);
        num(d, amounts[k]);
    }
    key(d, false, "shipping_method");
    str(d, o->shipping_method);
    const struct address *a = &o->ship;
    static const char *const address[] = {"name",   "line1",       "line2",   "city",
                                          "region", "postal_code", "country", "phone"};
    const char *const fields[] = {a->name,   a->line1,       a->line2,   a->city,
                                  a->region, a->postal_code, a->country, a->phone};
    raw(d, ",\"shipping_address\":");
    for (int k = 0; k < 8; k++) {
        key(d, k == 0, address[k]);
        str(d, fields[k]);
    }
    raw(d, "}");
    key(d, false, "cancel_reason");
    str(d, o->cancel_reason);
    static const char *const times[] = {"created_at", "updated_at", "paid_at", "cancelled_at"};
    const int64_t at[] = {o->created_at, o->updated_at, o->paid_at, o->cancelled_at};
    for (int k = 0; k < 4; k++) {
        key(d, false, times[k]);
        time_ms(d, at[k]);
    }
}

/* An array member's opening: `,"name":[`. */
static void open_array(struct doc *d, const char *name)
{
    raw(d, ",\"");
    raw(d, name);
    raw(d, "\":[");
}

static void put_line(struct doc *d, int i, const struct order_doc_line *l)
{
    if (i)
        raw(d, ",");
    key(d, true, "id");
    num(d, l->id);
    key(d, false, "product_id");
    num(d, l->product_id);
    key(d, false, "variant_id");
    num(d, l->variant_id);
    key(d, false, "sku");
    str(d, l->sku);
    key(d, false, "title");
    str(d, l->title);
    key(d, false, "options");
    object(d, l->options);
    key(d, false, "quantity");
    num(d, l->quantity);
    key(d, false, "unit_price_cents");
    num(d, l->unit_price_cents);
    key(d, false, "line_total_cents");
    num(d, l->quantity * l->unit_price_cents);
    key(d, false, "discount_cents");
    num(d, l->discount_cents);
    key(d, false, "tax_cents");
    num(d, l->tax_cents);
    key(d, false, "status");
    str(d, l->status);
    key(d, false, "shipped_quantity");
    num(d, l->shipped);
    key(d, false, "backordered");
    num(d, l->backordered);
    key(d, false, "undelivered_quantity");
    num(d, l->undelivered);
    key(d, false, "returned_quantity");
    num(d, l->returned);
    raw(d, "}");
}

static void put_promotion(struct doc *d, int i, const struct order_doc_promotion *p)
{
    if (i)
        raw(d, ",");
    key(d, true, "id");
    num(d, p->id);
    key(d, false, "name");
    str(d, p->name);
    key(d, false, "code");
    str(d, p->code);
    key(d, false, "type");
    str(d, p->type);
    key(d, false, "discount_cents");
    num(d, p->discount_cents);
    key(d, false, "shipping_discount_cents");
    num(d, p->shipping_discount_cents);
    raw(d, "}");
}

static void put_payment(struct doc *d, int i, const struct order_doc_payment *p)
{
    if (i)
        raw(d, ",");
    key(d, true, "id");
    num(d, p->id);
    key(d, false, "tender");
    str(d, p->tender);
    key(d, false, "amount_cents");
    num(d, p->amount_cents);
    key(d, false, "status");
    str(d, p->status);
    key(d, false, "refunded_cents");
    num(d, p->refunded_cents);
    key(d, false, "created_at");
    time_ms(d, p->created_at);
    if (p->method_id) { /* a card */
        key(d, false, "payment_method_id");
        num(d, p->method_id);
        key(d, false, "brand");
        str(d, p->brand);
        key(d, false, "last4");
        str(d, p->last4);
    }
    if (p->failure_code) {
        key(d, false, "failure_code");
        str(d, p->failure_code);
    }
    raw(d, "}");
}

static void put_event(struct doc *d, int i, const struct order_doc_event *e)
{
    if (i)
        raw(d, ",");
    key(d, true, "status");
    str(d, e->status);
    key(d, false, "note");
    str(d, e->note);
    key(d, false, "at");
    time_ms(d, e->at);
    raw(d, "}");
}

static char *finish(struct doc *d, bool ok, size_t *len)
{
    if (!ok || d->full) {
        buf_free(&d->b);
        return NULL;
    }
    return buf_steal(&d->b, len);
}

char *order_doc_text(const struct order_doc *o, size_t *len)
{
    struct doc d = {.full = false};
    buf_init(&d.b, ORDER_DOC_MAX);
    put_head(&d, o);
    open_array(&d, "lines");
    for (int i = 0; i < o->nlines; i++)
        put_line(&d, i, &o->lines[i]);
    raw(&d, "]");
    open_array(&d, "promotions");
    for (int i = 0; i < o->npromotions; i++)
        put_promotion(&d, i, &o->promotions[i]);
    raw(&d, "]");
    open_array(&d, "payments");
    for (int i = 0; i < o->npayments; i++)
        put_payment(&d, i, &o->payments[i]);
    raw(&d, "],\"refunds\":[],\"shipments\":[]");
    open_array(&d, "history");
    for (int i = 0; i < o->nhistory; i++)
        put_event(&d, i, &o->history[i]);
    raw(&d, "]}");
    return finish(&d, true, len);
}

/* ---- the parts, from rows --------------------------------------------------- */

static bool lines(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st =
        db_prepare(db, "SELECT id, product_id, variant_id, sku, title, options,"
                       " quantity, unit_price_cents, tax_cents, status, shipped_qty, backordered,"
                       " undelivered_qty, returned_qty, discount_cents FROM order_lines"
                       " WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    open_array(d, "lines");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++)
        put_line(d, i,
                 &(struct order_doc_line){.id = stmt_i64(st, 0),
                                          .product_id = stmt_i64(st, 1),
                                          .variant_id = stmt_i64(st, 2),
                                          .sku = stmt_text(st, 3),
                                          .title = stmt_text(st, 4),
                                          .options = col_text(st, 5),
                                          .quantity = stmt_i64(st, 6),
                                          .unit_price_cents = stmt_i64(st, 7),
                                          .tax_cents = stmt_i64(st, 8),
                                          .status = stmt_text(st, 9),
                                          .shipped = stmt_i64(st, 10),
                                          .backordered = stmt_i64(st, 11),
                                          .undelivered = stmt_i64(st, 12),
                                          .returned = stmt_i64(st, 13),
                                          .discount_cents = stmt_i64(st, 14)});
    raw(d, "]");
    return rc == STMT_DONE;
}

/* A shipment's lines and events (the same shape as shipment_json). */
static bool shipment_parts(struct db *db, struct doc *d, int64_t shipment_id)
{
    struct stmt *st = db_prepare(db, "SELECT order_line_id, variant_id, quantity FROM"
                                     " shipment_lines WHERE shipment_id = ? ORDER BY order_line_id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, shipment_id);
    open_array(d, "lines");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        if (i)
            raw(d, ",");
        key(d, true, "order_line_id");
        num(d, stmt_i64(st, 0));
        key(d, false, "variant_id");
        num(d, stmt_i64(st, 1));
        key(d, false, "quantity");
        num(d, stmt_i64(st, 2));
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    st = db_prepare(db, "SELECT status, at, detail FROM shipment_events WHERE shipment_id = ?"
                        " ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, shipment_id);
    open_array(d, "events");
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        if (i)
            raw(d, ",");
        key(d, true, "status");
        str(d, stmt_text(st, 0));
        key(d, false, "at");
        time_ms(d, stmt_i64(st, 1));
        key(d, false, "detail");
        str(d, col_text(st, 2));
        raw(d, "}");
    }
    raw(d, "]");
    return rc == STMT_DONE;
}

/* Shipment (docs/openapi.yaml); the same shape as shipment_json. */
static bool shipments(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT id, warehouse_id, seller_id, carrier, service,"
                                     " tracking_number, status, attempts, created_at,"
                                     " coalesce(delivered_at, 0) FROM shipments"
                                     " WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    open_array(d, "shipments");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        if (i)
            raw(d, ",");
        key(d, true, "id");
        num(d, stmt_i64(st, 0));
        key(d, false, "order_id");
        num(d, order_id);
        key(d, false, "warehouse_id");
        num(d, stmt_i64(st, 1));
        key(d, false, "seller_id");
        if (stmt_is_null(st, 2))
            raw(d, "null");
        else
            num(d, stmt_i64(st, 2));
        static const char *const texts[] = {"carrier", "service", "tracking_number", "status"};
        for (int k = 0; k < 4; k++) {
            key(d, false, texts[k]);
            str(d, col_text(st, 3 + k));
        }
        key(d, false, "attempts");
        num(d, stmt_i64(st, 7));
        key(d, false, "created_at");
        time_ms(d, stmt_i64(st, 8));
        key(d, false, "delivered_at");
        time_ms(d, stmt_i64(st, 9));
        if (!shipment_parts(db, d, stmt_i64(st, 0)))
            return false;
        raw(d, "}");
    }
    raw(d, "]");
    return rc == STMT_DONE;
}

static bool payments(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT id, tender, coalesce(payment_method_id, 0), brand,"
                                     " last4, amount_cents, status, failure_code, refunded_cents,"
                                     " created_at FROM payments WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    open_array(d, "payments");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++)
        put_payment(d, i,
                    &(struct order_doc_payment){.id = stmt_i64(st, 0),
                                                .tender = stmt_text(st, 1),
                                                .method_id = stmt_i64(st, 2),
                                                .brand = stmt_text(st, 3),
                                                .last4 = stmt_text(st, 4),
                                                .amount_cents = stmt_i64(st, 5),
                                                .status = stmt_text(st, 6),
                                                .failure_code = col_text(st, 7),
                                                .refunded_cents = stmt_i64(st, 8),
                                                .created_at = stmt_i64(st, 9)});
    raw(d, "]");
    return rc == STMT_DONE;
}

static bool allocations(struct db *db, struct doc *d, int64_t refund_id)
{
    struct stmt *st = db_prepare(db, "SELECT payment_id, amount_cents, status FROM"
                                     " refund_allocations WHERE refund_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, refund_id);
    open_array(d, "allocations");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        if (i)
            raw(d, ",");
        key(d, true, "payment_id");
        num(d, stmt_i64(st, 0));
        key(d, false, "amount_cents");
        num(d, stmt_i64(st, 1));
        key(d, false, "status");
        str(d, stmt_text(st, 2));
        raw(d, "}");
    }
    raw(d, "]");
    return rc == STMT_DONE;
}

static bool refunds(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT id, amount_cents, reason, status, created_at"
                                     " FROM refunds WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    open_array(d, "refunds");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        if (i)
            raw(d, ",");
        key(d, true, "id");
        num(d, stmt_i64(st, 0));
        key(d, false, "amount_cents");
        num(d, stmt_i64(st, 1));
        key(d, false, "reason");
        str(d, stmt_text(st, 2));
        key(d, false, "status");
        str(d, stmt_text(st, 3));
        key(d, false, "created_at");
        time_ms(d, stmt_i64(st, 4));
        if (!allocations(db, d, stmt_i64(st, 0)))
            return false;
        raw(d, "}");
    }
    raw(d, "]");
    return rc == STMT_DONE;
}

/* The promotions snapshot (shop/promo.h): what each one gave the order. */
static bool promotions(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT promotion_id, name, code, type, discount_cents,"
                                     " shipping_discount_cents FROM order_promotions"
                                     " WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    open_array(d, "promotions");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++)
        put_promotion(d, i,
                      &(struct order_doc_promotion){.id = stmt_i64(st, 0),
                                                    .name = stmt_text(st, 1),
                                                    .code = col_text(st, 2),
                                                    .type = stmt_text(st, 3),
                                                    .discount_cents = stmt_i64(st, 4),
                                                    .shipping_discount_cents = stmt_i64(st, 5)});
    raw(d, "]");
    return rc == STMT_DONE;
}

static bool history(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT status, note, at FROM order_history"
                                     " WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    open_array(d, "history");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++)
        put_event(d, i,
                  &(struct order_doc_event){
                      .status = stmt_text(st, 0), .note = col_text(st, 1), .at = stmt_i64(st, 2)});
    raw(d, "]");
    return rc == STMT_DONE;
}

/* ---- the document, from rows -------------------------------------------------- */

char *order_text(struct db *db, int64_t order_id, size_t *len)
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
    /* The row's text stays valid while the other parts are read: they are
     * other statements. */
    struct order_doc o = {.id = order_id,
                          .user_id = stmt_i64(st, 0),
                          .status = stmt_text(st, 1),
                          .refund_status = stmt_text(st, 2),
                          .currency = col_text(st, 3),
                          .subtotal_cents = stmt_i64(st, 4),
                          .discount_cents = stmt_i64(st, 5),
                          .shipping_cents = stmt_i64(st, 6),
                          .tax_cents = stmt_i64(st, 7),
                          .total_cents = stmt_i64(st, 8),
                          .refunded_cents = stmt_i64(st, 9),
                          .shipping_method = col_text(st, 10),
                          .ship = {.name = col_text(st, 11),
                                   .line1 = col_text(st, 12),
                                   .line2 = col_text(st, 13),
                                   .city = col_text(st, 14),
                                   .region = col_text(st, 15),
                                   .postal_code = col_text(st, 16),
                                   .country = col_text(st, 17),
                                   .phone = col_text(st, 18)},
                          .cancel_reason = col_text(st, 19),
                          .created_at = stmt_i64(st, 20),
                          .updated_at = stmt_i64(st, 21),
                          .paid_at = stmt_i64(st, 22),
                          .cancelled_at = stmt_i64(st, 23)};
    struct doc d = {.full = false};
    buf_init(&d.b, ORDER_DOC_MAX);
    put_head(&d, &o);
    /* An order has shipments only once it left paid (checkout writes this
     * document for every order: no statement for what cannot be there). */
    bool shipping = strcmp(o.status, "pending_payment") && strcmp(o.status, "paid");
    /* Nor refunds while refund_status is none: refund_record sets it in the
     * transaction that inserts the order's first refund. */
    bool refunded = strcmp(o.refund_status, "none") != 0;
    /* Nor promotions for an order that got no discount. */
    bool ok =
        lines(db, &d, order_id) &&
        (o.discount_cents ? promotions(db, &d, order_id) : (raw(&d, ",\"promotions\":[]"), true)) &&
        payments(db, &d, order_id) &&
        (refunded ? refunds(db, &d, order_id) : (raw(&d, ",\"refunds\":[]"), true));
    if (shipping)
        ok = ok && shipments(db, &d, order_id);
    else
        raw(&d, ",\"shipments\":[]");
    ok = ok && history(db, &d, order_id);
    raw(&d, "}");
    return finish(&d, ok, len);
}

json_t *order_render(struct db *db, int64_t order_id)
{
    size_t len;
    char *text = order_text(db, order_id, &len);
    json_t *o = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return o;
}
