/* fraud_review.c — the review queue and an admin's decision on a held order
 * (the state machine is in fraud.h's essay). The settling writes are the
 * checkout saga's own (checkout_settle.c): approving completes the order as
 * a captured payment would, rejecting fails it as a declined one would,
 * keeping it, cancelled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/checkout_steps.h"
#include "shop/fraud.h"
#include "shop/order.h"
#include "shop/payment.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

/* The admin's view of an order: the document and its verdict. */
static json_t *admin_order(struct db *db, int64_t order_id)
{
    json_t *o = order_render(db, order_id);
    if (o)
        fraud_attach(db, order_id, o);
    return o;
}

enum shop_err fraud_holds(struct shop *shop, int limit, const char *cursor, json_t **out,
                          struct problem *pb)
{
    int64_t after = 0;
    if (cursor) {
        char *end;
        long long v = strtoll(cursor, &end, 10);
        if (!*cursor || *end || v <= 0)
            return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
        after = v;
    }
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t ids[101];
    int n = 0;
    struct stmt *st = db_prepare(db, "SELECT id FROM orders WHERE status = 'on_hold' AND id > ?"
                                     " ORDER BY id LIMIT ?");
    if (st) {
        stmt_bind_i64(st, 1, after);
        stmt_bind_i64(st, 2, limit + 1);
        while (n <= limit && stmt_step(st) == STMT_ROW)
            ids[n++] = stmt_i64(st, 0);
    }
    json_t *data = json_array();
    bool more = n > limit;
    for (int i = 0; i < n && i < limit; i++) {
        json_t *o = admin_order(db, ids[i]);
        if (o)
            json_array_append_new(data, o);
    }
    db_read_end(db);
    if (!st) {
        json_decref(data);
        return problem_set(pb, SHOP_INTERNAL, "cannot list the holds");
    }
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)ids[limit - 1]) : json_null());
    return SHOP_OK;
}

/* ---- a decision ------------------------------------------------------------------ */

struct claim_job {
    int64_t order_id;
    const char *review; /* approved | rejected | withdrawn */
    /* out */
    bool done;          /* already decided so and settled: answer the order */
    int64_t payment_id; /* the card payment, 0 when none */
    char status[16], charge_id[48], key[64];
};

/* Claims the decision: on_hold with no review or this one → this one. */
static enum shop_err claim_write(struct db *db, void *arg, struct problem *pb)
{
    struct claim_job *j = arg;
    j->done = false;
    j->payment_id = 0;
    j->status[0] = j->charge_id[0] = j->key[0] = '\0';
    struct stmt *st =
        db_prepare(db, "SELECT status, coalesce(fraud_review, '') FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, j->order_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)j->order_id);
    char status[24], review[16];
    snprintf(status, sizeof status, "%s", stmt_text(st, 0));
    snprintf(review, sizeof review, "%s", stmt_text(st, 1));
    bool mine = !strcmp(review, j->review);
    if (strcmp(status, "on_hold") != 0) {
        /* Settled by this same decision before: the same answer again. */
        if (mine) {
            j->done = true;
            return SHOP_OK;
        }
        return problem_set(pb, SHOP_CONFLICT, "the order is %s, not on hold", status);
    }
    if (review[0] && !mine)
        return problem_set(pb, SHOP_CONFLICT, "the order is being %s",
                           !strcmp(review, "approved")   ? "approved"
                           : !strcmp(review, "rejected") ? "rejected"
                                                         : "cancelled by the customer");
    /* Conditional on no other decision: on PostgreSQL an approve and a
     * reject read the order side by side, and the second's UPDATE, run
     * after the first commits, must not take over the first's claim (one
     * would capture, the other void and cancel: both answered 200). */
    st = db_prepare(db, "UPDATE orders SET fraud_review = ?1, fraud_reviewed_at = ?2 WHERE id = ?3"
                        " AND status = 'on_hold' AND coalesce(fraud_review, '') IN ('', ?1)");
    if (!st)
        return db_fail(db, pb, "claiming the review");
    stmt_bind_text(st, 1, j->review);
    stmt_bind_i64(st, 2, clock_now_ms());
    stmt_bind_i64(st, 3, j->order_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "claiming the review");
    if (db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the order changed meanwhile");
    st = db_prepare(db, "SELECT id, status, coalesce(gateway_ref, ''), idempotency_key FROM"
                        " payments WHERE order_id = ? AND tender = 'card'");
    if (!st)
        return db_fail(db, pb, "reading the payment");
    stmt_bind_i64(st, 1, j->order_id);
    if (stmt_step(st) == STMT_ROW) {
        j->payment_id = stmt_i64(st, 0);
        snprintf(j->status, sizeof j->status, "%s", stmt_text(st, 1));
        snprintf(j->charge_id, sizeof j->charge_id, "%s", stmt_text(st, 2));
        snprintf(j->key, sizeof j->key, "%s", stmt_text(st, 3));
    }
    return SHOP_OK;
}

/* The admin's view of the order in *out; nothing to render when out is
 * NULL (the customer's cancel answers with its own view). */
static enum shop_err answer(struct shop *shop, int64_t order_id, json_t **out, struct problem *pb)
{
    if (!out)
        return SHOP_OK;
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    json_t *o = admin_order(db, order_id);
    db_read_end(db);
    if (!o)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)order_id);
    *out = o;
    return SHOP_OK;
}

enum decision { DECIDE_APPROVE, DECIDE_REJECT, DECIDE_WITHDRAW };

static enum shop_err decide(struct shop *shop, int64_t order_id, enum decision d, json_t **out,
                            struct problem *pb)
{
    static const char *const reviews[] = {"approved", "rejected", "withdrawn"};
    bool approve = d == DECIDE_APPROVE;
    struct claim_job c = {.order_id = order_id, .review = reviews[d]};
    if (store_write(shop->store, claim_write, &c, pb) != SHOP_OK)
        return pb->err;
    if (c.done)
        return answer(shop, order_id, out, pb);

    struct settle_job sj = {.order_id = order_id, .payment_id = c.payment_id};
    bool declined = false;
    char code[32] = "";
    snprintf(sj.charge_id, sizeof sj.charge_id, "%s", c.charge_id);
    if (c.payment_id && !strcmp(c.status, "authorized")) {
        /* One key per order and decision: a retry is the same call. */
        char key[80];
        snprintf(key, sizeof key, "%s-%s", c.key, approve ? "capture" : "void");
        struct gw_result r;
        enum pay_outcome pay = approve ? payment_capture(shop, c.charge_id, key, &r)
                                       : payment_void(shop, c.charge_id, key, &r);
        if (pay == PAY_UNAVAILABLE || pay == PAY_UNKNOWN) {
            pb->retry_after = 5;
            return problem_set(pb, SHOP_UNAVAILABLE,
                               "the payment gateway is unavailable; try the decision again");
        }
        if (pay != PAY_OK) {
            log_event(LOG_WARN, "fraud.review", "{s:I, s:s, s:s}", "order", (json_int_t)order_id,
                      "decision", c.review, "code", r.code);
            /* A refused capture is final (the authorization lapsed or was
             * withdrawn): the order cannot be paid, so it fails as a
             * declined checkout would — cancelled, stock released — rather
             * than staying on hold with a decision nobody can complete. A
             * refused void leaves nothing to undo at the gateway. */
            declined = approve;
            snprintf(code, sizeof code, "%s", r.code);
        }
    }
    enum shop_err e;
    if (declined) {
        sj.cancel_reason = "payment_failed";
        sj.code = code;
        e = store_write(shop->store, checkout_fail_write, &sj, pb);
    } else if (approve) {
        e = store_write(shop->store, checkout_complete_write, &sj, pb);
    } else {
        sj.cancel_reason = d == DECIDE_WITHDRAW ? "cancelled_by_customer" : "fraud_rejected";
        sj.code = sj.cancel_reason;
        e = store_write(shop->store, checkout_fail_write, &sj, pb);
    }
    free(sj.order);
    if (e == SHOP_CONFLICT) {
        /* Another request with the same decision settled it first. */
        struct claim_job again = c;
        struct problem apb = {0};
        if (store_write(shop->store, claim_write, &again, &apb) == SHOP_OK && again.done) {
            problem_clear(pb);
            return answer(shop, order_id, out, pb);
        }
        problem_clear(&apb);
    }
    if (e != SHOP_OK)
        return e;
    int64_t ids[CART_LINES_MAX];
    struct db *db = store_db(shop->store);
    int n = order_products(db, order_id, ids, CART_LINES_MAX);
    db_release(db);
    checkout_products_changed(shop, ids, n);
    log_event(LOG_INFO, "fraud.review", "{s:I, s:s}", "order", (json_int_t)order_id, "decision",
              declined ? "capture_declined" : c.review);
    if (declined)
        return problem_set(pb, SHOP_PAYMENT,
                           "the gateway refused to capture (%s): the order was cancelled and its"
                           " stock released",
                           code);
    return answer(shop, order_id, out, pb);
}

enum shop_err fraud_approve(struct shop *shop, int64_t order_id, json_t **out, struct problem *pb)
{
    return decide(shop, order_id, DECIDE_APPROVE, out, pb);
}

enum shop_err fraud_reject(struct shop *shop, int64_t order_id, json_t **out, struct problem *pb)
{
    return decide(shop, order_id, DECIDE_REJECT, out, pb);
}

enum shop_err fraud_withdraw(struct shop *shop, int64_t order_id, struct problem *pb)
{
    return decide(shop, order_id, DECIDE_WITHDRAW, NULL, pb);
}
