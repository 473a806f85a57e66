/* order_doc.c — the order document (Order in docs/openapi.yaml), written
 * straight into a byte buffer from the order's rows.
 *
 * Checkout writes this document on the database writer for every order it
 * places (there its pages are in cache; a reader's cache is cold after each
 * commit), and the writer is what bounds checkout. Built as a jansson tree
 * it cost a tenth of the writer's time per order — an allocation per value,
 * then a walk to print them — so, like the search answers (search_json.c),
 * it is written by hand. order_render parses this text for callers that
 * want a tree: the shape is defined here only.
 *
 * Strings are escaped per RFC 8259 (buf_json_string). A line's options are
 * stored as the JSON object they were when the order was placed (copied
 * from the variant, which the catalog validates) and are copied through.
 */
#include <stdlib.h>
#include <string.h>

#include "shop/order.h"
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

static void str(struct doc *d, const char *s)
{
    d->full |= !buf_json_string(&d->b, s ? s : "");
}

static void num(struct doc *d, int64_t v)
{
    d->full |= !buf_json_int(&d->b, v);
}

/* Column `c` as a JSON string, or null when it is NULL. */
static void col_str(struct doc *d, struct stmt *st, int c)
{
    if (stmt_is_null(st, c))
        raw(d, "null");
    else
        str(d, stmt_text(st, c));
}

static void col_int(struct doc *d, struct stmt *st, int c)
{
    num(d, stmt_i64(st, c));
}

/* A millisecond time as RFC 3339, or null when 0 (never happened). */
static void col_time(struct doc *d, struct stmt *st, int c)
{
    int64_t ms = stmt_i64(st, c);
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
static void col_object(struct doc *d, struct stmt *st, int c)
{
    const char *s = stmt_is_null(st, c) ? "" : stmt_text(st, c);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}')
        put(d, s, n);
    else
        raw(d, "{}");
}

/* ---- the parts ---------------------------------------------------------- */

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
    raw(d, ",\"lines\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"id\":" : "{\"id\":");
        col_int(d, st, 0);
        raw(d, ",\"product_id\":");
        col_int(d, st, 1);
        raw(d, ",\"variant_id\":");
        col_int(d, st, 2);
        raw(d, ",\"sku\":");
        str(d, stmt_text(st, 3));
        raw(d, ",\"title\":");
        str(d, stmt_text(st, 4));
        raw(d, ",\"options\":");
        col_object(d, st, 5);
        raw(d, ",\"quantity\":");
        col_int(d, st, 6);
        raw(d, ",\"unit_price_cents\":");
        col_int(d, st, 7);
        raw(d, ",\"line_total_cents\":");
        num(d, stmt_i64(st, 6) * stmt_i64(st, 7));
        raw(d, ",\"discount_cents\":");
        col_int(d, st, 14);
        raw(d, ",\"tax_cents\":");
        col_int(d, st, 8);
        raw(d, ",\"status\":");
        str(d, stmt_text(st, 9));
        static const char *const units[] = {"shipped_quantity", "backordered",
                                            "undelivered_quantity", "returned_quantity"};
        for (int k = 0; k < 4; k++) {
            raw(d, ",\"");
            raw(d, units[k]);
            raw(d, "\":");
            col_int(d, st, 10 + k);
        }
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
}

static bool shipment_parts(struct db *db, struct doc *d, int64_t shipment_id)
{
    struct stmt *st = db_prepare(db, "SELECT order_line_id, variant_id, quantity FROM"
                                     " shipment_lines WHERE shipment_id = ? ORDER BY order_line_id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, shipment_id);
    raw(d, ",\"lines\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"order_line_id\":" : "{\"order_line_id\":");
        col_int(d, st, 0);
        raw(d, ",\"variant_id\":");
        col_int(d, st, 1);
        raw(d, ",\"quantity\":");
        col_int(d, st, 2);
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    st = db_prepare(db, "SELECT status, at, detail FROM shipment_events WHERE shipment_id = ?"
                        " ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, shipment_id);
    raw(d, "],\"events\":[");
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"status\":" : "{\"status\":");
        str(d, stmt_text(st, 0));
        raw(d, ",\"at\":");
        col_time(d, st, 1);
        raw(d, ",\"detail\":");
        col_str(d, st, 2);
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
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
    raw(d, ",\"shipments\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"id\":" : "{\"id\":");
        col_int(d, st, 0);
        raw(d, ",\"order_id\":");
        num(d, order_id);
        raw(d, ",\"warehouse_id\":");
        col_int(d, st, 1);
        raw(d, ",\"seller_id\":");
        if (stmt_is_null(st, 2))
            raw(d, "null");
        else
            col_int(d, st, 2);
        raw(d, ",\"carrier\":");
        col_str(d, st, 3);
        raw(d, ",\"service\":");
        col_str(d, st, 4);
        raw(d, ",\"tracking_number\":");
        col_str(d, st, 5);
        raw(d, ",\"status\":");
        col_str(d, st, 6);
        raw(d, ",\"attempts\":");
        col_int(d, st, 7);
        raw(d, ",\"created_at\":");
        col_time(d, st, 8);
        raw(d, ",\"delivered_at\":");
        col_time(d, st, 9);
        if (!shipment_parts(db, d, stmt_i64(st, 0)))
            return false;
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
}

static bool payments(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT id, tender, payment_method_id, brand, last4,"
                                     " amount_cents, status, failure_code, refunded_cents,"
                                     " created_at FROM payments WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    raw(d, ",\"payments\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"id\":" : "{\"id\":");
        col_int(d, st, 0);
        raw(d, ",\"tender\":");
        str(d, stmt_text(st, 1));
        raw(d, ",\"amount_cents\":");
        col_int(d, st, 5);
        raw(d, ",\"status\":");
        str(d, stmt_text(st, 6));
        raw(d, ",\"refunded_cents\":");
        col_int(d, st, 8);
        raw(d, ",\"created_at\":");
        col_time(d, st, 9);
        if (!stmt_is_null(st, 2)) { /* a card */
            raw(d, ",\"payment_method_id\":");
            col_int(d, st, 2);
            raw(d, ",\"brand\":");
            str(d, stmt_text(st, 3));
            raw(d, ",\"last4\":");
            str(d, stmt_text(st, 4));
        }
        if (!stmt_is_null(st, 7)) {
            raw(d, ",\"failure_code\":");
            col_str(d, st, 7);
        }
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
}

static bool allocations(struct db *db, struct doc *d, int64_t refund_id)
{
    struct stmt *st = db_prepare(db, "SELECT payment_id, amount_cents, status FROM"
                                     " refund_allocations WHERE refund_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, refund_id);
    raw(d, ",\"allocations\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"payment_id\":" : "{\"payment_id\":");
        col_int(d, st, 0);
        raw(d, ",\"amount_cents\":");
        col_int(d, st, 1);
        raw(d, ",\"status\":");
        str(d, stmt_text(st, 2));
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
}

static bool refunds(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT id, amount_cents, reason, status, created_at"
                                     " FROM refunds WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    raw(d, ",\"refunds\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"id\":" : "{\"id\":");
        col_int(d, st, 0);
        raw(d, ",\"amount_cents\":");
        col_int(d, st, 1);
        raw(d, ",\"reason\":");
        str(d, stmt_text(st, 2));
        raw(d, ",\"status\":");
        str(d, stmt_text(st, 3));
        raw(d, ",\"created_at\":");
        col_time(d, st, 4);
        if (!allocations(db, d, stmt_i64(st, 0)))
            return false;
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
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
    raw(d, ",\"promotions\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"id\":" : "{\"id\":");
        col_int(d, st, 0);
        raw(d, ",\"name\":");
        str(d, stmt_text(st, 1));
        raw(d, ",\"code\":");
        col_str(d, st, 2);
        raw(d, ",\"type\":");
        str(d, stmt_text(st, 3));
        raw(d, ",\"discount_cents\":");
        col_int(d, st, 4);
        raw(d, ",\"shipping_discount_cents\":");
        col_int(d, st, 5);
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
}

static bool history(struct db *db, struct doc *d, int64_t order_id)
{
    struct stmt *st = db_prepare(db, "SELECT status, note, at FROM order_history"
                                     " WHERE order_id = ? ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, order_id);
    raw(d, ",\"history\":[");
    int rc;
    for (int i = 0; (rc = stmt_step(st)) == STMT_ROW; i++) {
        raw(d, i ? ",{\"status\":" : "{\"status\":");
        str(d, stmt_text(st, 0));
        raw(d, ",\"note\":");
        col_str(d, st, 1);
        raw(d, ",\"at\":");
        col_time(d, st, 2);
        raw(d, "}");
    }
    if (rc != STMT_DONE)
        return false;
    raw(d, "]");
    return true;
}

/* ---- the document ------------------------------------------------------- */

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
    struct doc d = {.full = false};
    buf_init(&d.b, ORDER_DOC_MAX);
    raw(&d, "{\"id\":");
    num(&d, order_id);
    static const struct {
        const char *key;
        void (*put)(struct doc *, struct stmt *, int);
    } top[] = {
        {"user_id", col_int},        {"status", col_str},          {"refund_status", col_str},
        {"currency", col_str},       {"subtotal_cents", col_int},  {"discount_cents", col_int},
        {"shipping_cents", col_int}, {"tax_cents", col_int},       {"total_cents", col_int},
        {"refunded_cents", col_int}, {"shipping_method", col_str},
    };
    for (int c = 0; c < (int)(sizeof top / sizeof top[0]); c++) {
        raw(&d, ",\"");
        raw(&d, top[c].key);
        raw(&d, "\":");
        top[c].put(&d, st, c);
    }
    static const char *const address[] = {"name",   "line1",       "line2",   "city",
                                          "region", "postal_code", "country", "phone"};
    raw(&d, ",\"shipping_address\":{");
    for (int k = 0; k < 8; k++) {
        raw(&d, k ? ",\"" : "\"");
        raw(&d, address[k]);
        raw(&d, "\":");
        col_str(&d, st, 11 + k);
    }
    raw(&d, "},\"cancel_reason\":");
    col_str(&d, st, 19);
    static const char *const times[] = {"created_at", "updated_at", "paid_at", "cancelled_at"};
    for (int k = 0; k < 4; k++) {
        raw(&d, ",\"");
        raw(&d, times[k]);
        raw(&d, "\":");
        col_time(&d, st, 20 + k);
    }
    /* An order has shipments only once it left paid (checkout writes this
     * document for every order: no statement for what cannot be there). */
    const char *status = stmt_text(st, 1);
    bool shipping = strcmp(status, "pending_payment") && strcmp(status, "paid");
    /* Nor refunds while refund_status is none: refund_record sets it in the
     * transaction that inserts the order's first refund. */
    bool refunded = strcmp(stmt_text(st, 2), "none") != 0;
    /* Nor promotions for an order that got no discount (column 5). */
    bool ok =
        lines(db, &d, order_id) &&
        (stmt_i64(st, 5) ? promotions(db, &d, order_id) : (raw(&d, ",\"promotions\":[]"), true)) &&
        payments(db, &d, order_id) &&
        (refunded ? refunds(db, &d, order_id) : (raw(&d, ",\"refunds\":[]"), true));
    if (shipping)
        ok = ok && shipments(db, &d, order_id);
    else
        raw(&d, ",\"shipments\":[]");
    ok = ok && history(db, &d, order_id);
    raw(&d, "}");
    if (!ok || d.full) {
        buf_free(&d.b);
        return NULL;
    }
    return buf_steal(&d.b, len);
}

json_t *order_render(struct db *db, int64_t order_id)
{
    size_t len;
    char *text = order_text(db, order_id, &len);
    json_t *o = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return o;
}
