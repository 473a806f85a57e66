#include "shop/refund.h"

#include <stdio.h>
#include <string.h>

#include "shop/keylock.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/pricing.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

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
        st =
            db_prepare(db, "UPDATE payments SET refunded_cents = refunded_cents + ?, updated_at = ?"
                           " WHERE id = ? AND refunded_cents + ? <= amount_cents");
        if (!st)
            return db_fail(db, pb, "allocating the refund");
        stmt_bind_i64(st, 1, take);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, tenders[i].id);
        stmt_bind_i64(st, 4, take);
        if (stmt_step(st) != STMT_DONE) /* a failed write is no conflict (a 5xx, not a 409) */
            return db_fail(db, pb, "allocating the refund");
        if (db_changes(db) != 1)
            return problem_set(pb, SHOP_CONFLICT, "the payment changed meanwhile");
        if (tenders[i].card)
            *pending_card = true;
        else if (store_credit_add(db, user_id, take, currency, "refund", order_id, pb) != SHOP_OK)
            return pb->err;
        left -= take;
    }
    if (left > 0)
        return problem_set(pb, SHOP_CONFLICT, "%lld cents of the refund have no tender left",
                           (long long)left);
    return SHOP_OK;
}

/* The refund's lines (refund.h): the parts as given, or scaled down to the
 * refund when they come to more (largest remainder, so they add up to it). */
static enum shop_err record_lines(struct db *db, const struct refund_in *in, int64_t refund_id,
                                  struct problem *pb)
{
    int n = in->nlines < PRICING_ALLOCATE_MAX ? in->nlines : PRICING_ALLOCATE_MAX;
    int64_t sum = 0, parts[PRICING_ALLOCATE_MAX], weights[PRICING_ALLOCATE_MAX];
    for (int i = 0; i < n; i++) {
        weights[i] = in->lines[i].amount > 0 ? in->lines[i].amount : 0;
        sum += weights[i];
    }
    if (sum > in->amount)
        pricing_allocate(in->amount, weights, n, parts);
    else
        memcpy(parts, weights, (size_t)n * sizeof *parts);
    for (int i = 0; i < n; i++) {
        struct stmt *st = db_prepare(db, "INSERT INTO refund_lines (refund_id, order_line_id,"
                                         " amount_cents) VALUES (?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "recording the refund's lines");
        stmt_bind_i64(st, 1, refund_id);
        stmt_bind_i64(st, 2, in->lines[i].order_line_id);
        stmt_bind_i64(st, 3, parts[i]);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the refund's lines");
    }
    return SHOP_OK;
}

enum shop_err refund_record(struct db *db, const struct refund_in *in, int64_t *refund_id,
                            struct problem *pb)
{
    *refund_id = 0;
    struct stmt *st = db_prepare(db, "INSERT INTO refunds (order_id, amount_cents, reason, status,"
                                     " created_at, updated_at, return_id)"
                                     " VALUES (?, ?, ?, 'pending', ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording the refund");
    stmt_bind_i64(st, 1, in->order_id);
    stmt_bind_i64(st, 2, in->amount);
    stmt_bind_text(st, 3, in->reason);
    stmt_bind_i64(st, 4, in->now);
    stmt_bind_i64(st, 5, in->now);
    if (in->return_id)
        stmt_bind_i64(st, 6, in->return_id);
    else
        stmt_bind_null(st, 6);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the refund");
    *refund_id = db_last_id(db);
    if (record_lines(db, in, *refund_id, pb) != SHOP_OK)
        return pb->err;
    bool pending_card = false;
    if (allocate_refund(db, in->order_id, *refund_id, in->user_id, in->amount, in->currency,
                        &pending_card, pb) != SHOP_OK)
        return pb->err;
    if (!pending_card) {
        st = db_prepare(db, "UPDATE refunds SET status = 'succeeded' WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "recording the refund");
        stmt_bind_i64(st, 1, *refund_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the refund");
    }
    st = db_prepare(db, "UPDATE orders SET refunded_cents = refunded_cents + ?1,"
                        " refund_status = CASE WHEN refunded_cents + ?1 >= total_cents"
                        " THEN 'refunded' ELSE 'partially_refunded' END, updated_at = ?2"
                        " WHERE id = ?3 AND refunded_cents + ?1 <= total_cents");
    if (!st)
        return db_fail(db, pb, "recording the refund");
    stmt_bind_i64(st, 1, in->amount);
    stmt_bind_i64(st, 2, in->now);
    stmt_bind_i64(st, 3, in->order_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the refund");
    if (db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the refund would exceed what the order was paid");
    json_t *ev =
        json_pack("{s:I, s:I, s:I, s:I, s:s, s:s}", "order_id", (json_int_t)in->order_id, "user_id",
                  (json_int_t)in->user_id, "refund_id", (json_int_t)*refund_id, "amount_cents",
                  (json_int_t)in->amount, "currency", in->currency, "reason", in->reason);
    if (in->return_id)
        json_object_set_new(ev, "return_id", json_integer(in->return_id));
    return outbox_emit(db, "order.refunded", in->order_id, ev, pb);
}

/* ---- sending card refunds ----------------------------------------------------- */

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

int refund_send(struct shop *shop, int64_t refund_id)
{
    struct alloc list[32];
    int n = 0;
    struct db *db = store_db(shop->store);
    struct stmt *st =
        db_prepare(db, "SELECT a.id, a.refund_id, p.order_id, a.amount_cents,"
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
        enum pay_outcome out =
            payment_refund(shop, list[i].charge_id, list[i].amount, list[i].key, ref, &r);
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

/* floor(x · k / n) for 0 ≤ k ≤ n: x's share of k of n units, cumulative. */
static int64_t upto(int64_t x, int64_t k, int64_t n)
{
    return (int64_t)((__int128)x * k / n);
}

int64_t refund_line_share(int64_t unit_price, int64_t quantity, int64_t discount, int64_t tax,
                          int64_t done, int64_t q)
{
    if (quantity <= 0 || q <= 0 || done < 0 || done >= quantity)
        return 0;
    if (q > quantity - done)
        q = quantity - done;
    int64_t paid = unit_price * quantity - discount;
    if (paid < 0)
        paid = 0;
    if (tax < 0)
        tax = 0;
    return upto(paid, done + q, quantity) - upto(paid, done, quantity) +
           upto(tax, done + q, quantity) - upto(tax, done, quantity);
}

int64_t refund_line_settled(struct db *db, int64_t order_id, int64_t line_id, struct problem *pb)
{
    /* Through the order's returns (returns_order, then return_lines' key):
     * return_lines has no index of its own on the line. */
    struct stmt *st = db_prepare(db, "SELECT l.undelivered_qty + coalesce((SELECT sum(rl.quantity)"
                                     " FROM returns r JOIN return_lines rl ON rl.return_id = r.id"
                                     " AND rl.order_line_id = l.id WHERE r.order_id = ?1"
                                     " AND r.status IN ('refunded', 'partially_refunded')), 0)"
                                     " FROM order_lines l WHERE l.id = ?2 AND l.order_id = ?1");
    if (!st) {
        db_fail(db, pb, "reading what the line was refunded");
        return -1;
    }
    stmt_bind_i64(st, 1, order_id);
    stmt_bind_i64(st, 2, line_id);
    if (stmt_step(st) != STMT_ROW) { /* the line is there: no row is a failed read */
        db_fail(db, pb, "reading what the line was refunded");
        return -1;
    }
    return stmt_i64(st, 0);
}

enum shop_err refund_lock(struct db *db, int64_t order_id, struct problem *pb)
{
    char key[40];
    snprintf(key, sizeof key, "refund-order:%lld", (long long)order_id);
    const char *keys[1] = {key};
    return keylock(db, keys, 1, pb);
}
