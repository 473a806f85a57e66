/* shipment.c — shipments: reads, the state machine and its effects, and
 * the order status derived from them. shipment.h is the essay; fulfil.c
 * creates shipments. */
#include "shop/shipment.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/account.h"
#include "shop/changes.h"
#include "shop/order.h"
#include "shop/outbox.h"
#include "shop/refund.h"
#include "shop/reservation.h"
#include "shop/shop.h"
#include "shop/status.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"

static const char *const names[SHIP_STATUS_COUNT] = {
    [SHIP_LABEL_CREATED] = "label_created",       [SHIP_IN_TRANSIT] = "in_transit",
    [SHIP_OUT_FOR_DELIVERY] = "out_for_delivery", [SHIP_DELIVERED] = "delivered",
    [SHIP_DELIVERY_FAILED] = "delivery_failed",   [SHIP_RETURNED_TO_SENDER] = "returned_to_sender",
};

#define BIT(s) (1u << (s))
static const unsigned allowed[SHIP_STATUS_COUNT] = {
    [SHIP_LABEL_CREATED] = BIT(SHIP_IN_TRANSIT),
    [SHIP_IN_TRANSIT] =
        BIT(SHIP_OUT_FOR_DELIVERY) | BIT(SHIP_DELIVERED) | BIT(SHIP_DELIVERY_FAILED),
    [SHIP_OUT_FOR_DELIVERY] = BIT(SHIP_DELIVERED) | BIT(SHIP_DELIVERY_FAILED),
    [SHIP_DELIVERY_FAILED] = BIT(SHIP_OUT_FOR_DELIVERY) | BIT(SHIP_RETURNED_TO_SENDER),
    [SHIP_DELIVERED] = 0,
    [SHIP_RETURNED_TO_SENDER] = 0,
};

/* Its states and moves; shipment_move writes the move itself (its
 * events carry a detail and a callback's key). */
static const struct status_machine machine = {"shipment", names, SHIP_STATUS_COUNT,
                                              allowed,    NULL,  NULL};

const char *shipment_status_name(enum shipment_status s)
{
    return status_name(&machine, (int)s);
}

int shipment_status_parse(const char *s)
{
    return status_parse(&machine, s);
}

bool shipment_move_allowed(enum shipment_status from, enum shipment_status to)
{
    return status_allowed(&machine, (int)from, (int)to);
}

/* A shipment that has left the warehouse. */
static bool departed(int s)
{
    return s == SHIP_IN_TRANSIT || s == SHIP_OUT_FOR_DELIVERY || s == SHIP_DELIVERY_FAILED ||
           s == SHIP_DELIVERED;
}

/* ---- reads ------------------------------------------------------------------- */

#define SHIPMENT_COLUMNS                                                                           \
    "s.id, s.order_id, s.warehouse_id, coalesce(s.seller_id, 0), s.carrier, s.service,"            \
    " s.tracking_number, s.status, s.attempts, s.created_at, s.updated_at,"                        \
    " coalesce(s.delivered_at, 0), o.user_id"

static void row_to_shipment(struct stmt *st, struct arena *a, struct shipment *s)
{
    *s = (struct shipment){
        .id = stmt_i64(st, 0),
        .order_id = stmt_i64(st, 1),
        .warehouse_id = stmt_i64(st, 2),
        .seller_id = stmt_i64(st, 3),
        .carrier = arena_strdup(a, stmt_text(st, 4)),
        .service = arena_strdup(a, stmt_text(st, 5)),
        .tracking_number = stmt_is_null(st, 6) ? NULL : arena_strdup(a, stmt_text(st, 6)),
        .status = arena_strdup(a, stmt_text(st, 7)),
        .attempts = stmt_i64(st, 8),
        .created_at = stmt_i64(st, 9),
        .updated_at = stmt_i64(st, 10),
        .delivered_at = stmt_i64(st, 11),
        .user_id = stmt_i64(st, 12),
    };
}

/* Its lines and events. */
static bool read_parts(struct db *db, struct arena *a, struct shipment *s)
{
    struct stmt *st = db_prepare(db, "SELECT count(*) FROM shipment_lines WHERE shipment_id = ?");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, s->id);
    int n = stmt_step(st) == STMT_ROW ? (int)stmt_i64(st, 0) : 0;
    s->lines = arena_alloc(a, sizeof *s->lines * (size_t)(n + 1));
    st = db_prepare(db, "SELECT order_line_id, variant_id, quantity FROM shipment_lines"
                        " WHERE shipment_id = ? ORDER BY order_line_id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, s->id);
    while (s->nlines < n && stmt_step(st) == STMT_ROW)
        s->lines[s->nlines++] =
            (struct shipment_line){stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 2)};
    st = db_prepare(db, "SELECT count(*) FROM shipment_events WHERE shipment_id = ?");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, s->id);
    n = stmt_step(st) == STMT_ROW ? (int)stmt_i64(st, 0) : 0;
    s->events = arena_alloc(a, sizeof *s->events * (size_t)(n + 1));
    st = db_prepare(db, "SELECT status, detail, at FROM shipment_events WHERE shipment_id = ?"
                        " ORDER BY id");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, s->id);
    while (s->nevents < n && stmt_step(st) == STMT_ROW)
        s->events[s->nevents++] = (struct shipment_event){
            arena_strdup(a, stmt_text(st, 0)),
            stmt_is_null(st, 1) ? NULL : arena_strdup(a, stmt_text(st, 1)), stmt_i64(st, 2)};
    return true;
}

enum shop_err shipment_read(struct db *db, int64_t id, struct arena *a, struct shipment *out,
                            struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT " SHIPMENT_COLUMNS " FROM shipments s"
                                     " JOIN orders o ON o.id = s.order_id WHERE s.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the shipment");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no shipment %lld", (long long)id);
    row_to_shipment(st, a, out);
    return read_parts(db, a, out) ? SHOP_OK : db_fail(db, pb, "reading the shipment");
}

int shipment_list(struct db *db, int64_t order_id, int64_t seller_id, struct arena *a,
                  struct shipment **out)
{
    struct stmt *st = db_prepare(db, "SELECT count(*) FROM shipments WHERE order_id = ?");
    if (!st)
        return 0;
    stmt_bind_i64(st, 1, order_id);
    int max = stmt_step(st) == STMT_ROW ? (int)stmt_i64(st, 0) : 0, n = 0;
    *out = arena_alloc(a, sizeof **out * (size_t)(max + 1));
    st = db_prepare(db, "SELECT " SHIPMENT_COLUMNS " FROM shipments s JOIN orders o"
                        " ON o.id = s.order_id WHERE s.order_id = ? ORDER BY s.id");
    if (!st)
        return 0;
    stmt_bind_i64(st, 1, order_id);
    while (n < max && stmt_step(st) == STMT_ROW) {
        row_to_shipment(st, a, &(*out)[n]);
        if (seller_id <= 0 || (*out)[n].seller_id == seller_id)
            n++;
    }
    for (int i = 0; i < n; i++)
        read_parts(db, a, &(*out)[i]);
    return n;
}

/* A seller's part of a parcel an admin packed (every seller's lines from one
 * warehouse): their own lines only, found with one read of the order's
 * lines. The number kept, or -1 when the read failed. */
static int keep_sellers_lines(struct db *db, int64_t seller_id, struct arena *a,
                              struct shipment *s)
{
    bool *mine = arena_alloc(a, sizeof *mine * (size_t)(s->nlines + 1));
    memset(mine, 0, sizeof *mine * (size_t)(s->nlines + 1));
    struct stmt *st =
        db_prepare(db, "SELECT id FROM order_lines WHERE order_id = ? AND seller_id = ?");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, s->order_id);
    stmt_bind_i64(st, 2, seller_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW)
        for (int k = 0; k < s->nlines; k++)
            mine[k] = mine[k] || s->lines[k].order_line_id == stmt_i64(st, 0);
    if (rc != STMT_DONE)
        return -1;
    int kept = 0;
    for (int k = 0; k < s->nlines; k++)
        if (mine[k])
            s->lines[kept++] = s->lines[k];
    s->nlines = kept;
    return kept;
}

enum shop_err shipment_get(struct shop *shop, const struct principal *who, int64_t id,
                           struct arena *a, struct shipment *out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    enum shop_err e = shipment_read(db, id, a, out, pb);
    bool visible = e == SHOP_OK &&
                   (who->role == ROLE_ADMIN || out->user_id == who->user_id ||
                    (who->role == ROLE_SELLER && out->seller_id == who->user_id));
    if (e == SHOP_OK && !visible && who->role == ROLE_SELLER && out->seller_id == 0) {
        int kept = keep_sellers_lines(db, who->user_id, a, out);
        if (kept < 0)
            e = db_fail(db, pb, "reading the shipment");
        visible = kept > 0;
    }
    db_read_end(db);
    db_release(db);
    if (e == SHOP_OK && !visible) {
        problem_clear(pb);
        return problem_set(pb, SHOP_NOT_FOUND, "no shipment %lld", (long long)id);
    }
    return e;
}

/* ---- the order's status ------------------------------------------------------------ */

enum shop_err order_status_sync(struct db *db, int64_t order_id, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT status FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, order_id);
    int rc = stmt_step(st);
    if (rc == STMT_DONE)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)order_id);
    if (rc != STMT_ROW) /* a failed read is not "no order": the caller may try again */
        return db_fail(db, pb, "reading the order");
    int from = order_status_parse(stmt_text(st, 0));
    if (from != ORDER_PAID && from != ORDER_FULFILLING && from != ORDER_PARTIALLY_SHIPPED &&
        from != ORDER_SHIPPED && from != ORDER_DELIVERED)
        return SHOP_OK;

    /* Units still to deliver, and units that came back. */
    int64_t need = 0, back = 0;
    st = db_prepare(db, "SELECT quantity - undelivered_qty, undelivered_qty FROM order_lines"
                        " WHERE order_id = ? AND status <> 'cancelled'");
    if (!st)
        return db_fail(db, pb, "reading the order lines");
    stmt_bind_i64(st, 1, order_id);
    while ((rc = stmt_step(st)) == STMT_ROW) {
        need += stmt_i64(st, 0);
        back += stmt_i64(st, 1);
    }
    if (rc != STMT_DONE)
        return db_fail(db, pb, "reading the order lines");
    /* Units by where their shipment is. */
    int64_t left = 0, arrived = 0, shipments = 0;
    st = db_prepare(db, "SELECT s.status, coalesce(sum(l.quantity), 0) FROM shipments s"
                        " JOIN shipment_lines l ON l.shipment_id = s.id WHERE s.order_id = ?"
                        " GROUP BY s.id, s.status");
    if (!st)
        return db_fail(db, pb, "reading the shipments");
    stmt_bind_i64(st, 1, order_id);
    while ((rc = stmt_step(st)) == STMT_ROW) {
        int s = shipment_status_parse(stmt_text(st, 0));
        int64_t q = stmt_i64(st, 1);
        if (s == SHIP_RETURNED_TO_SENDER)
            continue;
        shipments++;
        if (departed(s))
            left += q;
        if (s == SHIP_DELIVERED)
            arrived += q;
    }
    if (rc != STMT_DONE)
        return db_fail(db, pb, "reading the shipments");
    enum order_status to;
    if (need <= 0)
        to = back > 0 ? ORDER_CANCELLED : (enum order_status)from;
    else if (arrived >= need)
        to = ORDER_DELIVERED;
    else if (left >= need)
        to = ORDER_SHIPPED;
    else if (left > 0)
        to = ORDER_PARTIALLY_SHIPPED;
    else if (shipments > 0)
        to = ORDER_FULFILLING;
    else
        to = ORDER_PAID;
    if (to == (enum order_status)from)
        return SHOP_OK;
    return order_set_status(db, order_id, (enum order_status)from, to,
                            to == ORDER_CANCELLED ? "nothing left to deliver" : "from shipments",
                            pb);
}

/* ---- moves ------------------------------------------------------------------------ */

struct move_job {
    const struct shipment_move_in *in;
    int64_t now;
    int64_t id;        /* out */
    bool changed;      /* out */
    int64_t refund_id; /* out: a parcel back to the sender was refunded */
    int64_t order_id;  /* out */
};

static enum shop_err append_event(struct db *db, int64_t shipment_id, const char *status,
                                  const char *detail, int64_t at, const char *key,
                                  struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO shipment_events (shipment_id, status, detail,"
                                     " at, event_key) VALUES (?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording a shipment event");
    stmt_bind_i64(st, 1, shipment_id);
    stmt_bind_text(st, 2, status);
    if (detail)
        stmt_bind_text(st, 3, detail);
    else
        stmt_bind_null(st, 3);
    stmt_bind_i64(st, 4, at);
    if (key)
        stmt_bind_text(st, 5, key);
    else
        stmt_bind_null(st, 5);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording a shipment event");
}

/* The units of a shipment came back: restock them where they left from,
 * mark them undelivered, and refund them once (the shipping too when
 * nothing of the order is left to deliver). */
static enum shop_err back_to_sender(struct db *db, struct move_job *j, int64_t shipment_id,
                                    int64_t order_id, int64_t warehouse_id, struct problem *pb)
{
    struct {
        int64_t line, variant, q, quantity, unit, tax, discount;
    } rows[128];
    int n = 0;
    struct stmt *st = db_prepare(
        db, "SELECT sl.order_line_id, sl.variant_id, sl.quantity, ol.quantity,"
            " ol.unit_price_cents, ol.tax_cents, ol.discount_cents FROM shipment_lines sl"
            " JOIN order_lines ol"
            " ON ol.id = sl.order_line_id WHERE sl.shipment_id = ? ORDER BY sl.order_line_id");
    if (!st)
        return db_fail(db, pb, "reading the shipment");
    stmt_bind_i64(st, 1, shipment_id);
    while (n < 128 && stmt_step(st) == STMT_ROW) {
        rows[n].line = stmt_i64(st, 0);
        rows[n].variant = stmt_i64(st, 1);
        rows[n].q = stmt_i64(st, 2);
        rows[n].quantity = stmt_i64(st, 3);
        rows[n].unit = stmt_i64(st, 4);
        rows[n].tax = stmt_i64(st, 5);
        rows[n].discount = stmt_i64(st, 6);
        n++;
    }
    /* What the order's lines were refunded is read below, after the lock. */
    if (refund_lock(db, order_id, pb) != SHOP_OK)
        return pb->err;
    int64_t amount = 0;
    struct refund_line rl[128];
    for (int i = 0; i < n; i++) {
        if (reservation_return(db, order_id, rows[i].variant, warehouse_id, rows[i].q, 0, pb) !=
            SHOP_OK)
            return pb->err;
        /* What these units were paid, after the line's discount, with
         * their share of its tax, counted after the line's units refunded
         * before (refund_line_share). */
        int64_t done = refund_line_settled(db, order_id, rows[i].line, pb);
        if (done < 0)
            return pb->err;
        int64_t share = refund_line_share(rows[i].unit, rows[i].quantity, rows[i].discount,
                                          rows[i].tax, done, rows[i].q);
        st = db_prepare(db, "UPDATE order_lines SET undelivered_qty = undelivered_qty + ?,"
                            " refunded_cents = refunded_cents + ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "recording undelivered units");
        stmt_bind_i64(st, 1, rows[i].q);
        stmt_bind_i64(st, 2, share);
        stmt_bind_i64(st, 3, rows[i].line);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording undelivered units");
        amount += share;
        rl[i] = (struct refund_line){rows[i].line, share};
    }
    /* Whatever of the order the buyer keeps decides the shipping: units
     * neither back to the sender nor in returns — as a return's refund
     * counts them (returns.c), so the order comes to the same refund
     * whichever of the two comes back first. */
    struct stmt *o = db_prepare(
        db, "SELECT o.user_id, o.currency, o.total_cents - o.refunded_cents, o.shipping_cents,"
            " (SELECT coalesce(sum(quantity - undelivered_qty - returned_qty), 0)"
            " FROM order_lines WHERE order_id = o.id AND status <> 'cancelled')"
            " FROM orders o WHERE o.id = ?");
    if (!o)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(o, 1, order_id);
    if (stmt_step(o) != STMT_ROW)
        return db_fail(db, pb, "reading the order");
    int64_t user = stmt_i64(o, 0), refundable = stmt_i64(o, 2), shipping = stmt_i64(o, 3),
            still = stmt_i64(o, 4);
    char currency[4];
    snprintf(currency, sizeof currency, "%s", stmt_text(o, 1));
    if (still == 0)
        amount += shipping; /* nothing is kept: the shipping goes back too */
    if (amount > refundable)
        amount = refundable;
    if (amount <= 0)
        return SHOP_OK;
    struct refund_in r = {.order_id = order_id,
                          .user_id = user,
                          .amount = amount,
                          .lines = rl,
                          .nlines = n,
                          .currency = currency,
                          .reason = "undelivered",
                          .now = j->now};
    return refund_record(db, &r, &j->refund_id, pb);
}

/* When a move happened: the carrier's `at` (0: none, so `now`), refused
 * beyond SHIPMENT_AT_SKEW_MS outside [created, now] and moved into it
 * within that skew (shipment.h). */
static enum shop_err event_time(int64_t at, int64_t created, int64_t now, int64_t *out,
                                struct problem *pb)
{
    char ts[RFC3339_LEN];
    *out = now;
    if (!at)
        return SHOP_OK;
    if (at > now + SHIPMENT_AT_SKEW_MS)
        return problem_field(pb, SHOP_INVALID, "at",
                             "is more than %d minutes ahead of the shop's clock (%s)",
                             (int)(SHIPMENT_AT_SKEW_MS / 60000), clock_fmt(now, ts));
    if (at < created - SHIPMENT_AT_SKEW_MS)
        return problem_field(pb, SHOP_INVALID, "at", "is before the shipment was created (%s)",
                             clock_fmt(created, ts));
    *out = at < created ? created : at;
    if (*out > now)
        *out = now;
    return SHOP_OK;
}

/* Whether the shipment has an event of status `s`: it went through it. */
static enum shop_err went_through(struct db *db, int64_t shipment_id, enum shipment_status s,
                                  bool *out, struct problem *pb)
{
    struct stmt *st =
        db_prepare(db, "SELECT 1 FROM shipment_events WHERE shipment_id = ? AND status = ?");
    if (!st)
        return db_fail(db, pb, "reading shipment events");
    stmt_bind_i64(st, 1, shipment_id);
    stmt_bind_text(st, 2, shipment_status_name(s));
    int rc = stmt_step(st);
    if (rc != STMT_ROW && rc != STMT_DONE)
        return db_fail(db, pb, "reading shipment events");
    *out = rc == STMT_ROW;
    return SHOP_OK;
}

/* Whether a callback's event is recorded: under `event_key`, or under
 * `replay_key` (NULL: none). */
static enum shop_err event_seen(struct db *db, const char *event_key, const char *replay_key,
                                bool *out, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT 1 FROM shipment_events WHERE event_key IN (?, ?)");
    if (!st)
        return db_fail(db, pb, "reading shipment events");
    stmt_bind_text(st, 1, event_key);
    stmt_bind_text(st, 2, replay_key ? replay_key : event_key);
    int rc = stmt_step(st);
    if (rc != STMT_ROW && rc != STMT_DONE)
        return db_fail(db, pb, "reading shipment events");
    *out = rc == STMT_ROW;
    return SHOP_OK;
}

/* Whether a carrier's callback is already in the shipment: its event (by
 * key), or the shipment is at or past its status. */
static enum shop_err carrier_seen(struct db *db, int64_t shipment_id, const char *event_key,
                                  const char *replay_key, enum shipment_status to, bool *out,
                                  struct problem *pb)
{
    *out = false;
    if (event_key && (event_seen(db, event_key, replay_key, out, pb) != SHOP_OK || *out))
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT status FROM shipments WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the shipment");
    stmt_bind_i64(st, 1, shipment_id);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading the shipment");
    int now = shipment_status_parse(stmt_text(st, 0));
    if (now == (int)to) {
        *out = true;
        return SHOP_OK;
    }
    if (now >= 0 && shipment_move_allowed((enum shipment_status)now, to))
        return SHOP_OK; /* still to come: the caller's move lost a race, a conflict */
    return went_through(db, shipment_id, to, out, pb);
}

static enum shop_err move_write(struct db *db, void *arg, struct problem *pb)
{
    struct move_job *j = arg;
    const struct shipment_move_in *in = j->in;
    j->changed = false;
    j->refund_id = 0;
    struct stmt *st = db_prepare(
        db, in->tracking ? "SELECT s.id, s.order_id, s.warehouse_id, s.status, s.failures,"
                           " o.user_id, coalesce(s.tracking_number, ''), s.attempts, s.created_at"
                           " FROM shipments s JOIN orders o ON o.id = s.order_id"
                           " WHERE s.tracking_number = ?"
                         : "SELECT s.id, s.order_id, s.warehouse_id, s.status, s.failures,"
                           " o.user_id, coalesce(s.tracking_number, ''), s.attempts, s.created_at"
                           " FROM shipments s JOIN orders o ON o.id = s.order_id WHERE s.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the shipment");
    if (in->tracking)
        stmt_bind_text(st, 1, in->tracking);
    else
        stmt_bind_i64(st, 1, in->shipment_id);
    if (stmt_step(st) != STMT_ROW)
        return in->tracking ? problem_set(pb, SHOP_NOT_FOUND, "no shipment has tracking number %s",
                                          in->tracking)
                            : problem_set(pb, SHOP_NOT_FOUND, "no shipment %lld",
                                          (long long)in->shipment_id);
    j->id = stmt_i64(st, 0);
    j->order_id = stmt_i64(st, 1);
    int64_t warehouse = stmt_i64(st, 2), failures = stmt_i64(st, 4), user = stmt_i64(st, 5);
    int from = shipment_status_parse(stmt_text(st, 3));
    char tracking[32];
    snprintf(tracking, sizeof tracking, "%s", stmt_text(st, 6));
    /* A callback's identity: its digest, and for one without a time of its
     * own the attempt and failure counts it came at — a second failed
     * delivery can have the first one's bytes. Its replay comes when those
     * counts have moved by the event itself: that key is looked for too. */
    int64_t attempts = stmt_i64(st, 7), created = stmt_i64(st, 8);
    char key[96], prev[96];
    const char *event_key = in->event_key, *replay_key = NULL;
    if (event_key && in->by_attempt) {
        snprintf(key, sizeof key, "%s:%lld:%lld", event_key, (long long)attempts,
                 (long long)failures);
        int64_t a = attempts - (in->to == SHIP_OUT_FOR_DELIVERY),
                f = failures - (in->to == SHIP_DELIVERY_FAILED);
        if ((a != attempts || f != failures) && a >= 0 && f >= 0) {
            snprintf(prev, sizeof prev, "%s:%lld:%lld", event_key, (long long)a, (long long)f);
            replay_key = prev;
        }
        event_key = key;
    }

    /* A callback seen before, or one telling what the shipment already
     * is, changes nothing. */
    bool seen = false;
    if (event_key && (event_seen(db, event_key, replay_key, &seen, pb) != SHOP_OK || seen))
        return pb->err;
    int64_t at;
    if (event_time(in->at, created, j->now, &at, pb) != SHOP_OK)
        return pb->err;
    if (in->from_carrier && from == (int)in->to)
        return SHOP_OK;
    if (in->from_carrier && from >= 0 &&
        !shipment_move_allowed((enum shipment_status)from, in->to)) {
        bool passed = false;
        if (went_through(db, j->id, in->to, &passed, pb) != SHOP_OK)
            return pb->err;
        if (passed) /* a late or retried callback: the shipment is past it */
            return SHOP_OK;
    }
    if (from < 0 || !shipment_move_allowed((enum shipment_status)from, in->to))
        return problem_field(pb, SHOP_CONFLICT, "status", "a shipment that is %s cannot become %s",
                             shipment_status_name((enum shipment_status)(from < 0 ? 0 : from)),
                             shipment_status_name(in->to));
    if (from == SHIP_LABEL_CREATED && !*tracking)
        return problem_set(pb, SHOP_CONFLICT, "the shipment has no label yet");

    enum shipment_status to = in->to;
    bool failed = to == SHIP_DELIVERY_FAILED;
    bool rts = failed && failures + 1 >= SHIPMENT_MAX_FAILURES;
    st =
        db_prepare(db, "UPDATE shipments SET status = ?1, updated_at = ?2,"
                       " attempts = attempts + CASE WHEN ?1 = 'out_for_delivery' THEN 1 ELSE 0 END,"
                       " failures = failures + CASE WHEN ?1 = 'delivery_failed' THEN 1 ELSE 0 END,"
                       " delivered_at = CASE WHEN ?1 = 'delivered' THEN ?3 ELSE delivered_at END"
                       " WHERE id = ?4 AND status = ?5");
    if (!st)
        return db_fail(db, pb, "moving the shipment");
    stmt_bind_text(st, 1, shipment_status_name(to));
    stmt_bind_i64(st, 2, j->now);
    stmt_bind_i64(st, 3, at);
    stmt_bind_i64(st, 4, j->id);
    stmt_bind_text(st, 5, shipment_status_name((enum shipment_status)from));
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "moving the shipment");
    if (db_changes(db) != 1) {
        /* On PostgreSQL the same callback, sent twice at once, reads the
         * shipment side by side; the second's UPDATE finds it moved by the
         * first. That is a replay (API.md: 204, changes nothing), not a
         * conflict: this statement sees what the first committed. */
        seen = false;
        if (in->from_carrier &&
            carrier_seen(db, j->id, event_key, replay_key, in->to, &seen, pb) != SHOP_OK)
            return pb->err;
        if (seen)
            return SHOP_OK;
        return problem_set(pb, SHOP_CONFLICT, "the shipment changed meanwhile");
    }
    if (append_event(db, j->id, shipment_status_name(to), in->detail, at, event_key, pb))
        return pb->err;
    if (rts) { /* the third failure: back to the sender */
        to = SHIP_RETURNED_TO_SENDER;
        st = db_prepare(db, "UPDATE shipments SET status = 'returned_to_sender' WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "moving the shipment");
        stmt_bind_i64(st, 1, j->id);
        if (stmt_step(st) != STMT_DONE ||
            append_event(db, j->id, "returned_to_sender", "three delivery attempts failed", at,
                         NULL, pb))
            return pb->err ? pb->err : db_fail(db, pb, "moving the shipment");
    }
    if (to == SHIP_DELIVERED || to == SHIP_RETURNED_TO_SENDER) {
        st = db_prepare(db, "UPDATE warehouses SET open_shipments = open_shipments - 1"
                            " WHERE id = ? AND open_shipments > 0");
        if (!st)
            return db_fail(db, pb, "counting open shipments");
        stmt_bind_i64(st, 1, warehouse);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "counting open shipments");
    }
    if (to == SHIP_DELIVERED) { /* the units reached the buyer: returnable from now */
        st = db_prepare(db, "UPDATE order_lines SET delivered_qty = delivered_qty +"
                            " (SELECT quantity FROM shipment_lines WHERE shipment_id = ?1"
                            " AND order_line_id = order_lines.id) WHERE id IN"
                            " (SELECT order_line_id FROM shipment_lines WHERE shipment_id = ?1)");
        if (!st)
            return db_fail(db, pb, "recording the delivery");
        stmt_bind_i64(st, 1, j->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the delivery");
    }
    if (to == SHIP_RETURNED_TO_SENDER &&
        back_to_sender(db, j, j->id, j->order_id, warehouse, pb) != SHOP_OK)
        return pb->err;
    j->changed = true;
    static const char *const topics[SHIP_STATUS_COUNT] = {
        [SHIP_IN_TRANSIT] = "order.shipped",
        [SHIP_OUT_FOR_DELIVERY] = "order.out_for_delivery",
        [SHIP_DELIVERED] = "order.delivered",
        [SHIP_DELIVERY_FAILED] = "order.delivery_failed",
        [SHIP_RETURNED_TO_SENDER] = "order.returned_to_sender",
    };
    /* The third failure's news is the return to the sender (the refund),
     * not a failure the carrier would try again. */
    const char *topic = topics[failed && !rts ? SHIP_DELIVERY_FAILED : to];
    if (topic &&
        outbox_emit(db, topic, j->order_id,
                    json_pack("{s:I, s:I, s:I, s:s, s:s}", "order_id", (json_int_t)j->order_id,
                              "user_id", (json_int_t)user, "shipment_id", (json_int_t)j->id,
                              "tracking_number", tracking, "status", shipment_status_name(to)),
                    pb) != SHOP_OK)
        return pb->err;
    return order_status_sync(db, j->order_id, pb);
}

enum shop_err shipment_move(struct shop *shop, const struct shipment_move_in *in, int64_t *id,
                            bool *changed, struct problem *pb)
{
    struct move_job j = {.in = in, .now = clock_now_ms()};
    if (store_write(shop->store, move_write, &j, pb) != SHOP_OK)
        return pb->err;
    if (j.refund_id)
        refund_send(shop, j.refund_id);
    if (j.refund_id) { /* units went back into stock */
        struct db *db = store_db(shop->store);
        int64_t products[64];
        int n = order_products(db, j.order_id, products, 64);
        db_release(db);
        for (int i = 0; i < n; i++)
            shop_product_changed(shop, products[i]);
    }
    *id = j.id;
    *changed = j.changed;
    return SHOP_OK;
}

/* ---- as JSON ------------------------------------------------------------------- */

json_t *shipment_json(const struct shipment *s)
{
    char ts[RFC3339_LEN];
    json_t *lines = json_array(), *events = json_array();
    for (int i = 0; i < s->nlines; i++)
        json_array_append_new(lines, json_pack("{s:I, s:I, s:I}", "order_line_id",
                                               (json_int_t)s->lines[i].order_line_id, "variant_id",
                                               (json_int_t)s->lines[i].variant_id, "quantity",
                                               (json_int_t)s->lines[i].quantity));
    for (int i = 0; i < s->nevents; i++)
        json_array_append_new(events, json_pack("{s:s, s:s, s:s?}", "status", s->events[i].status,
                                                "at", clock_fmt(s->events[i].at, ts), "detail",
                                                s->events[i].detail));
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s?, s:s, s:I, s:o, s:o, s:s}", "id",
                          (json_int_t)s->id, "order_id", (json_int_t)s->order_id, "warehouse_id",
                          (json_int_t)s->warehouse_id, "carrier", s->carrier, "service", s->service,
                          "tracking_number", s->tracking_number, "status", s->status, "attempts",
                          (json_int_t)s->attempts, "lines", lines, "events", events, "created_at",
                          clock_fmt(s->created_at, ts));
    json_object_set_new(o, "seller_id", s->seller_id ? json_integer(s->seller_id) : json_null());
    json_object_set_new(o, "delivered_at",
                        s->delivered_at ? json_string(clock_fmt(s->delivered_at, ts))
                                        : json_null());
    return o;
}

/* ---- the callbacks' key --------------------------------------------------------- */

enum shop_err carrier_secret_load(struct shop *shop, struct problem *pb)
{
    if (shop->cfg.carrier_secret[0])
        return SHOP_OK;
    char hex[65];
    if (shop_secret(shop, "carrier_secret", hex, pb) != SHOP_OK)
        return pb->err;
    snprintf(shop->cfg.carrier_secret, sizeof shop->cfg.carrier_secret, "%s", hex);
    return SHOP_OK;
}
