/* order_queue.c — orders to work on: an admin's (every order, by status,
 * oldest first) and a seller's (each order holding their products, with
 * only their own lines and shipments: no buyer email, no payments, and the
 * shipping address only once the order is paid). OPS-1. */
#include <stdlib.h>
#include <string.h>

#include "shop/order.h"
#include "shop/shipment.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"

#define QUEUE_PAGE_MAX 100

static enum shop_err parse_cursor(const char *cursor, int64_t *after, struct problem *pb)
{
    *after = 0;
    if (!cursor)
        return SHOP_OK;
    char *end;
    long long v = strtoll(cursor, &end, 10);
    if (!*cursor || *end || v <= 0)
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    *after = v;
    return SHOP_OK;
}

static enum shop_err check_status(const char *status, struct problem *pb)
{
    if (status && order_status_parse(status) < 0)
        return problem_field(pb, SHOP_INVALID, "status", "is not an order status");
    return SHOP_OK;
}

/* Reads up to limit + 1 ids with `st` (bound by the caller); renders them.
 * NULL when a read failed (no statement, a failed step, an order read just
 * now that did not render): a short page would pass for the whole queue. */
static json_t *page(struct stmt *st, int limit, json_t *(*render)(struct db *, int64_t, void *),
                    struct db *db, void *cls)
{
    int64_t ids[QUEUE_PAGE_MAX + 1];
    int n = 0, rc = STMT_ERROR;
    while (st && n <= limit && (rc = stmt_step(st)) == STMT_ROW)
        ids[n++] = stmt_i64(st, 0);
    if (rc != STMT_DONE && rc != STMT_ROW) /* STMT_ROW: stopped at limit + 1 */
        return NULL;
    json_t *data = json_array();
    for (int i = 0; i < n && i < limit; i++) {
        json_t *o = render(db, ids[i], cls);
        if (!o) {
            json_decref(data);
            return NULL;
        }
        json_array_append_new(data, o);
    }
    return json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     n > limit ? json_sprintf("%lld", (long long)ids[limit - 1]) : json_null());
}

static json_t *whole_order(struct db *db, int64_t id, void *cls)
{
    (void)cls;
    return order_render(db, id);
}

enum shop_err order_queue_admin(struct shop *shop, const char *status, int limit,
                                const char *cursor, json_t **out, struct problem *pb)
{
    int64_t after;
    if (check_status(status, pb) || parse_cursor(cursor, &after, pb))
        return pb->err;
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    struct stmt *st =
        status ? db_prepare(db, "SELECT id FROM orders WHERE status = ? AND id > ?"
                                " ORDER BY status, id LIMIT ?")
               : db_prepare(db, "SELECT id FROM orders WHERE id > ? ORDER BY id LIMIT ?");
    if (st) {
        int k = 1;
        if (status)
            stmt_bind_text(st, k++, status);
        stmt_bind_i64(st, k++, after);
        stmt_bind_i64(st, k, limit + 1);
    }
    *out = page(st, limit, whole_order, db, NULL);
    if (!*out)
        db_fail(db, pb, "listing the orders");
    db_read_end(db);
    return *out ? SHOP_OK : pb->err;
}

/* A seller's view of one order. */
static json_t *seller_order(struct db *db, int64_t id, void *cls)
{
    int64_t seller = *(const int64_t *)cls;
    struct stmt *st = db_prepare(
        db, "SELECT status, currency, created_at, coalesce(paid_at, 0), ship_name, ship_line1,"
            " ship_line2, ship_city, ship_region, ship_postal, ship_country, ship_phone,"
            " shipping_method FROM orders WHERE id = ?");
    if (!st)
        return NULL;
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return NULL;
    char ts[RFC3339_LEN];
    const char *status = stmt_text(st, 0);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "status", status,
                          "currency", stmt_text(st, 1), "created_at",
                          clock_fmt(stmt_i64(st, 2), ts), "shipping_method", stmt_text(st, 12));
    /* Paid once: not while pending payment, nor while held for fraud
     * review (authorized only), nor after a reject that never captured. */
    bool paid = stmt_i64(st, 3) != 0;
    if (paid) {
        static const char *const keys[] = {"name",   "line1",       "line2",   "city",
                                           "region", "postal_code", "country", "phone"};
        json_t *ad = json_object();
        for (int k = 0; k < 8; k++)
            json_object_set_new(ad, keys[k],
                                stmt_is_null(st, 4 + k) ? json_null()
                                                        : json_string(stmt_text(st, 4 + k)));
        json_object_set_new(o, "shipping_address", ad);
    }
    json_t *lines = json_array();
    st = db_prepare(db, "SELECT l.id, l.product_id, l.variant_id, l.sku, l.title, l.quantity,"
                        " l.unit_price_cents, l.tax_cents, l.status, l.shipped_qty, l.backordered"
                        " FROM order_lines l JOIN products p ON p.id = l.product_id"
                        " WHERE l.order_id = ? AND p.seller_id = ? ORDER BY l.id");
    int rc = STMT_ERROR;
    if (st) {
        stmt_bind_i64(st, 1, id);
        stmt_bind_i64(st, 2, seller);
        while ((rc = stmt_step(st)) == STMT_ROW)
            json_array_append_new(
                lines, json_pack("{s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I}", "id",
                                 (json_int_t)stmt_i64(st, 0), "product_id",
                                 (json_int_t)stmt_i64(st, 1), "variant_id",
                                 (json_int_t)stmt_i64(st, 2), "sku", stmt_text(st, 3), "title",
                                 stmt_text(st, 4), "quantity", (json_int_t)stmt_i64(st, 5),
                                 "unit_price_cents", (json_int_t)stmt_i64(st, 6), "tax_cents",
                                 (json_int_t)stmt_i64(st, 7), "status", stmt_text(st, 8),
                                 "shipped_quantity", (json_int_t)stmt_i64(st, 9), "backordered",
                                 (json_int_t)stmt_i64(st, 10)));
    }
    json_object_set_new(o, "lines", lines);
    if (rc != STMT_DONE) {
        json_decref(o);
        return NULL;
    }
    /* Shipments that carry any of the seller's lines, with only those
     * lines: an admin's fulfil packs every seller's lines from one
     * warehouse into one parcel, and the others' are not this seller's to
     * see. */
    struct arena *a = arena_new();
    struct shipment *list;
    int n = shipment_list(db, id, 0, a, &list);
    json_t *ships = json_array();
    for (int i = 0; i < n; i++) {
        int kept = 0;
        for (int k = 0; k < list[i].nlines; k++) {
            bool mine = false;
            for (size_t m = 0; !mine && m < json_array_size(lines); m++)
                mine = json_integer_value(json_object_get(json_array_get(lines, m), "id")) ==
                       list[i].lines[k].order_line_id;
            if (mine)
                list[i].lines[kept++] = list[i].lines[k];
        }
        list[i].nlines = kept;
        if (kept > 0 || list[i].seller_id == seller)
            json_array_append_new(ships, shipment_json(&list[i]));
    }
    arena_free(a);
    json_object_set_new(o, "shipments", ships);
    return o;
}

enum shop_err order_queue_seller(struct shop *shop, int64_t seller_id, const char *status,
                                 int limit, const char *cursor, json_t **out, struct problem *pb)
{
    int64_t after;
    if (check_status(status, pb) || parse_cursor(cursor, &after, pb))
        return pb->err;
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    /* The seller's orders by their lines (order_lines_seller: a line keeps
     * its product's seller), then filtered by status. */
    struct stmt *st = db_prepare(
        db, "SELECT DISTINCT l.order_id FROM order_lines l JOIN orders o ON o.id = l.order_id"
            " WHERE l.seller_id = ?1 AND l.order_id > ?2 AND (?3 = '' OR o.status = ?3)"
            " ORDER BY l.order_id LIMIT ?4");
    if (st) {
        stmt_bind_i64(st, 1, seller_id);
        stmt_bind_i64(st, 2, after);
        stmt_bind_text(st, 3, status ? status : "");
        stmt_bind_i64(st, 4, limit + 1);
    }
    *out = page(st, limit, seller_order, db, &seller_id);
    if (!*out)
        db_fail(db, pb, "listing the orders");
    db_read_end(db);
    return *out ? SHOP_OK : pb->err;
}
