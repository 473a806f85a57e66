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
#include "shop/order.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/reservation.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

#define CANCEL_LINES_MAX 100

struct cancel_job {
    const struct principal *who;
    int64_t order_id, now;
    int64_t line_ids[CANCEL_LINES_MAX];
    int nline_ids; /* 0: every open line */
    int64_t refund_id; /* out */
};

/* Allocates `amount` over the order's captured tenders, card first. */
static enum shop_err allocate_refund(struct db *db, int64_t order_id, int64_t refund_id,
                                     int64_t user_id, int64_t amount, const char *currency,
                                     bool *pending_card, struct problem *pb)
{
    struct {
        int64_t id, capacity;
        bool card;
    } tenders[4];
    int n = 0;
    struct stmt *st = db_prepare(db, "SELECT id, amount_cents - refunded_cents, tender = 'card'"
                                     " FROM payments WHERE order_id = ? AND status = 'captured'"
                                     " ORDER BY tender = 'card' DESC, id LIMIT 4");
    if (!st)
        return db_fail(db, pb, "reading the payments");
    stmt_bind_i64(st, 1, order_id);
    while (stmt_step(st) == STMT_ROW) {
        tenders[n].id = stmt_i64(st, 0);
        tenders[n].capacity = stmt_i64(st, 1);
        tenders[n].card = stmt_i64(st, 2) != 0;
        n++;
    }
    *pending_card = false;
    int64_t left = amount;
    for (int i = 0; i < n && left > 0; i++) {
        int64_t take = tenders[i].capacity < left ? tenders[i].capacity : left;
        if (take <= 0)
            continue;
        char key[64];
        snprintf(key, sizeof key, "refund-%lld-%lld", (long long)refund_id,
                 (long long)tenders[i].id);
        st = db_prepare(db, "INSERT INTO refund_allocations (refund_id, payment_id, amount_cents,"
                            " status, idempotency_key) VALUES (?, ?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "allocating the refund");
        stmt_bind_i64(st, 1, refund_id);
        stmt_bind_i64(st, 2, tenders[i].id);
        stmt_bind_i64(st, 3, take);
        stmt_bind_text(st, 4, tenders[i].card ? "pending" : "succeeded");
        stmt_bind_text(st, 5, key);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "allocating the refund");
        st = db_prepare(db, "UPDATE payments SET refunded_cents = refunded_cents + ?, updated_at = ?"
                            " WHERE id = ? AND refunded_cents + ? <= amount_cents");
        if (!st)
            return db_fail(db, pb, "allocating the refund");
        stmt_bind_i64(st, 1, take);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, tenders[i].id);
        stmt_bind_i64(st, 4, take);
        if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
            return problem_set(pb, SHOP_CONFLICT, "the payment changed meanwhile");
        if (tenders[i].card)
            *pending_card = true;
        else if (store_credit_add(db, user_id, take, currency, "refund", order_id, pb) != SHOP_OK)
            return pb->err;
        left -= take;
    }
    if (left > 0)
        return problem_set(pb, SHOP_INTERNAL, "%lld cents of the refund have no tender",
                           (long long)left);
    return SHOP_OK;
}

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

    /* Which lines: every open one, or the ones named (each must be open). */
    struct cancel_line {
        int64_t id, variant_id, quantity, amount;
    } lines[CANCEL_LINES_MAX];
    int n = 0, open_total = 0;
    st = db_prepare(db, "SELECT id, variant_id, quantity, quantity * unit_price_cents + tax_cents,"
                        " status FROM order_lines WHERE order_id = ? ORDER BY id");
    if (!st)
        return db_fail(db, pb, "reading the order lines");
    stmt_bind_i64(st, 1, j->order_id);
    bool named[CANCEL_LINES_MAX] = {false};
    while (stmt_step(st) == STMT_ROW) {
        int64_t id = stmt_i64(st, 0);
        bool open = !strcmp(stmt_text(st, 4), "open");
        open_total += open;
        int k = -1;
        for (int i = 0; i < j->nline_ids; i++)
            if (j->line_ids[i] == id)
                k = i;
        if (k >= 0) {
            named[k] = true;
            if (!open)
                return problem_field(pb, SHOP_CONFLICT, "line_ids", "line %lld is %s",
                                     (long long)id, stmt_text(st, 4));
        }
        if (open && (j->nline_ids == 0 || k >= 0) && n < CANCEL_LINES_MAX)
            lines[n++] = (struct cancel_line){id, stmt_i64(st, 1), stmt_i64(st, 2), stmt_i64(st, 3)};
    }
    for (int i = 0; i < j->nline_ids; i++)
        if (!named[i]) {
            char f[32];
            snprintf(f, sizeof f, "line_ids[%d]", i);
            return problem_field(pb, SHOP_INVALID, f, "line %lld is not part of this order",
                                 (long long)j->line_ids[i]);
        }
    if (n == 0)
        return problem_set(pb, SHOP_CONFLICT, "no open line is left to cancel");
    bool whole = n == open_total;

    int64_t amount = 0;
    for (int i = 0; i < n; i++) {
        amount += lines[i].amount;
        st = db_prepare(db, "UPDATE order_lines SET status = 'cancelled', cancelled_at = ?"
                            " WHERE id = ? AND status = 'open'");
        if (!st)
            return db_fail(db, pb, "cancelling a line");
        stmt_bind_i64(st, 1, j->now);
        stmt_bind_i64(st, 2, lines[i].id);
        if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
            return problem_set(pb, SHOP_CONFLICT, "the order changed meanwhile");
        if (reservation_restock(db, j->order_id, lines[i].variant_id, lines[i].quantity,
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

    if (amount > 0) {
        st = db_prepare(db, "INSERT INTO refunds (order_id, amount_cents, reason, status,"
                            " created_at, updated_at) VALUES (?, ?, 'cancellation', 'pending', ?, ?)");
        if (!st)
            return db_fail(db, pb, "recording the refund");
        stmt_bind_i64(st, 1, j->order_id);
        stmt_bind_i64(st, 2, amount);
        stmt_bind_i64(st, 3, j->now);
        stmt_bind_i64(st, 4, j->now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the refund");
        j->refund_id = db_last_id(db);
        bool pending_card = false;
        if (allocate_refund(db, j->order_id, j->refund_id, user, amount, currency, &pending_card,
                            pb) != SHOP_OK)
            return pb->err;
        if (!pending_card) {
            st = db_prepare(db, "UPDATE refunds SET status = 'succeeded' WHERE id = ?");
            stmt_bind_i64(st, 1, j->refund_id);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "recording the refund");
        }
        st = db_prepare(db, "UPDATE orders SET refunded_cents = refunded_cents + ?1,"
                            " refund_status = CASE WHEN refunded_cents + ?1 >= total_cents"
                            " THEN 'refunded' ELSE 'partially_refunded' END, updated_at = ?2"
                            " WHERE id = ?3");
        if (!st)
            return db_fail(db, pb, "recording the refund");
        stmt_bind_i64(st, 1, amount);
        stmt_bind_i64(st, 2, j->now);
        stmt_bind_i64(st, 3, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the refund");
    }
    const char *by = j->who->role == ROLE_ADMIN && j->who->user_id != user ? "cancelled_by_admin"
                                                                            : "cancelled_by_customer";
    if (whole) {
        if (order_transition(db, j->order_id, ORDER_CANCELLED, by, NULL, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE orders SET cancel_reason = ? WHERE id = ?");
        stmt_bind_text(st, 1, by);
        stmt_bind_i64(st, 2, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "cancelling the order");
    }
    enum shop_err e = outbox_emit(
        db, "order.cancelled", j->order_id,
        json_pack("{s:I, s:I, s:b, s:I, s:s}", "order_id", (json_int_t)j->order_id, "user_id",
                  (json_int_t)user, "whole", whole, "refund_cents", (json_int_t)amount, "currency",
                  currency),
        pb);
    if (e != SHOP_OK || amount <= 0)
        return e;
    return outbox_emit(db, "order.refunded", j->order_id,
                       json_pack("{s:I, s:I, s:I, s:I, s:s}", "order_id", (json_int_t)j->order_id,
                                 "user_id", (json_int_t)user, "refund_id",
                                 (json_int_t)j->refund_id, "amount_cents", (json_int_t)amount,
                                 "currency", currency),
                       pb);
}

/* ---- sending card refunds ---------------------------------------------------------- */

struct alloc {
    int64_t id, refund_id, order_id, amount;
    int attempts;
    char charge_id[48], key[64];
};

struct alloc_job {
    const struct alloc *a;
    bool ok;
    char gateway_ref[48];
};

static enum shop_err alloc_write(struct db *db, void *arg, struct problem *pb)
{
    struct alloc_job *j = arg;
    int64_t now = clock_now_ms();
    struct stmt *st;
    if (!j->ok) {
        /* Back off: 1 s, 2 s, 4 s, … up to 10 minutes. */
        int shift = j->a->attempts < 10 ? j->a->attempts : 10;
        st = db_prepare(db, "UPDATE refund_allocations SET attempts = attempts + 1,"
                            " next_attempt_at = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "recording a refund attempt");
        stmt_bind_i64(st, 1, now + (1000LL << shift));
        stmt_bind_i64(st, 2, j->a->id);
        return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording a refund attempt");
    }
    st = db_prepare(db, "UPDATE refund_allocations SET status = 'succeeded', gateway_ref = ?,"
                        " attempts = attempts + 1 WHERE id = ? AND status = 'pending'");
    if (!st)
        return db_fail(db, pb, "recording a refund");
    stmt_bind_text(st, 1, j->gateway_ref);
    stmt_bind_i64(st, 2, j->a->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording a refund");
    st = db_prepare(db, "UPDATE refunds SET status = 'succeeded', updated_at = ?1 WHERE id = ?2"
                        " AND NOT EXISTS (SELECT 1 FROM refund_allocations WHERE refund_id = ?2"
                        " AND status = 'pending')");
    if (!st)
        return db_fail(db, pb, "recording a refund");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, j->a->refund_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording a refund");
}

/* Sends pending card allocations (of one refund, or all that are due). */
static int send_refunds(struct shop *shop, int64_t refund_id)
{
    struct alloc list[32];
    int n = 0;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT a.id, a.refund_id, p.order_id, a.amount_cents,"
                                     " a.attempts, coalesce(p.gateway_ref, ''), a.idempotency_key"
                                     " FROM refund_allocations a JOIN payments p"
                                     " ON p.id = a.payment_id WHERE a.status = 'pending'"
                                     " AND (a.refund_id = ?1 OR (?1 = 0 AND a.next_attempt_at <= ?2))"
                                     " ORDER BY a.id LIMIT 32");
    if (st) {
        stmt_bind_i64(st, 1, refund_id);
        stmt_bind_i64(st, 2, clock_now_ms());
        while (n < 32 && stmt_step(st) == STMT_ROW) {
            struct alloc *a = &list[n++];
            a->id = stmt_i64(st, 0);
            a->refund_id = stmt_i64(st, 1);
            a->order_id = stmt_i64(st, 2);
            a->amount = stmt_i64(st, 3);
            a->attempts = (int)stmt_i64(st, 4);
            snprintf(a->charge_id, sizeof a->charge_id, "%s", stmt_text(st, 5));
            snprintf(a->key, sizeof a->key, "%s", stmt_text(st, 6));
        }
    }
    db_release(db);
    int sent = 0;
    for (int i = 0; i < n; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "order-%lld", (long long)list[i].order_id);
        struct gw_result r;
        enum pay_outcome out = payment_refund(shop, list[i].charge_id, list[i].amount, list[i].key,
                                              ref, &r);
        struct alloc_job j = {.a = &list[i], .ok = out == PAY_OK};
        snprintf(j.gateway_ref, sizeof j.gateway_ref, "%s", r.id);
        if (out == PAY_DECLINED)
            log_event(LOG_ERROR, "refund.refused", "{s:I, s:s}", "allocation",
                      (json_int_t)list[i].id, "code", r.code);
        struct problem pb = {0};
        if (store_write(shop->store, alloc_write, &j, &pb) == SHOP_OK && j.ok)
            sent++;
        problem_clear(&pb);
    }
    return sent;
}

enum shop_err order_cancel(struct shop *shop, const struct principal *who, int64_t id,
                           json_t *line_ids, json_t **out, struct problem *pb)
{
    struct cancel_job j = {.who = who, .order_id = id, .now = clock_now_ms()};
    if (line_ids) {
        if (!json_is_array(line_ids) || json_array_size(line_ids) == 0 ||
            json_array_size(line_ids) > CANCEL_LINES_MAX)
            return problem_field(pb, SHOP_INVALID, "line_ids",
                                 "must be a non-empty array of up to %d line ids", CANCEL_LINES_MAX);
        size_t i;
        json_t *v;
        json_array_foreach(line_ids, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                char f[32];
                snprintf(f, sizeof f, "line_ids[%zu]", i);
                return problem_field(pb, SHOP_INVALID, f, "must be a line id");
            }
            j.line_ids[j.nline_ids++] = json_integer_value(v);
        }
    }
    if (store_write(shop->store, cancel_write, &j, pb) != SHOP_OK)
        return pb->err;
    if (j.refund_id)
        send_refunds(shop, j.refund_id);
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
    int k = send_refunds(shop, 0);
    if (sent)
        *sent = k;
    return SHOP_OK;
}
