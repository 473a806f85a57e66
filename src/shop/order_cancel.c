/* order_cancel.c — cancelling orders or lines before they ship, and the
 * refunds that follow (ORD-3, ORD-6). The allocation rule and refund states
 * are described in order.h.
 *
 * One write transaction marks the lines cancelled, returns their units to
 * the warehouses they came from, records the refund and its allocations
 * (store credit is credited at once; card allocations are "pending"), and
 * cancels the order when no open line is left. Card allocations are then
 * sent to the gateway after commit, each with its own idempotency key; a
 * failure leaves them pending for order_refunds_retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/changes.h"
#include "shop/fraud.h"
#include "shop/order.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/promo.h"
#include "shop/refund.h"
#include "shop/reservation.h"
#include "shop/shipment.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

#define CANCEL_LINES_MAX 100

struct cancel_job {
    const struct principal *who;
    int64_t order_id, now;
    int64_t line_ids[CANCEL_LINES_MAX];
    int nline_ids;     /* 0: every open line */
    int64_t refund_id; /* out */
};

static enum shop_err cancel_write(struct db *db, void *arg, struct problem *pb)
{
    struct cancel_job *j = arg;
    j->refund_id = 0;
    struct stmt *st = db_prepare(db, "SELECT user_id, status, currency, total_cents, refunded_cents"
                                     " FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, j->order_id);
    if (stmt_step(st) != STMT_ROW ||
        (stmt_i64(st, 0) != j->who->user_id && j->who->role != ROLE_ADMIN))
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)j->order_id);
    int64_t user = stmt_i64(st, 0), total = stmt_i64(st, 3), refunded = stmt_i64(st, 4);
    int status = order_status_parse(stmt_text(st, 1));
    char currency[4];
    snprintf(currency, sizeof currency, "%s", stmt_text(st, 2));
    if (status != ORDER_PAID && status != ORDER_FULFILLING && status != ORDER_PARTIALLY_SHIPPED)
        return problem_set(pb, SHOP_CONFLICT, "an order that is %s cannot be cancelled",
                           order_status_name((enum order_status)(status < 0 ? 0 : status)));

    /* Which lines: every open one that has not shipped, or the ones named
     * (each must be open and unshipped). A line with any unit in a shipment
     * is past cancelling; the rest of the order is not. */
    struct cancel_line {
        int64_t id, variant_id, quantity, amount, taken;
    } lines[CANCEL_LINES_MAX];
    int n = 0, live = 0;
    st = db_prepare(db, "SELECT id, variant_id, quantity, unit_price_cents, status, shipped_qty,"
                        " backordered, discount_cents, tax_cents"
                        " FROM order_lines WHERE order_id = ? ORDER BY id");
    if (!st)
        return db_fail(db, pb, "reading the order lines");
    stmt_bind_i64(st, 1, j->order_id);
    bool named[CANCEL_LINES_MAX] = {false};
    while (stmt_step(st) == STMT_ROW) {
        int64_t id = stmt_i64(st, 0), shipped = stmt_i64(st, 5);
        bool open = !strcmp(stmt_text(st, 4), "open"), cancellable = open && shipped == 0;
        live += strcmp(stmt_text(st, 4), "cancelled") != 0;
        int k = -1;
        for (int i = 0; i < j->nline_ids; i++)
            if (j->line_ids[i] == id)
                k = i;
        if (k >= 0) {
            named[k] = true;
            if (!cancellable)
                return problem_field(pb, SHOP_CONFLICT, "line_ids", "line %lld is %s",
                                     (long long)id, open ? "partly shipped" : stmt_text(st, 4));
        }
        /* Nothing of an unshipped line was refunded: all its units, by the
         * one rule for refunding units (refund.h). */
        int64_t quantity = stmt_i64(st, 2);
        if (cancellable && (j->nline_ids == 0 || k >= 0) && n < CANCEL_LINES_MAX)
            lines[n++] =
                (struct cancel_line){id, stmt_i64(st, 1), quantity,
                                     refund_line_share(stmt_i64(st, 3), quantity, stmt_i64(st, 7),
                                                       stmt_i64(st, 8), 0, quantity),
                                     quantity - stmt_i64(st, 6)};
    }
    for (int i = 0; i < j->nline_ids; i++)
        if (!named[i]) {
            char f[32];
            snprintf(f, sizeof f, "line_ids[%d]", i);
            return problem_field(pb, SHOP_INVALID, f, "line %lld is not part of this order",
                                 (long long)j->line_ids[i]);
        }
    if (n == 0)
        return problem_set(pb, SHOP_CONFLICT, "no line is left that can be cancelled");
    bool whole = n == live;

    int64_t amount = 0;
    for (int i = 0; i < n; i++) {
        amount += lines[i].amount;
        st =
            db_prepare(db, "UPDATE order_lines SET status = 'cancelled', cancelled_at = ?,"
                           " backordered = 0 WHERE id = ? AND status = 'open' AND shipped_qty = 0");
        if (!st)
            return db_fail(db, pb, "cancelling a line");
        stmt_bind_i64(st, 1, j->now);
        stmt_bind_i64(st, 2, lines[i].id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "cancelling a line");
        if (db_expect_changes(db, 1, pb, SHOP_CONFLICT, "the order changed meanwhile") != SHOP_OK)
            return pb->err;
        /* Units taken from stock go back; backordered ones were never taken. */
        if (lines[i].taken > 0 &&
            reservation_restock(db, j->order_id, lines[i].variant_id, lines[i].taken,
                                j->who->user_id, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE products SET sales_count = CASE WHEN sales_count > ?1 THEN"
                            " sales_count - ?1 ELSE 0 END WHERE id ="
                            " (SELECT product_id FROM variants WHERE id = ?)");
        if (!st)
            return db_fail(db, pb, "counting sales");
        stmt_bind_i64(st, 1, lines[i].quantity);
        stmt_bind_i64(st, 2, lines[i].variant_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "counting sales");
    }
    /* The last lines take the rest, shipping included, so the cents add up. */
    if (whole)
        amount = total - refunded;

    const char *by = j->who->role == ROLE_ADMIN && j->who->user_id != user
                         ? "cancelled_by_admin"
                         : "cancelled_by_customer";
    if (whole) {
        if (order_transition(db, j->order_id, ORDER_CANCELLED, by, NULL, pb) != SHOP_OK ||
            promo_release(db, j->order_id, pb) != SHOP_OK) /* its promotion uses go back */
            return pb->err;
        st = db_prepare(db, "UPDATE orders SET cancel_reason = ? WHERE id = ?");
        stmt_bind_text(st, 1, by);
        stmt_bind_i64(st, 2, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "cancelling the order");
    } else if (order_status_sync(db, j->order_id, pb) != SHOP_OK) {
        return pb->err; /* what is left may all have shipped */
    }
    enum shop_err e =
        outbox_emit(db, "order.cancelled", j->order_id,
                    json_pack("{s:I, s:I, s:b, s:I, s:s}", "order_id", (json_int_t)j->order_id,
                              "user_id", (json_int_t)user, "whole", whole, "refund_cents",
                              (json_int_t)amount, "currency", currency),
                    pb);
    if (e != SHOP_OK || amount <= 0)
        return e;
    /* The refund is for the lines cancelled, each what it was paid. */
    struct refund_line rl[CANCEL_LINES_MAX];
    for (int i = 0; i < n; i++)
        rl[i] = (struct refund_line){lines[i].id, lines[i].amount};
    struct refund_in r = {.order_id = j->order_id,
                          .user_id = user,
                          .amount = amount,
                          .lines = rl,
                          .nlines = n,
                          .currency = currency,
                          .reason = "cancellation",
                          .now = j->now};
    return refund_record(db, &r, &j->refund_id, pb);
}

/* True when order `id` is on hold and the caller's to cancel: the fraud
 * review settles it (fraud.h, "withdrawn"); everything else is cancel_write's
 * (which answers 404 for an order that is not the caller's). */
static bool held_for(struct shop *shop, const struct principal *who, int64_t id)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT user_id, status FROM orders WHERE id = ?");
    bool held = false;
    if (st) {
        stmt_bind_i64(st, 1, id);
        held = stmt_step(st) == STMT_ROW && !strcmp(stmt_text(st, 1), "on_hold") &&
               (stmt_i64(st, 0) == who->user_id || who->role == ROLE_ADMIN);
    }
    db_release(db);
    return held;
}

enum shop_err order_cancel(struct shop *shop, const struct principal *who, int64_t id,
                           json_t *line_ids, json_t **out, struct problem *pb)
{
    if (held_for(shop, who, id)) {
        /* Authorized, not captured: the authorization is voided, the stock
         * released, whole (an order on hold has not been split). */
        if (line_ids)
            return problem_field(pb, SHOP_CONFLICT, "line_ids",
                                 "an order on hold is cancelled whole: send no line_ids");
        if (fraud_withdraw(shop, id, pb) != SHOP_OK)
            return pb->err;
        return order_get(shop, who, id, out, pb);
    }
    struct cancel_job j = {.who = who, .order_id = id, .now = clock_now_ms()};
    if (line_ids) {
        if (!json_is_array(line_ids) || json_array_size(line_ids) == 0 ||
            json_array_size(line_ids) > CANCEL_LINES_MAX)
            return problem_field(pb, SHOP_INVALID, "line_ids",
                                 "must be a non-empty array of up to %d line ids",
                                 CANCEL_LINES_MAX);
        size_t i;
        json_t *v;
        json_array_foreach(line_ids, i, v)
        {
            char f[32];
            snprintf(f, sizeof f, "line_ids[%zu]", i);
            if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return problem_field(pb, SHOP_INVALID, f, "must be a line id");
            int64_t line = json_integer_value(v);
            for (int k = 0; k < j.nline_ids; k++) /* as returns say it, on the second */
                if (j.line_ids[k] == line)
                    return problem_field(pb, SHOP_INVALID, f, "line %lld is named twice",
                                         (long long)line);
            j.line_ids[j.nline_ids++] = line;
        }
    }
    if (store_write(shop->store, cancel_write, &j, pb) != SHOP_OK)
        return pb->err;
    if (j.refund_id)
        refund_send(shop, j.refund_id);
    struct db *db = store_db(shop->store);
    int64_t products[CANCEL_LINES_MAX];
    int n = order_products(db, id, products, CANCEL_LINES_MAX);
    db_release(db);
    for (int i = 0; i < n; i++)
        shop_product_changed(shop, products[i]);
    return order_get(shop, who, id, out, pb);
}

enum shop_err order_refunds_retry(struct shop *shop, int *sent, struct problem *pb)
{
    (void)pb;
    int k = refund_send(shop, 0);
    if (sent)
        *sent = k;
    return SHOP_OK;
}
