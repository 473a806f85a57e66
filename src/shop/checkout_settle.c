/* checkout_settle.c — step 3 of the checkout saga (checkout.c has the
 * essay): complete a paid order, or fail it and give back what step 1 took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/cart.h"
#include "shop/changes.h"
#include "shop/checkout_steps.h"
#include "shop/flashsale.h"
#include "shop/fraud.h"
#include "shop/order.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/promo.h"
#include "shop/reservation.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"

/* ---- step 3: complete or fail --------------------------------------------------- */

/* Finishes the order's idempotency record (by its primary key, which the
 * order remembers) with its answer: the order as the client was given it,
 * or the problem. The first answer stays: an admin's later approve or
 * reject of a held order does not replace it (a replay gives the stored
 * first response, SPEC §0). */
static enum shop_err key_done(struct db *db, const struct order_head *h, int outcome,
                              const char *body, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "UPDATE idempotency_keys SET status = 'done', outcome = ?,"
                                     " response_body = ? WHERE user_id = ? AND key = ?"
                                     " AND status <> 'done'");
    if (!st)
        return db_fail(db, pb, "storing the answer");
    stmt_bind_i64(st, 1, outcome);
    stmt_bind_text(st, 2, body);
    stmt_bind_i64(st, 3, h->user_id);
    stmt_bind_text(st, 4, h->key);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "storing the answer");
}

static int read_bought(struct db *db, int64_t order_id, struct bought_line *out)
{
    struct stmt *st = db_prepare(db, "SELECT product_id, variant_id, quantity FROM order_lines"
                                     " WHERE order_id = ?");
    int n = 0;
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, order_id);
    while (n < CART_LINES_MAX && stmt_step(st) == STMT_ROW)
        out[n++] = (struct bought_line){stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 2)};
    return n;
}

/* Unlocks the cart the order came from (if any), first removing the `n`
 * purchased lines. `cart` is the cart begin locked, when known (0: look it
 * up by the order's key; none is a flash-sale order's, or a cart the buyer
 * has since emptied). Statement by statement: `IN (SELECT …)` would cost a
 * temporary table each time. */
static enum shop_err cart_settle(struct db *db, const struct order_head *h, int64_t cart,
                                 const struct bought_line *lines, int n, struct problem *pb)
{
    struct stmt *st;
    if (!cart) {
        st = db_prepare(db, "SELECT id FROM carts WHERE user_id = ? AND checkout_key = ?");
        if (!st)
            return db_fail(db, pb, "reading the cart");
        stmt_bind_i64(st, 1, h->user_id);
        stmt_bind_text(st, 2, h->key);
        int rc = stmt_step(st);
        if (rc == STMT_DONE)
            return SHOP_OK;
        if (rc != STMT_ROW) /* else the cart would stay locked for good */
            return db_fail(db, pb, "reading the cart");
        cart = stmt_i64(st, 0);
    }
    for (int i = 0; i < n; i++) {
        st = db_prepare(db, "DELETE FROM cart_lines WHERE cart_id = ? AND variant_id = ?"
                            " AND saved_for_later = 0");
        if (!st)
            return db_fail(db, pb, "emptying the cart");
        stmt_bind_i64(st, 1, cart);
        stmt_bind_i64(st, 2, lines[i].variant_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "emptying the cart");
    }
    st = db_prepare(db, "UPDATE carts SET checkout_key = NULL, updated_at = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "unlocking the cart");
    stmt_bind_i64(st, 1, clock_now_ms());
    stmt_bind_i64(st, 2, cart);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "unlocking the cart");
}

/* The placed order's card payment `payment_id` is now `status`. */
static void placed_card(struct placed_order *p, int64_t payment_id, const char *status)
{
    for (int i = 0; i < p->doc.npayments; i++)
        if (p->payments[i].id == payment_id)
            p->payments[i].status = status;
}

/* The order's lines and its move to `to`, from the placed order when the
 * saga's own settle runs (no read: the move is conditional on the order
 * still being pending_payment), else read. The placed order moves with
 * it: its card payment to `card_status`. */
static enum shop_err settle_move(struct db *db, const struct settle_job *j, enum order_status to,
                                 const char *note, const char *card_status, struct order_head *h,
                                 struct bought_line *lines, int *n, struct problem *pb)
{
    struct placed_order *p = j->placed;
    if (!(j->head && p)) {
        *n = read_bought(db, j->order_id, lines);
        if (*n < 0)
            return db_fail(db, pb, "reading the order lines");
        return order_transition(db, j->order_id, to, note, h, pb);
    }
    *h = *j->head;
    *n = p->doc.nlines;
    for (int i = 0; i < *n; i++)
        lines[i] = (struct bought_line){p->lines[i].product_id, p->lines[i].variant_id,
                                        p->lines[i].quantity};
    int64_t at = clock_now_ms();
    if (order_transition_from(db, j->order_id, ORDER_PENDING_PAYMENT, to, note, at, pb) != SHOP_OK)
        return pb->err;
    /* The placed order moves as order_transition_from wrote the rows
     * (ORDER_UPDATE_SQL in order.c). */
    p->doc.status = order_status_name(to);
    p->doc.updated_at = at;
    p->doc.paid_at = to == ORDER_PAID ? at : 0;
    p->history[1] = (struct order_doc_event){.status = p->doc.status, .note = note, .at = at};
    p->doc.nhistory = 2;
    placed_card(p, j->payment_id, card_status);
    return SHOP_OK;
}

/* The order as the key's answer: rendered from the placed order when the
 * saga's own settle runs, else read back (its pages are in the writer's
 * cache; a reader's cache starts cold after each commit). */
static enum shop_err answer(struct db *db, struct placed_order *placed, int64_t order_id,
                            char **text, size_t *len, struct problem *pb)
{
    free(*text); /* a rerun of the batch renders it again */
    *text = placed ? order_doc_text(&placed->doc, len) : order_text(db, order_id, len);
    return *text ? SHOP_OK : db_fail(db, pb, "rendering the order");
}

static enum shop_err order_event(struct db *db, int64_t order_id, const struct order_head *h,
                                 const char *topic, struct problem *pb)
{
    json_t *payload = json_pack("{s:I, s:I, s:I, s:s}", "order_id", (json_int_t)order_id, "user_id",
                                (json_int_t)h->user_id, "total_cents", (json_int_t)h->total_cents,
                                "currency", h->currency);
    return outbox_emit(db, topic, order_id, payload, pb);
}

enum shop_err checkout_complete_write(struct db *db, void *arg, struct problem *pb)
{
    struct settle_job *j = arg;
    free(j->order);
    j->order = NULL;
    if (j->payment_id) {
        struct stmt *st = db_prepare(db, "UPDATE payments SET status = 'captured', gateway_ref = ?,"
                                         " updated_at = ? WHERE id = ? AND (status = 'pending' OR"
                                         " status = 'unknown' OR status = 'authorized')");
        if (!st)
            return db_fail(db, pb, "recording the payment");
        stmt_bind_text(st, 1, j->charge_id);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, j->payment_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the payment");
        if (db_expect_changes(db, 1, pb, SHOP_CONFLICT, "the payment was settled meanwhile") !=
            SHOP_OK)
            return pb->err;
    }
    struct bought_line lines[CART_LINES_MAX];
    int n;
    struct order_head h;
    if (settle_move(db, j, ORDER_PAID, "payment captured", "captured", &h, lines, &n, pb) !=
            SHOP_OK ||
        reservation_consume(db, j->order_id, j->reserved, pb) != SHOP_OK ||
        (h.flash_sale_id && flashsale_order_paid(db, j->order_id, pb) != SHOP_OK) ||
        cart_settle(db, &h, j->cart_id, lines, n, pb) != SHOP_OK)
        return pb->err;
    /* The products' sales counts follow from order.confirmed, folded per
     * product by the "sales" consumer (work/sales_fold.h): counted here,
     * a best-seller's row was one every concurrent order updated. */
    enum shop_err e = answer(db, j->placed, j->order_id, &j->order, &j->order_len, pb);
    if (e != SHOP_OK)
        return e;
    e = key_done(db, &h, SHOP_OK, j->order, pb);
    if (e != SHOP_OK)
        return e;
    return order_event(db, j->order_id, &h, "order.confirmed", pb);
}

/* Gives back what begin took: reservations, promotion uses, store credit,
 * the cart lock. */
static enum shop_err undo_begin(struct db *db, int64_t order_id, const struct order_head *h,
                                struct problem *pb)
{
    if (reservation_release(db, order_id, pb) != SHOP_OK ||
        promo_release(db, order_id, pb) != SHOP_OK) /* promotions: the uses go back */
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT o.user_id, p.amount_cents, p.currency FROM payments p"
                                     " JOIN orders o ON o.id = p.order_id WHERE p.order_id = ?"
                                     " AND p.tender = 'store_credit' AND p.status = 'captured'");
    if (!st)
        return db_fail(db, pb, "returning store credit");
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) == STMT_ROW) {
        int64_t user = stmt_i64(st, 0), amount = stmt_i64(st, 1);
        char currency[4];
        snprintf(currency, sizeof currency, "%s", stmt_text(st, 2));
        if (store_credit_add(db, user, amount, currency, "order_failed", order_id, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE payments SET status = 'voided' WHERE order_id = ? AND"
                            " tender = 'store_credit'");
        if (!st)
            return db_fail(db, pb, "returning store credit");
        stmt_bind_i64(st, 1, order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "returning store credit");
    }
    return cart_settle(db, h, 0, NULL, 0, pb);
}

enum shop_err checkout_fail_write(struct db *db, void *arg, struct problem *pb)
{
    struct settle_job *j = arg;
    free(j->order);
    j->order = NULL;
    struct order_head h;
    if (!order_head_read(db, j->order_id, &h))
        return problem_set(pb, SHOP_CONFLICT, "the order was settled meanwhile");
    if ((h.flash_sale_id && flashsale_order_failed(db, j->order_id, pb) != SHOP_OK) ||
        undo_begin(db, j->order_id, &h, pb) != SHOP_OK)
        return pb->err;
    if (j->cancel_reason) {
        /* The client may already hold this order: keep it, cancelled. */
        /* An authorization (a held order's) is voided; a charge that never
         * went through failed. */
        struct stmt *st = db_prepare(db, "UPDATE payments SET status = CASE WHEN status ="
                                         " 'authorized' THEN 'voided' ELSE 'failed' END,"
                                         " failure_code = ?, updated_at = ? WHERE order_id = ?"
                                         " AND tender = 'card' AND (status = 'pending' OR"
                                         " status = 'unknown' OR status = 'authorized')");
        if (!st)
            return db_fail(db, pb, "recording the payment");
        stmt_bind_text(st, 1, j->code);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the payment");
        if (order_transition(db, j->order_id, ORDER_CANCELLED, j->cancel_reason, &h, pb) !=
            SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE orders SET cancel_reason = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "cancelling the order");
        stmt_bind_text(st, 1, j->cancel_reason);
        stmt_bind_i64(st, 2, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "cancelling the order");
        enum shop_err e = key_done(db, &h, SHOP_OK, NULL, pb);
        if (e != SHOP_OK)
            return e;
        return order_event(db, j->order_id, &h, "order.cancelled", pb);
    }
    /* Nothing is left of the attempt but the key's answer (or not even that),
     * and a decline's record for the fraud rules. */
    struct stmt *st;
    if (j->err == SHOP_PAYMENT &&
        fraud_decline_record(db, h.user_id, j->card_token, j->code, clock_now_ms(), pb) != SHOP_OK)
        return pb->err;
    if (j->forget_key) {
        st = db_prepare(db, "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ?");
        if (!st)
            return db_fail(db, pb, "forgetting the idempotency key");
        stmt_bind_i64(st, 1, h.user_id);
        stmt_bind_text(st, 2, h.key);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "forgetting the idempotency key");
    } else {
        json_t *ans = json_pack("{s:s, s:s?}", "detail", j->detail, "code", j->code);
        char *body = jx_dump(ans, NULL);
        json_decref(ans);
        enum shop_err e = key_done(db, &h, (int)j->err, body, pb);
        free(body);
        if (e != SHOP_OK)
            return e;
    }
    st = db_prepare(db, "DELETE FROM orders WHERE id = ? AND status = 'pending_payment'");
    if (!st)
        return db_fail(db, pb, "removing the order");
    stmt_bind_i64(st, 1, j->order_id);
    if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the order was settled meanwhile");
    return SHOP_OK;
}

enum shop_err checkout_hold_write(struct db *db, void *arg, struct problem *pb)
{
    struct settle_job *j = arg;
    free(j->order);
    j->order = NULL;
    int64_t now = clock_now_ms();
    if (j->payment_id) {
        struct stmt *st =
            db_prepare(db, "UPDATE payments SET status = 'authorized', gateway_ref = ?,"
                           " updated_at = ? WHERE id = ? AND (status = 'pending' OR"
                           " status = 'unknown')");
        if (!st)
            return db_fail(db, pb, "recording the authorization");
        stmt_bind_text(st, 1, j->charge_id);
        stmt_bind_i64(st, 2, now);
        stmt_bind_i64(st, 3, j->payment_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the authorization");
        if (db_changes(db) != 1)
            return problem_set(pb, SHOP_CONFLICT, "the payment was settled meanwhile");
    }
    struct bought_line lines[CART_LINES_MAX];
    int n;
    struct order_head h;
    /* The stock stays held until an admin decides, however long that takes. */
    if (settle_move(db, j, ORDER_ON_HOLD, "held for a fraud review", "authorized", &h, lines, &n,
                    pb) != SHOP_OK ||
        reservation_keep(db, j->order_id, pb) != SHOP_OK ||
        cart_settle(db, &h, j->cart_id, lines, n, pb) != SHOP_OK)
        return pb->err;
    enum shop_err e = answer(db, j->placed, j->order_id, &j->order, &j->order_len, pb);
    if (e != SHOP_OK)
        return e;
    e = key_done(db, &h, SHOP_OK, j->order, pb);
    if (e != SHOP_OK)
        return e;
    return order_event(db, j->order_id, &h, "order.on_hold", pb);
}

enum shop_err checkout_unknown_write(struct db *db, void *arg, struct problem *pb)
{
    struct unknown_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE payments SET status = 'unknown', updated_at = ?"
                                     " WHERE id = ? AND status = 'pending'");
    if (!st)
        return db_fail(db, pb, "recording the payment");
    stmt_bind_i64(st, 1, clock_now_ms());
    stmt_bind_i64(st, 2, j->payment_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the payment");
    if (j->placed)
        placed_card(j->placed, j->payment_id, "unknown");
    enum shop_err e = answer(db, j->placed, j->order_id, &j->order, &j->order_len, pb);
    return e != SHOP_OK ? e : key_done(db, j->head, SHOP_OK, j->order, pb);
}

/* After an order's stock moved, pages and search must show it. */
void checkout_products_changed(struct shop *shop, const int64_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        shop_product_stock_moved(shop, ids[i]);
}
