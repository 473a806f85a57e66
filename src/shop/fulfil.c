/* fulfil.c — shipping what is shippable of a paid order: plan and record
 * the shipments, get their labels, keep the answer for the key. The steps
 * and their invariants are in shipment.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext/carrier.h"
#include "shop/account.h"
#include "shop/geo.h"
#include "shop/order.h"
#include "shop/reservation.h"
#include "shop/shipment.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/log.h"
#include "util/xalloc.h"

#define FULFIL_LINES_MAX      100
#define FULFIL_WAREHOUSES_MAX 64

struct parcel_to {
    char name[256], line1[256], line2[256], city[256], postal[32], country[4], service[16];
};

/* Where an order's parcels go, from the columns shipping_method, ship_name,
 * ship_line1, coalesce(ship_line2, ''), ship_city, ship_postal,
 * ship_country, starting at column `c`. */
static void parcel_read(struct stmt *st, int c, struct parcel_to *t)
{
    snprintf(t->service, sizeof t->service, "%s", stmt_text(st, c));
    snprintf(t->name, sizeof t->name, "%s", stmt_text(st, c + 1));
    snprintf(t->line1, sizeof t->line1, "%s", stmt_text(st, c + 2));
    snprintf(t->line2, sizeof t->line2, "%s", stmt_text(st, c + 3));
    snprintf(t->city, sizeof t->city, "%s", stmt_text(st, c + 4));
    snprintf(t->postal, sizeof t->postal, "%s", stmt_text(st, c + 5));
    snprintf(t->country, sizeof t->country, "%s", stmt_text(st, c + 6));
}

struct group { /* one warehouse's part: a shipment */
    int64_t warehouse_id, shipment_id;
    struct {
        int64_t line, variant, q;
    } lines[FULFIL_LINES_MAX];
    int n;
};

struct fulfil_job {
    struct shop *shop;
    const struct principal *who;
    bool as_seller;
    int64_t order_id, now;
    const char *key;
    struct fulfil_result *res; /* out */
    struct parcel_to to;       /* out: where the parcels go */
    struct group *groups;      /* FULFIL_WAREHOUSES_MAX */
    int ngroups;
};

static int64_t scope_of(const struct fulfil_job *j)
{
    return j->as_seller ? j->who->user_id : 0;
}

/* Adds `q` units of a line to the warehouse's group. */
static bool group_add(struct fulfil_job *j, int64_t wh, int64_t line, int64_t variant, int64_t q)
{
    int g = 0;
    while (g < j->ngroups && j->groups[g].warehouse_id != wh)
        g++;
    if (g == j->ngroups) {
        if (g == FULFIL_WAREHOUSES_MAX)
            return false;
        j->groups[j->ngroups++] = (struct group){.warehouse_id = wh};
    }
    struct group *gr = &j->groups[g];
    for (int i = 0; i < gr->n; i++)
        if (gr->lines[i].line == line) {
            gr->lines[i].q += q;
            return true;
        }
    if (gr->n == FULFIL_LINES_MAX)
        return false;
    gr->lines[gr->n].line = line;
    gr->lines[gr->n].variant = variant;
    gr->lines[gr->n++].q = q;
    return true;
}

/* Claims the key; on a replay fills the result from the stored answer. */
static enum shop_err claim_key(struct db *db, struct fulfil_job *j, bool *replay,
                               struct problem *pb)
{
    *replay = false;
    struct stmt *st = db_prepare(db, "INSERT INTO fulfil_requests (user_id, key, order_id, scope,"
                                     " created_at) VALUES (?, ?, ?, ?, ?)"
                                     " ON CONFLICT (user_id, key) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "recording the Idempotency-Key");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->key);
    stmt_bind_i64(st, 3, j->order_id);
    stmt_bind_i64(st, 4, scope_of(j));
    stmt_bind_i64(st, 5, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the Idempotency-Key");
    if (db_changes(db) == 1)
        return SHOP_OK;
    st = db_prepare(db, "SELECT order_id, scope, response FROM fulfil_requests"
                        " WHERE user_id = ? AND key = ?");
    if (!st)
        return db_fail(db, pb, "reading the Idempotency-Key");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->key);
    /* A statement that failed is a failure (5xx), never "no such row". */
    int rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "reading the Idempotency-Key");
    if (rc != STMT_ROW)
        return problem_set(pb, SHOP_CONFLICT, "the Idempotency-Key is being used; retry");
    if (stmt_i64(st, 0) != j->order_id || stmt_i64(st, 1) != scope_of(j))
        return problem_field(pb, SHOP_INVALID, "Idempotency-Key",
                             "was used for another fulfilment");
    if (stmt_is_null(st, 2))
        return problem_set(pb, SHOP_CONFLICT, "a fulfilment with this key is still running");
    struct fulfil_result *r = j->res;
    r->replayed = *replay = true;
    json_t *a = json_loads(stmt_text(st, 2), 0, NULL);
    if (!json_object_get(a, "shipment_ids")) { /* the answer itself */
        json_decref(a);
        free(r->answer); /* a rerun of the batch reads it again */
        r->answer_len = strlen(stmt_text(st, 2));
        r->answer = xstrdup(stmt_text(st, 2));
        return SHOP_OK;
    }
    /* A key answered before answers were stored whole (a shop upgraded
     * within the keys' 24 hours): the shipments as they are now. */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(a, "shipment_ids"), i, v)
    {
        if (r->nship < FULFIL_WAREHOUSES_MAX)
            r->shipment_ids[r->nship++] = json_integer_value(v);
    }
    json_array_foreach(json_object_get(a, "backordered"), i, v)
    {
        if (r->nback < FULFIL_LINES_MAX)
            r->back[r->nback++] =
                (struct backorder){json_integer_value(json_object_get(v, "order_line_id")),
                                   json_integer_value(json_object_get(v, "quantity"))};
    }
    json_decref(a);
    return SHOP_OK;
}

/* Units of a line in stock for this order at each warehouse (consumed
 * there) less those already in that warehouse's shipments. */
static int stocked(struct db *db, int64_t order_id, int64_t line, int64_t variant,
                   struct reserve_take *out)
{
    int n = 0;
    struct stmt *st =
        db_prepare(db, "SELECT warehouse_id, sum(quantity) FROM reservations"
                       " WHERE order_id = ? AND variant_id = ? AND status = 'consumed'"
                       " GROUP BY warehouse_id ORDER BY warehouse_id");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, order_id);
    stmt_bind_i64(st, 2, variant);
    int rc = STMT_ROW;
    while (n < FULFIL_WAREHOUSES_MAX) {
        rc = stmt_step(st);
        if (rc != STMT_ROW)
            break;
        out[n++] = (struct reserve_take){stmt_i64(st, 0), stmt_i64(st, 1)};
    }
    if (rc < 0)
        return -1;
    st = db_prepare(db, "SELECT s.warehouse_id, sum(l.quantity) FROM shipment_lines l"
                        " JOIN shipments s ON s.id = l.shipment_id WHERE l.order_line_id = ?"
                        " GROUP BY s.warehouse_id");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, line);
    for (rc = stmt_step(st); rc == STMT_ROW; rc = stmt_step(st))
        for (int i = 0; i < n; i++)
            if (out[i].warehouse_id == stmt_i64(st, 0))
                out[i].quantity -= stmt_i64(st, 1);
    return rc < 0 ? -1 : n;
}

static enum shop_err record_shipment(struct db *db, struct fulfil_job *j, struct group *g,
                                     struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO shipments (order_id, warehouse_id, seller_id,"
                                     " carrier, service, status, created_at, updated_at)"
                                     " VALUES (?, ?, ?, 'sim', ?, 'label_created', ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording a shipment");
    stmt_bind_i64(st, 1, j->order_id);
    stmt_bind_i64(st, 2, g->warehouse_id);
    if (j->as_seller)
        stmt_bind_i64(st, 3, j->who->user_id);
    else
        stmt_bind_null(st, 3);
    stmt_bind_text(st, 4, j->to.service);
    stmt_bind_i64(st, 5, j->now);
    stmt_bind_i64(st, 6, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording a shipment");
    g->shipment_id = db_last_id(db);
    for (int i = 0; i < g->n; i++) {
        st = db_prepare(db, "INSERT INTO shipment_lines (shipment_id, order_line_id, variant_id,"
                            " quantity) VALUES (?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "recording a shipment");
        stmt_bind_i64(st, 1, g->shipment_id);
        stmt_bind_i64(st, 2, g->lines[i].line);
        stmt_bind_i64(st, 3, g->lines[i].variant);
        stmt_bind_i64(st, 4, g->lines[i].q);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording a shipment");
        /* The units are shipped once: two fulfils at once cannot both add. */
        st = db_prepare(db, "UPDATE order_lines SET shipped_qty = shipped_qty + ?1,"
                            " status = CASE WHEN shipped_qty + ?1 = quantity THEN 'shipped'"
                            " ELSE status END WHERE id = ?2 AND status = 'open'"
                            " AND shipped_qty + ?1 <= quantity");
        if (!st)
            return db_fail(db, pb, "recording a shipment");
        stmt_bind_i64(st, 1, g->lines[i].q);
        stmt_bind_i64(st, 2, g->lines[i].line);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording a shipment");
        if (db_changes(db) != 1)
            return problem_set(pb, SHOP_CONFLICT, "the order changed meanwhile; retry");
    }
    st = db_prepare(db, "INSERT INTO shipment_events (shipment_id, status, detail, at)"
                        " VALUES (?, 'label_created', 'label requested', ?)");
    if (!st)
        return db_fail(db, pb, "recording a shipment");
    stmt_bind_i64(st, 1, g->shipment_id);
    stmt_bind_i64(st, 2, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording a shipment");
    st = db_prepare(db, "UPDATE warehouses SET open_shipments = open_shipments + 1 WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "counting open shipments");
    stmt_bind_i64(st, 1, g->warehouse_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "counting open shipments");
}

static enum shop_err plan_write(struct db *db, void *arg, struct problem *pb)
{
    struct fulfil_job *j = arg;
    struct fulfil_result *r = j->res;
    memset(r, 0, sizeof *r);
    j->ngroups = 0;
    bool replay;
    if (claim_key(db, j, &replay, pb) != SHOP_OK || replay)
        return pb->err;

    struct stmt *st = db_prepare(db, "SELECT status, shipping_method, ship_name, ship_line1,"
                                     " coalesce(ship_line2, ''), ship_city, ship_postal,"
                                     " ship_country FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, j->order_id);
    int rc = stmt_step(st);
    if (rc < 0)
        return db_fail(db, pb, "reading the order");
    if (rc != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)j->order_id);
    int status = order_status_parse(stmt_text(st, 0));
    struct parcel_to *t = &j->to;
    parcel_read(st, 1, t);

    struct {
        int64_t id, variant, unshipped, backordered;
    } lines[FULFIL_LINES_MAX];
    int n = 0, mine = 0;
    st = db_prepare(db, "SELECT l.id, l.variant_id, l.quantity - l.shipped_qty, l.backordered,"
                        " l.status, p.seller_id FROM order_lines l JOIN products p"
                        " ON p.id = l.product_id WHERE l.order_id = ? ORDER BY l.id");
    if (!st)
        return db_fail(db, pb, "reading the order lines");
    stmt_bind_i64(st, 1, j->order_id);
    for (rc = stmt_step(st); n < FULFIL_LINES_MAX && rc == STMT_ROW; rc = stmt_step(st)) {
        if (j->as_seller && stmt_i64(st, 5) != j->who->user_id)
            continue;
        mine++;
        if (strcmp(stmt_text(st, 4), "open") || stmt_i64(st, 2) <= 0)
            continue;
        lines[n].id = stmt_i64(st, 0);
        lines[n].variant = stmt_i64(st, 1);
        lines[n].unshipped = stmt_i64(st, 2);
        lines[n++].backordered = stmt_i64(st, 3);
    }
    if (rc < 0) /* not "nothing to ship": a failure */
        return db_fail(db, pb, "reading the order lines");
    if (j->as_seller && mine == 0)
        return problem_set(pb, SHOP_NOT_FOUND, "no order %lld", (long long)j->order_id);
    if (status != ORDER_PAID && status != ORDER_FULFILLING && status != ORDER_PARTIALLY_SHIPPED)
        return problem_set(pb, SHOP_CONFLICT, "an order that is %s cannot be fulfilled",
                           order_status_name((enum order_status)(status < 0 ? 0 : status)));

    struct geo_point dest;
    struct reserve_where where = {geo_locate(t->country, t->postal, &dest) ? &dest : NULL,
                                  &j->shop->cfg.alloc};
    for (int i = 0; i < n; i++) {
        struct reserve_take have[FULFIL_WAREHOUSES_MAX];
        int k = stocked(db, j->order_id, lines[i].id, lines[i].variant, have);
        if (k < 0)
            return db_fail(db, pb, "reading the order's stock");
        int64_t left = lines[i].unshipped;
        for (int w = 0; w < k && left > 0; w++) {
            int64_t q = have[w].quantity < left ? have[w].quantity : left;
            if (q <= 0)
                continue;
            if (!group_add(j, have[w].warehouse_id, lines[i].id, lines[i].variant, q))
                return problem_set(pb, SHOP_INVALID, "too many warehouses for one fulfilment");
            left -= q;
        }
        if (left <= 0)
            continue;
        /* Backordered units: whatever stock has arrived since. */
        k = reservation_take_now(db, j->order_id, lines[i].variant, left, &where, j->who->user_id,
                                 have, pb);
        if (k < 0)
            return pb->err;
        int64_t taken = 0;
        for (int w = 0; w < k; w++) {
            if (!group_add(j, have[w].warehouse_id, lines[i].id, lines[i].variant,
                           have[w].quantity))
                return problem_set(pb, SHOP_INVALID, "too many warehouses for one fulfilment");
            taken += have[w].quantity;
        }
        if (taken > 0) {
            st = db_prepare(db, "UPDATE order_lines SET backordered = CASE WHEN backordered > ?1"
                                " THEN backordered - ?1 ELSE 0 END WHERE id = ?2");
            if (!st)
                return db_fail(db, pb, "recording a backorder");
            stmt_bind_i64(st, 1, taken);
            stmt_bind_i64(st, 2, lines[i].id);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "recording a backorder");
        }
        if (left > taken && r->nback < FULFIL_LINES_MAX)
            r->back[r->nback++] = (struct backorder){lines[i].id, left - taken};
    }
    if (j->ngroups == 0 && r->nback == 0)
        return problem_set(pb, SHOP_CONFLICT, "nothing is left to ship");
    for (int g = 0; g < j->ngroups; g++) {
        if (record_shipment(db, j, &j->groups[g], pb) != SHOP_OK)
            return pb->err;
        r->shipment_ids[r->nship++] = j->groups[g].shipment_id;
    }
    return order_status_sync(db, j->order_id, pb);
}

/* ---- labels ------------------------------------------------------------------ */

struct label_job {
    int64_t shipment_id, now;
    enum carrier_status outcome;
    const char *tracking;
    int attempts;
};

/* Records the carrier's answer: a tracking number; a refusal, which undoes
 * the shipment (its units are unshipped again); or nothing yet. */
static enum shop_err label_write(struct db *db, void *arg, struct problem *pb)
{
    struct label_job *j = arg;
    struct stmt *st;
    if (j->outcome == CARRIER_OK || j->outcome == CARRIER_TIMEOUT ||
        j->outcome == CARRIER_UNAVAILABLE) {
        bool ok = j->outcome == CARRIER_OK;
        st = db_prepare(db, "UPDATE shipments SET label_attempts = label_attempts + ?,"
                            " tracking_number = coalesce(tracking_number, ?), updated_at = ?"
                            " WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "recording a label");
        stmt_bind_i64(st, 1, j->attempts);
        if (ok)
            stmt_bind_text(st, 2, j->tracking);
        else
            stmt_bind_null(st, 2);
        stmt_bind_i64(st, 3, j->now);
        stmt_bind_i64(st, 4, j->shipment_id);
        return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording a label");
    }
    int64_t order_id = 0, warehouse = 0;
    st = db_prepare(db, "SELECT order_id, warehouse_id FROM shipments WHERE id = ?"
                        " AND tracking_number IS NULL AND status = 'label_created'");
    if (!st)
        return db_fail(db, pb, "reading the shipment");
    stmt_bind_i64(st, 1, j->shipment_id);
    int rc = stmt_step(st);
    if (rc < 0) /* not "already undone": the shipment would stay without its label */
        return db_fail(db, pb, "reading the shipment");
    if (rc != STMT_ROW)
        return SHOP_OK;
    order_id = stmt_i64(st, 0);
    warehouse = stmt_i64(st, 1);
    static const char *const undo[] = {
        "UPDATE order_lines SET shipped_qty = shipped_qty - (SELECT quantity FROM shipment_lines"
        " WHERE shipment_id = ?1 AND order_line_id = order_lines.id), status = 'open'"
        " WHERE id IN (SELECT order_line_id FROM shipment_lines WHERE shipment_id = ?1)",
        "DELETE FROM shipment_events WHERE shipment_id = ?1",
        "DELETE FROM shipment_lines WHERE shipment_id = ?1",
        "DELETE FROM shipments WHERE id = ?1",
    };
    for (size_t i = 0; i < sizeof undo / sizeof undo[0]; i++) {
        st = db_prepare(db, undo[i]);
        if (!st)
            return db_fail(db, pb, "undoing a shipment");
        stmt_bind_i64(st, 1, j->shipment_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "undoing a shipment");
    }
    st = db_prepare(db, "UPDATE warehouses SET open_shipments = open_shipments - 1"
                        " WHERE id = ? AND open_shipments > 0");
    if (!st)
        return db_fail(db, pb, "counting open shipments");
    stmt_bind_i64(st, 1, warehouse);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "counting open shipments");
    return order_status_sync(db, order_id, pb);
}

/* A write after the carrier answered: the label (or the undoing of a refused
 * shipment) and the key's answer. What it records happened already outside,
 * so a transient failure is tried again (3 times) rather than leaving a
 * refused shipment in place or the key "still running" until it expires. */
static enum shop_err write_outcome(struct store *store, store_write_fn fn, void *arg,
                                   struct problem *pb)
{
    enum shop_err e = SHOP_OK;
    for (int i = 0; i < 3; i++) {
        if (i) {
            problem_clear(pb);
            clock_sleep_ms(20LL << i);
        }
        e = store_write(store, fn, arg, pb);
        if (e != SHOP_INTERNAL && e != SHOP_UNAVAILABLE)
            break;
    }
    return e;
}

/* Asks the carrier for one shipment's label (retrying a timeout with the
 * same key) and records the outcome. Returns the outcome. */
static enum carrier_status get_label(struct shop *shop, int64_t shipment_id,
                                     const struct parcel_to *t, char *code, size_t code_len)
{
    char key[48];
    snprintf(key, sizeof key, "shipment-%lld", (long long)shipment_id);
    struct carrier_parcel p = {.key = key,
                               .service = t->service,
                               .name = t->name,
                               .line1 = t->line1,
                               .line2 = t->line2,
                               .city = t->city,
                               .postal_code = t->postal,
                               .country = t->country};
    struct carrier_label label;
    enum carrier_status c = CARRIER_UNAVAILABLE;
    int attempts = 0;
    for (int i = 0; i < shop->cfg.carrier_label_attempts; i++) {
        if (i)
            clock_sleep_ms(25LL << i);
        attempts++;
        c = shop->carrier->create_label(shop->carrier, &p, &label);
        if (c == CARRIER_OK || c == CARRIER_REFUSED)
            break;
    }
    snprintf(code, code_len, "%s", label.code);
    struct label_job j = {shipment_id, clock_now_ms(), c, label.tracking_number, attempts};
    struct problem pb = {0};
    if (write_outcome(shop->store, label_write, &j, &pb) != SHOP_OK)
        log_event(LOG_ERROR, "fulfil.label_not_recorded", "{s:I, s:s}", "shipment",
                  (json_int_t)shipment_id, "detail", pb.detail);
    problem_clear(&pb);
    if (c != CARRIER_OK)
        log_event(LOG_WARN, "fulfil.label", "{s:I, s:s}", "shipment", (json_int_t)shipment_id,
                  "code", label.code);
    return c;
}

/* ---- the answer ------------------------------------------------------------------- */

/* The answer to a fulfil: the shipments as the labels left them, and what
 * stayed backordered. */
static char *fulfil_answer(struct shop *shop, const struct principal *who, int64_t order_id,
                           const struct fulfil_result *r)
{
    struct arena *a = arena_new();
    json_t *ships = json_array(), *back = json_array();
    for (int i = 0; i < r->nship; i++) {
        struct shipment s;
        struct problem ignored = {0};
        if (shipment_get(shop, who, r->shipment_ids[i], a, &s, &ignored) == SHOP_OK)
            json_array_append_new(ships, shipment_json(&s));
        problem_clear(&ignored);
    }
    for (int i = 0; i < r->nback; i++)
        json_array_append_new(back, json_pack("{s:I, s:I}", "order_line_id",
                                              (json_int_t)r->back[i].order_line_id, "quantity",
                                              (json_int_t)r->back[i].quantity));
    json_t *ans = json_pack("{s:I, s:o, s:o}", "order_id", (json_int_t)order_id, "shipments", ships,
                            "backordered", back);
    char *text = jx_dump(ans, NULL);
    json_decref(ans);
    arena_free(a);
    return text;
}

struct answer_job {
    const struct principal *who;
    const char *key;
    char *text; /* NULL: forget the key (nothing was done) */
};

static enum shop_err answer_write(struct db *db, void *arg, struct problem *pb)
{
    struct answer_job *j = arg;
    struct stmt *st = db_prepare(db, j->text ? "UPDATE fulfil_requests SET response = ?3"
                                               " WHERE user_id = ?1 AND key = ?2"
                                             : "DELETE FROM fulfil_requests"
                                               " WHERE user_id = ?1 AND key = ?2");
    if (!st)
        return db_fail(db, pb, "recording the answer");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->key);
    if (j->text)
        stmt_bind_text(st, 3, j->text);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording the answer");
}

enum shop_err fulfil_order(struct shop *shop, const struct principal *who, bool as_seller,
                           int64_t order_id, const char *key, struct fulfil_result *out,
                           struct problem *pb)
{
    struct group *groups = calloc(FULFIL_WAREHOUSES_MAX, sizeof *groups);
    if (!groups)
        return problem_set(pb, SHOP_INTERNAL, "out of memory");
    struct fulfil_job j = {.shop = shop,
                           .who = who,
                           .as_seller = as_seller,
                           .order_id = order_id,
                           .now = clock_now_ms(),
                           .key = key,
                           .res = out,
                           .groups = groups};
    enum shop_err e = store_write(shop->store, plan_write, &j, pb);
    free(groups);
    if (e != SHOP_OK)
        return e;
    if (out->replayed) {
        if (!out->answer) { /* an answer stored before they were stored whole */
            out->answer = fulfil_answer(shop, who, order_id, out);
            out->answer_len = out->answer ? strlen(out->answer) : 0;
        }
        return SHOP_OK;
    }

    /* Labels, outside any transaction. */
    int kept = 0, refused = 0;
    char code[40] = "";
    for (int i = 0; i < out->nship; i++) {
        if (get_label(shop, out->shipment_ids[i], &j.to, code, sizeof code) == CARRIER_REFUSED)
            refused++;
        else
            out->shipment_ids[kept++] = out->shipment_ids[i];
    }
    out->nship = kept;
    out->nrefused = refused;

    bool nothing = refused > 0 && kept == 0;
    struct answer_job aj = {who, key, nothing ? NULL : fulfil_answer(shop, who, order_id, out)};
    /* 2xx means durable: an answer that could not be recorded is a 5xx (the
     * shipments stand; the key stays unanswered, a retry is 409, until it
     * expires). */
    e = write_outcome(shop->store, answer_write, &aj, pb);
    if (e != SHOP_OK) {
        free(aj.text);
        return e;
    }
    out->answer = aj.text;
    out->answer_len = aj.text ? strlen(aj.text) : 0;
    if (nothing)
        return problem_field(pb, SHOP_INVALID, "shipping_address",
                             "the carrier refused the parcel: %s", code);
    return SHOP_OK;
}

int fulfil_labels_retry(struct shop *shop)
{
    struct {
        int64_t id;
        struct parcel_to to;
    } due[8];
    int n = 0;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT s.id, o.shipping_method, o.ship_name, o.ship_line1,"
                                     " coalesce(o.ship_line2, ''), o.ship_city, o.ship_postal,"
                                     " o.ship_country FROM shipments s JOIN orders o"
                                     " ON o.id = s.order_id WHERE s.tracking_number IS NULL"
                                     " AND s.label_attempts < 20 AND s.updated_at < ?"
                                     " ORDER BY s.id LIMIT 8");
    if (st) {
        stmt_bind_i64(st, 1, clock_now_ms() - 2000);
        while (n < 8 && stmt_step(st) == STMT_ROW) {
            struct parcel_to *t = &due[n].to;
            due[n].id = stmt_i64(st, 0);
            parcel_read(st, 1, t);
            n++;
        }
    }
    db_release(db);
    int made = 0;
    for (int i = 0; i < n; i++) {
        char code[40];
        made += get_label(shop, due[i].id, &due[i].to, code, sizeof code) == CARRIER_OK;
    }
    return made;
}
