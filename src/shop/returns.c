/* returns.c — returns (RMA): requests, the state machine and its effects.
 * returns.h is the essay. */
#include "shop/returns.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/account.h"
#include "shop/changes.h"
#include "shop/keylock.h"
#include "shop/order.h"
#include "shop/outbox.h"
#include "shop/pricing.h"
#include "shop/refund.h"
#include "shop/reservation.h"
#include "shop/shop.h"
#include "shop/status.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/tz.h"

#define DAY_MS INT64_C(86400000)

static const char *const names[RET_STATUS_COUNT] = {
    [RET_REQUESTED] = "requested",
    [RET_APPROVED] = "approved",
    [RET_REJECTED] = "rejected",
    [RET_RECEIVED] = "received",
    [RET_INSPECTED] = "inspected",
    [RET_REFUNDED] = "refunded",
    [RET_PARTIALLY_REFUNDED] = "partially_refunded",
};

#define BIT(s) (1u << (s))
static const unsigned allowed[RET_STATUS_COUNT] = {
    [RET_REQUESTED] = BIT(RET_APPROVED) | BIT(RET_REJECTED),
    [RET_APPROVED] = BIT(RET_RECEIVED) | BIT(RET_REJECTED),
    [RET_RECEIVED] = BIT(RET_INSPECTED),
    [RET_INSPECTED] = BIT(RET_REFUNDED) | BIT(RET_PARTIALLY_REFUNDED) | BIT(RET_REJECTED),
};

static const struct status_machine machine = {
    "return",
    names,
    RET_STATUS_COUNT,
    allowed,
    "UPDATE returns SET status = ?1, updated_at = ?2 WHERE id = ?3 AND status = ?4",
    "INSERT INTO return_history (return_id, status, note, at) VALUES (?, ?, ?, ?)",
};

const char *return_status_name(enum return_status s)
{
    return status_name(&machine, (int)s);
}

int return_status_parse(const char *s)
{
    return status_parse(&machine, s);
}

bool return_move_allowed(enum return_status from, enum return_status to)
{
    return status_allowed(&machine, (int)from, (int)to);
}

bool return_in_window(const struct tz *tz, int64_t delivered_at, int64_t now, int64_t window_days)
{
    return tz_ymd_days(tz_local_day(tz, now)) - tz_ymd_days(tz_local_day(tz, delivered_at)) <=
           window_days;
}

static enum shop_err emit(struct db *db, const char *topic, int64_t order_id, int64_t user_id,
                          int64_t return_id, const char *status, struct problem *pb)
{
    return outbox_emit(db, topic, order_id,
                       json_pack("{s:I, s:I, s:I, s:s}", "order_id", (json_int_t)order_id,
                                 "user_id", (json_int_t)user_id, "return_id", (json_int_t)return_id,
                                 "status", status),
                       pb);
}

/* ---- requests --------------------------------------------------------------------- */

struct create_job {
    struct shop *shop;
    const struct principal *who;
    const struct return_request *in;
    char hash[65];
    int64_t now;
    int64_t id;    /* out */
    bool replayed; /* out */
};

static void request_hash(const struct return_request *in, char out[65])
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%lld|", (long long)in->order_id);
    crypto_hash_sha256_update(&h, (const unsigned char *)buf, (size_t)n);
    for (int i = 0; i < in->nlines; i++) {
        n = snprintf(buf, sizeof buf, "%lld:%lld|", (long long)in->lines[i].order_line_id,
                     (long long)in->lines[i].quantity);
        crypto_hash_sha256_update(&h, (const unsigned char *)buf, (size_t)n);
    }
    crypto_hash_sha256_update(&h, (const unsigned char *)in->reason, strlen(in->reason));
    unsigned char d[32];
    crypto_hash_sha256_final(&h, d);
    sodium_bin2hex(out, 65, d, sizeof d);
}

/* "lines[i].member", the field a problem names. */
static const char *line_field(char out[48], int i, const char *member)
{
    snprintf(out, 48, "lines[%d].%s", i, member);
    return out;
}

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct create_job *j = arg;
    const struct return_request *in = j->in;
    j->id = 0;
    j->replayed = false;
    /* One request of a customer at a time (PostgreSQL: writers side by
     * side): the same key twice at once would both find no return and the
     * second's INSERT break the key's unique index (a 500), and requests
     * at once would each count fewer than 3 returns in 90 days and all be
     * approved automatically. The second waits here, then reads the
     * first's return. */
    char lock[48];
    snprintf(lock, sizeof lock, "returns-of:%lld", (long long)j->who->user_id);
    if (keylock(db, (const char *const[]){lock}, 1, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT id, request_hash FROM returns WHERE user_id = ?"
                                     " AND idempotency_key = ?");
    if (!st)
        return db_fail(db, pb, "reading the Idempotency-Key");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, in->key);
    /* A statement that failed is a failure (5xx), never "no such row": a
     * client error here would be a wrong answer the retry contradicts. */
    int rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "reading the Idempotency-Key");
    if (rc == STMT_ROW) {
        if (strcmp(stmt_text(st, 1), j->hash))
            return problem_field(pb, SHOP_INVALID, "Idempotency-Key",
                                 "was used for a different return request");
        j->id = stmt_i64(st, 0);
        j->replayed = true;
        return SHOP_OK;
    }
    st = db_prepare(db, "SELECT user_id FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, in->order_id);
    rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "reading the order");
    if (rc != STMT_ROW || stmt_i64(st, 0) != j->who->user_id)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)in->order_id);

    int64_t total = 0, units[RETURN_LINES_MAX];
    char f[48];
    for (int i = 0; i < in->nlines; i++) {
        int64_t line = in->lines[i].order_line_id, q = in->lines[i].quantity;
        for (int k = 0; k < i; k++)
            if (in->lines[k].order_line_id == line)
                return problem_field(pb, SHOP_INVALID, line_field(f, i, "order_line_id"),
                                     "line %lld is named twice", (long long)line);
        st = db_prepare(db,
                        "SELECT l.unit_price_cents, l.delivered_qty, l.returned_qty, p.returnable,"
                        " (SELECT coalesce(max(s.delivered_at), 0)"
                        " FROM shipment_lines sl JOIN shipments s ON s.id = sl.shipment_id"
                        " WHERE sl.order_line_id = l.id AND s.status = 'delivered')"
                        " FROM order_lines l JOIN products p ON p.id = l.product_id"
                        " WHERE l.id = ? AND l.order_id = ?");
        if (!st)
            return db_fail(db, pb, "reading the order line");
        stmt_bind_i64(st, 1, line);
        stmt_bind_i64(st, 2, in->order_id);
        rc = stmt_step(st);
        if (rc < 0)
            return db_fail(db, pb, "reading the order line");
        if (rc != STMT_ROW)
            return problem_field(pb, SHOP_INVALID, line_field(f, i, "order_line_id"),
                                 "line %lld is not part of order %lld", (long long)line,
                                 (long long)in->order_id);
        int64_t unit = stmt_i64(st, 0), delivered = stmt_i64(st, 1), returned = stmt_i64(st, 2);
        int64_t delivered_at = stmt_i64(st, 4);
        if (stmt_i64(st, 3) == 0)
            return problem_field(pb, SHOP_INVALID, line_field(f, i, "order_line_id"),
                                 "line %lld is not returnable", (long long)line);
        if (delivered == 0 || delivered_at == 0)
            return problem_field(pb, SHOP_INVALID, line_field(f, i, "order_line_id"),
                                 "line %lld has not been delivered", (long long)line);
        if (!return_in_window(j->shop->tz, delivered_at, j->now,
                              j->shop->cfg.return_window_ms / DAY_MS))
            return problem_field(pb, SHOP_INVALID, line_field(f, i, "order_line_id"),
                                 "line %lld was delivered more than %lld days ago", (long long)line,
                                 (long long)(j->shop->cfg.return_window_ms / DAY_MS));
        if (q > delivered - returned)
            return problem_field(pb, SHOP_INVALID, line_field(f, i, "quantity"),
                                 "only %lld of line %lld can still be returned",
                                 (long long)(delivered - returned), (long long)line);
        /* Take the units: exact however many requests race for them. */
        st = db_prepare(db, "UPDATE order_lines SET returned_qty = returned_qty + ?1"
                            " WHERE id = ?2 AND returned_qty + ?1 <= delivered_qty");
        if (!st)
            return db_fail(db, pb, "recording the return");
        stmt_bind_i64(st, 1, q);
        stmt_bind_i64(st, 2, line);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the return");
        if (db_changes(db) != 1)
            return problem_field(pb, SHOP_INVALID, line_field(f, i, "quantity"),
                                 "line %lld: those units were just returned", (long long)line);
        units[i] = unit;
        total += q * unit; /* the lines' total, as auto-approval weighs it (returns.h) */
    }

    st = db_prepare(db, "INSERT INTO returns (order_id, user_id, status, reason, idempotency_key,"
                        " request_hash, created_at, updated_at)"
                        " VALUES (?, ?, 'requested', ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording the return");
    stmt_bind_i64(st, 1, in->order_id);
    stmt_bind_i64(st, 2, j->who->user_id);
    stmt_bind_text(st, 3, in->reason);
    stmt_bind_text(st, 4, in->key);
    stmt_bind_text(st, 5, j->hash);
    stmt_bind_i64(st, 6, j->now);
    stmt_bind_i64(st, 7, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the return");
    j->id = db_last_id(db);
    for (int i = 0; i < in->nlines; i++) {
        st = db_prepare(db, "INSERT INTO return_lines (return_id, order_line_id, quantity,"
                            " unit_price_cents) VALUES (?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "recording the return");
        stmt_bind_i64(st, 1, j->id);
        stmt_bind_i64(st, 2, in->lines[i].order_line_id);
        stmt_bind_i64(st, 3, in->lines[i].quantity);
        stmt_bind_i64(st, 4, units[i]);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the return");
    }
    if (status_enter(db, &machine, j->id, RET_REQUESTED, NULL, j->now, pb) != SHOP_OK)
        return pb->err;

    /* Auto-approval: a small return from a customer who seldom returns. */
    st = db_prepare(db, "SELECT count(*) FROM returns WHERE user_id = ? AND created_at > ?"
                        " AND id <> ?");
    if (!st)
        return db_fail(db, pb, "counting returns");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_i64(st, 2, j->now - 90 * DAY_MS);
    stmt_bind_i64(st, 3, j->id);
    rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "counting returns");
    int64_t recent = rc == STMT_ROW ? stmt_i64(st, 0) : 0;
    if (total <= j->shop->cfg.return_auto_approve_cents && recent < 3) {
        if (status_move(db, &machine, j->id, RET_REQUESTED, RET_APPROVED, "approved automatically",
                        j->now, pb) != SHOP_OK)
            return pb->err;
        return emit(db, "order.return_approved", in->order_id, j->who->user_id, j->id, "approved",
                    pb);
    }
    return emit(db, "order.return_requested", in->order_id, j->who->user_id, j->id, "requested",
                pb);
}

enum shop_err return_create(struct shop *shop, const struct principal *who,
                            const struct return_request *in, int64_t *id, bool *replayed,
                            struct problem *pb)
{
    struct create_job j = {.shop = shop, .who = who, .in = in, .now = clock_now_ms()};
    request_hash(in, j.hash);
    if (store_write(shop->store, create_write, &j, pb) != SHOP_OK)
        return pb->err;
    *id = j.id;
    *replayed = j.replayed;
    return SHOP_OK;
}

/* ---- moves ------------------------------------------------------------------------- */

struct update_job {
    struct shop *shop;
    const struct return_update *in;
    int64_t now;
    int64_t refund_id, order_id; /* out */
    bool restocked;              /* out */
};

struct rline {
    int64_t line, q, quantity, unit, tax, variant, refunded, discount;
};

/* The units of a returned line go back where they shipped from: the
 * delivered shipments that carried it, oldest first. */
static enum shop_err restock_line(struct db *db, int64_t order_id, const struct rline *l,
                                  struct problem *pb)
{
    struct {
        int64_t wh, q;
    } from[32];
    int n = 0;
    struct stmt *st = db_prepare(db, "SELECT s.warehouse_id, sl.quantity FROM shipment_lines sl"
                                     " JOIN shipments s ON s.id = sl.shipment_id"
                                     " WHERE sl.order_line_id = ? AND s.status = 'delivered'"
                                     " ORDER BY s.id");
    if (!st)
        return db_fail(db, pb, "reading the shipments");
    stmt_bind_i64(st, 1, l->line);
    while (n < 32) {
        int rc = stmt_step(st);
        if (rc < 0) /* never "shipped from nowhere": the units would be lost */
            return db_fail(db, pb, "reading the shipments");
        if (rc != STMT_ROW)
            break;
        from[n].wh = stmt_i64(st, 0);
        from[n++].q = stmt_i64(st, 1);
    }
    int64_t left = l->q;
    for (int i = 0; i < n && left > 0; i++) {
        int64_t q = i == n - 1 || from[i].q > left ? left : from[i].q;
        if (reservation_return(db, order_id, l->variant, from[i].wh, q, 0, pb) != SHOP_OK)
            return pb->err;
        left -= q;
    }
    return SHOP_OK;
}

static enum shop_err update_write(struct db *db, void *arg, struct problem *pb)
{
    struct update_job *j = arg;
    const struct return_update *in = j->in;
    j->refund_id = 0;
    j->restocked = false;
    struct stmt *st = db_prepare(db, "SELECT r.status, r.order_id, r.user_id, o.currency,"
                                     " o.shipping_cents FROM returns r"
                                     " JOIN orders o ON o.id = r.order_id"
                                     " WHERE r.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the return");
    stmt_bind_i64(st, 1, in->id);
    int rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "reading the return");
    if (rc != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no return %lld", (long long)in->id);
    int from = return_status_parse(stmt_text(st, 0));
    int64_t order_id = j->order_id = stmt_i64(st, 1), user = stmt_i64(st, 2);
    char currency[4];
    snprintf(currency, sizeof currency, "%s", stmt_text(st, 3));
    int64_t shipping = stmt_i64(st, 4);
    if (from < 0 || !return_move_allowed((enum return_status)from, in->to))
        return problem_field(pb, SHOP_CONFLICT, "status", "a return that is %s cannot become %s",
                             return_status_name((enum return_status)(from < 0 ? 0 : from)),
                             return_status_name(in->to));
    bool refunding = in->to == RET_REFUNDED || in->to == RET_PARTIALLY_REFUNDED;
    if (in->refund_cents >= 0 && !refunding)
        return problem_field(pb, SHOP_INVALID, "refund_cents",
                             "goes with status refunded or partially_refunded");
    if (in->restock >= 0 && in->to != RET_RECEIVED)
        return problem_field(pb, SHOP_INVALID, "restock", "goes with status received");
    if (in->to == RET_PARTIALLY_REFUNDED && in->refund_cents < 1)
        return problem_field(pb, SHOP_INVALID, "refund_cents",
                             "is required for a partial refund, at least 1");
    /* What the order's lines were refunded is read below, after the lock. */
    if (refunding && refund_lock(db, order_id, pb) != SHOP_OK)
        return pb->err;

    struct rline lines[RETURN_LINES_MAX];
    int n = 0;
    st = db_prepare(db, "SELECT rl.order_line_id, rl.quantity, l.quantity, l.unit_price_cents,"
                        " l.tax_cents, l.variant_id, l.refunded_cents, l.discount_cents"
                        " FROM return_lines rl"
                        " JOIN order_lines l ON l.id = rl.order_line_id WHERE rl.return_id = ?"
                        " ORDER BY rl.order_line_id");
    if (!st)
        return db_fail(db, pb, "reading the return");
    stmt_bind_i64(st, 1, in->id);
    while (n < RETURN_LINES_MAX) {
        rc = stmt_step(st);
        if (rc < 0) /* never a move over no lines: nothing restocked, nothing refunded */
            return db_fail(db, pb, "reading the return");
        if (rc != STMT_ROW)
            break;
        lines[n++] =
            (struct rline){stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 2), stmt_i64(st, 3),
                           stmt_i64(st, 4), stmt_i64(st, 5), stmt_i64(st, 6), stmt_i64(st, 7)};
    }

    const char *note = NULL;
    if (in->to == RET_RECEIVED && in->restock != 0) {
        for (int i = 0; i < n; i++)
            if (restock_line(db, order_id, &lines[i], pb) != SHOP_OK)
                return pb->err;
        j->restocked = n > 0;
        note = "restocked";
    } else if (in->to == RET_RECEIVED) {
        note = "not restocked";
    }
    if (in->to == RET_REJECTED && from != RET_INSPECTED) {
        /* Never received: the units may be returned again. */
        for (int i = 0; i < n; i++) {
            st = db_prepare(db, "UPDATE order_lines SET returned_qty = returned_qty - ?1"
                                " WHERE id = ?2 AND returned_qty >= ?1");
            if (!st)
                return db_fail(db, pb, "releasing the units");
            stmt_bind_i64(st, 1, lines[i].q);
            stmt_bind_i64(st, 2, lines[i].line);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "releasing the units");
        }
    }
    if (refunding) {
        /* The most it can be (returns.h): these units' shares, counted after
         * the line's units refunded before, so the pieces add up. */
        int64_t most = 0, weights[RETURN_LINES_MAX], parts[RETURN_LINES_MAX];
        for (int i = 0; i < n; i++) {
            int64_t done = refund_line_settled(db, order_id, lines[i].line, pb);
            if (done < 0)
                return pb->err;
            int64_t share = refund_line_share(lines[i].unit, lines[i].quantity, lines[i].discount,
                                              lines[i].tax, done, lines[i].q);
            int64_t paid = refund_line_share(lines[i].unit, lines[i].quantity, lines[i].discount,
                                             lines[i].tax, 0, lines[i].quantity);
            weights[i] = share < paid - lines[i].refunded ? share : paid - lines[i].refunded;
            if (weights[i] < 0)
                weights[i] = 0;
            most += weights[i];
        }
        st = db_prepare(db, "SELECT coalesce(sum(quantity - undelivered_qty - returned_qty), 0)"
                            " FROM order_lines WHERE order_id = ? AND status <> 'cancelled'");
        if (!st)
            return db_fail(db, pb, "reading the order");
        stmt_bind_i64(st, 1, order_id);
        rc = stmt_step(st);
        if (rc < 0)
            return db_fail(db, pb, "reading the order");
        if (rc == STMT_ROW && stmt_i64(st, 0) == 0)
            most += shipping; /* every unit is coming back */
        st = db_prepare(db, "SELECT total_cents - refunded_cents FROM orders WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "reading the order");
        stmt_bind_i64(st, 1, order_id);
        if (stmt_step(st) != STMT_ROW) /* the order is there: no row is a failed read */
            return db_fail(db, pb, "reading the order");
        int64_t order_left = stmt_i64(st, 0);
        if (most > order_left)
            most = order_left;
        int64_t amount = in->refund_cents >= 0 ? in->refund_cents : most;
        if (amount > most)
            return problem_field(pb, SHOP_INVALID, "refund_cents",
                                 "at most %lld can be refunded for this return", (long long)most);
        /* "refunded" says the return was paid back in full: a smaller
         * amount under that name would leave the customer short while the
         * return (and analytics) claim otherwise. */
        if (in->to == RET_REFUNDED && amount < most)
            return problem_field(pb, SHOP_INVALID, "refund_cents",
                                 "a full refund is %lld; use partially_refunded for less",
                                 (long long)most);
        if (in->to == RET_PARTIALLY_REFUNDED && amount >= most)
            return problem_field(pb, SHOP_INVALID, "refund_cents",
                                 "a partial refund is below %lld; use refunded", (long long)most);
        if (amount > 0) {
            pricing_allocate(amount, weights, n, parts);
            for (int i = 0; i < n; i++) {
                st = db_prepare(db, "UPDATE order_lines SET refunded_cents = refunded_cents + ?"
                                    " WHERE id = ?");
                if (!st)
                    return db_fail(db, pb, "recording the refund");
                stmt_bind_i64(st, 1, parts[i]);
                stmt_bind_i64(st, 2, lines[i].line);
                if (stmt_step(st) != STMT_DONE)
                    return db_fail(db, pb, "recording the refund");
            }
            struct refund_line rl[RETURN_LINES_MAX];
            for (int i = 0; i < n; i++)
                rl[i] = (struct refund_line){lines[i].line, parts[i]};
            struct refund_in r = {.order_id = order_id,
                                  .user_id = user,
                                  .amount = amount,
                                  .lines = rl,
                                  .nlines = n,
                                  .currency = currency,
                                  .reason = "return",
                                  .return_id = in->id,
                                  .now = j->now};
            if (refund_record(db, &r, &j->refund_id, pb) != SHOP_OK)
                return pb->err;
        }
        st = db_prepare(db, "UPDATE returns SET refund_cents = ?, refund_id = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "recording the refund");
        stmt_bind_i64(st, 1, amount);
        if (j->refund_id)
            stmt_bind_i64(st, 2, j->refund_id);
        else
            stmt_bind_null(st, 2);
        stmt_bind_i64(st, 3, in->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the refund");
    }
    if (status_move(db, &machine, in->id, from, (int)in->to, note, j->now, pb) != SHOP_OK)
        return pb->err;
    char topic[48];
    snprintf(topic, sizeof topic, "order.return_%s", return_status_name(in->to));
    return emit(db, topic, order_id, user, in->id, return_status_name(in->to), pb);
}

enum shop_err return_update(struct shop *shop, const struct return_update *in, struct problem *pb)
{
    struct update_job j = {.shop = shop, .in = in, .now = clock_now_ms()};
    if (store_write(shop->store, update_write, &j, pb) != SHOP_OK)
        return pb->err;
    if (j.refund_id)
        refund_send(shop, j.refund_id);
    if (j.restocked) {
        struct db *db = store_db(shop->store);
        int64_t products[64];
        int n = order_products(db, j.order_id, products, 64);
        db_release(db);
        for (int i = 0; i < n; i++)
            shop_product_changed(shop, products[i]);
    }
    return SHOP_OK;
}

/* ---- reads -------------------------------------------------------------------------- */

/* 1 with the return in *r, 0 when there is no such return, -1 when a read
 * failed (a failed step is not the end of its lines, refunds or history). */
static int read_rma(struct db *db, int64_t id, struct arena *a, struct rma *r)
{
    int rc;
    struct stmt *st = db_prepare(db, "SELECT order_id, user_id, status, reason, refund_cents,"
                                     " created_at, updated_at FROM returns WHERE id = ?");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, id);
    if ((rc = stmt_step(st)) != STMT_ROW)
        return rc == STMT_DONE ? 0 : -1;
    *r = (struct rma){.id = id,
                      .order_id = stmt_i64(st, 0),
                      .user_id = stmt_i64(st, 1),
                      .status = arena_strdup(a, stmt_text(st, 2)),
                      .reason = arena_strdup(a, stmt_text(st, 3)),
                      .refund_cents = stmt_i64(st, 4),
                      .created_at = stmt_i64(st, 5),
                      .updated_at = stmt_i64(st, 6)};
    r->lines = arena_alloc(a, sizeof *r->lines * RETURN_LINES_MAX);
    st = db_prepare(db, "SELECT order_line_id, quantity, unit_price_cents FROM return_lines"
                        " WHERE return_id = ? ORDER BY order_line_id");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, id);
    while (r->nlines < RETURN_LINES_MAX && (rc = stmt_step(st)) == STMT_ROW)
        r->lines[r->nlines++] =
            (struct return_line){stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 2)};
    if (rc != STMT_DONE && rc != STMT_ROW)
        return -1;
    r->refunds = arena_alloc(a, sizeof *r->refunds * 8);
    st = db_prepare(db, "SELECT id, amount_cents, status, created_at FROM refunds"
                        " WHERE return_id = ? ORDER BY id");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, id);
    while (r->nrefunds < 8 && (rc = stmt_step(st)) == STMT_ROW)
        r->refunds[r->nrefunds++] = (struct rma_refund){
            stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 3), arena_strdup(a, stmt_text(st, 2))};
    if (rc != STMT_DONE && rc != STMT_ROW)
        return -1;
    r->history = arena_alloc(a, sizeof *r->history * 16);
    st = db_prepare(db, "SELECT status, note, at FROM return_history WHERE return_id = ?"
                        " ORDER BY id");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, id);
    while (r->nhistory < 16 && (rc = stmt_step(st)) == STMT_ROW)
        r->history[r->nhistory++] = (struct rma_history){
            arena_strdup(a, stmt_text(st, 0)),
            stmt_is_null(st, 1) ? NULL : arena_strdup(a, stmt_text(st, 1)), stmt_i64(st, 2)};
    return rc == STMT_DONE || rc == STMT_ROW ? 1 : -1;
}

void return_as_created(struct rma *r)
{
    int k = r->nhistory > 0;
    if (r->nhistory > 1 && r->history[1].at == r->created_at &&
        !strcmp(r->history[1].status, return_status_name(RET_APPROVED)))
        k = 2;
    r->nhistory = k;
    if (k)
        r->status = r->history[k - 1].status;
    r->nrefunds = 0;
    r->refund_cents = 0;
    r->updated_at = r->created_at;
}

enum shop_err return_get(struct shop *shop, const struct principal *who, int64_t id,
                         struct arena *a, struct rma *out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int found = read_rma(db, id, a, out);
    if (found < 0)
        db_fail(db, pb, "reading the return");
    db_read_end(db);
    db_release(db);
    if (found < 0)
        return pb->err;
    if (!found || (who->role != ROLE_ADMIN && out->user_id != who->user_id))
        return problem_set(pb, SHOP_NOT_FOUND, "no return %lld", (long long)id);
    return SHOP_OK;
}

enum shop_err return_list(struct shop *shop, const struct principal *who, bool mine,
                          const char *status, int limit, const char *cursor, struct arena *a,
                          struct rma **out, int *n, int64_t *next, struct problem *pb)
{
    *n = 0;
    *next = 0;
    if (status && return_status_parse(status) < 0)
        return problem_field(pb, SHOP_INVALID, "status", "is not a return status");
    int64_t from = mine ? INT64_MAX : 0;
    if (cursor) {
        char *end;
        long long v = strtoll(cursor, &end, 10);
        if (!*cursor || *end || v <= 0)
            return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
        from = v;
    }
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    struct stmt *st;
    if (mine) {
        st = db_prepare(db, "SELECT id FROM returns WHERE user_id = ? AND id < ?"
                            " ORDER BY id DESC LIMIT ?");
        if (st) {
            stmt_bind_i64(st, 1, who->user_id);
            stmt_bind_i64(st, 2, from);
            stmt_bind_i64(st, 3, limit + 1);
        }
    } else if (status) {
        st = db_prepare(db, "SELECT id FROM returns WHERE status = ? AND id > ?"
                            " ORDER BY status, id LIMIT ?");
        if (st) {
            stmt_bind_text(st, 1, status);
            stmt_bind_i64(st, 2, from);
            stmt_bind_i64(st, 3, limit + 1);
        }
    } else {
        st = db_prepare(db, "SELECT id FROM returns WHERE id > ? ORDER BY id LIMIT ?");
        if (st) {
            stmt_bind_i64(st, 1, from);
            stmt_bind_i64(st, 2, limit + 1);
        }
    }
    int64_t ids[101];
    int k = 0, rc = STMT_ERROR;
    while (st && k <= limit && k < 101 && (rc = stmt_step(st)) == STMT_ROW)
        ids[k++] = stmt_i64(st, 0);
    /* STMT_ROW: stopped at limit + 1; a return read just now, in this
     * transaction, that does not read back is a failed read too. */
    bool failed = rc != STMT_DONE && rc != STMT_ROW;
    *out = arena_alloc(a, sizeof **out * (size_t)(k + 1));
    for (int i = 0; !failed && i < k && i < limit; i++)
        if (read_rma(db, ids[i], a, &(*out)[*n]) == 1)
            (*n)++;
        else
            failed = true;
    if (failed) {
        *n = 0;
        db_fail(db, pb, "listing the returns");
    }
    if (k > limit)
        *next = ids[limit - 1];
    db_read_end(db);
    db_release(db);
    return failed ? pb->err : SHOP_OK;
}
