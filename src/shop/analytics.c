/* analytics.c — daily sales rollups and their reports (analytics.h is the essay). */
#include "shop/analytics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/tz.h"
#include "util/xalloc.h"
#include "work/dispatcher.h"

/* ---- folding events ---------------------------------------------------------- */

struct fold {
    struct shop *shop;
    const struct outbox_event *ev;
    json_t *payload;
};

/* Claims a fact's key; *fresh is false when it was counted before. */
static enum shop_err claim(struct db *db, const char *kind, int64_t id, bool *fresh,
                           struct problem *pb)
{
    char key[48];
    snprintf(key, sizeof key, "%s:%lld", kind, (long long)id);
    struct stmt *st = db_prepare(db, "INSERT INTO analytics_applied (key, at) VALUES (?, ?)"
                                     " ON CONFLICT (key) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "claiming an analytics fact");
    stmt_bind_text(st, 1, key);
    stmt_bind_i64(st, 2, clock_now_ms());
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "claiming an analytics fact");
    *fresh = db_changes(db) == 1;
    return SHOP_OK;
}

static enum shop_err add_day(struct db *db, int32_t day, int64_t revenue, int64_t refunds,
                             int64_t orders, int64_t units, int64_t returned, struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "INSERT INTO analytics_days (day, revenue_cents, refunds_cents, orders, units,"
            " returned_units) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET"
            " revenue_cents = analytics_days.revenue_cents + excluded.revenue_cents,"
            " refunds_cents = analytics_days.refunds_cents + excluded.refunds_cents,"
            " orders = analytics_days.orders + excluded.orders,"
            " units = analytics_days.units + excluded.units,"
            " returned_units = analytics_days.returned_units + excluded.returned_units");
    if (!st)
        return db_fail(db, pb, "counting a day");
    stmt_bind_i64(st, 1, day);
    stmt_bind_i64(st, 2, revenue);
    stmt_bind_i64(st, 3, refunds);
    stmt_bind_i64(st, 4, orders);
    stmt_bind_i64(st, 5, units);
    stmt_bind_i64(st, 6, returned);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "counting a day");
}

static enum shop_err add_seller_day(struct db *db, int64_t seller, int32_t day, int64_t revenue,
                                    int64_t refunds, int64_t orders, int64_t units,
                                    int64_t returned, struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "INSERT INTO analytics_seller_days (seller_id, day, revenue_cents, refunds_cents,"
            " orders, units, returned_units) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (seller_id, day) DO UPDATE SET"
            " revenue_cents = analytics_seller_days.revenue_cents + excluded.revenue_cents,"
            " refunds_cents = analytics_seller_days.refunds_cents + excluded.refunds_cents,"
            " orders = analytics_seller_days.orders + excluded.orders,"
            " units = analytics_seller_days.units + excluded.units,"
            " returned_units = analytics_seller_days.returned_units + excluded.returned_units");
    if (!st)
        return db_fail(db, pb, "counting a seller's day");
    stmt_bind_i64(st, 1, seller);
    stmt_bind_i64(st, 2, day);
    stmt_bind_i64(st, 3, revenue);
    stmt_bind_i64(st, 4, refunds);
    stmt_bind_i64(st, 5, orders);
    stmt_bind_i64(st, 6, units);
    stmt_bind_i64(st, 7, returned);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "counting a seller's day");
}

static enum shop_err add_product(struct db *db, int64_t product, int64_t seller, int32_t day,
                                 int64_t units, int64_t revenue, struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "INSERT INTO analytics_product_days (product_id, day, seller_id, units, revenue_cents)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, product_id) DO UPDATE SET"
            " units = analytics_product_days.units + excluded.units,"
            " revenue_cents = analytics_product_days.revenue_cents + excluded.revenue_cents");
    if (!st)
        return db_fail(db, pb, "counting a product's day");
    stmt_bind_i64(st, 1, product);
    stmt_bind_i64(st, 2, day);
    stmt_bind_i64(st, 3, seller);
    stmt_bind_i64(st, 4, units);
    stmt_bind_i64(st, 5, revenue);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "counting a product's day");
    st = db_prepare(
        db, "INSERT INTO analytics_product_months (product_id, month, seller_id, units,"
            " revenue_cents) VALUES (?, ?, ?, ?, ?) ON CONFLICT (month, product_id) DO UPDATE SET"
            " units = analytics_product_months.units + excluded.units,"
            " revenue_cents = analytics_product_months.revenue_cents + excluded.revenue_cents");
    if (!st)
        return db_fail(db, pb, "counting a product's month");
    stmt_bind_i64(st, 1, product);
    stmt_bind_i64(st, 2, day / 100);
    stmt_bind_i64(st, 3, seller);
    stmt_bind_i64(st, 4, units);
    stmt_bind_i64(st, 5, revenue);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "counting a product's month");
}

/* (key, units, cents) sums, few per order: a linear list is enough. */
struct sums {
    int n, cap;
    struct sum {
        int64_t key, seller, units, cents;
    } *v;
};

static void sums_add(struct sums *s, int64_t key, int64_t seller, int64_t units, int64_t cents)
{
    for (int i = 0; i < s->n; i++)
        if (s->v[i].key == key) {
            s->v[i].units += units;
            s->v[i].cents += cents;
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (struct sum){key, seller, units, cents};
}

static enum shop_err fold_paid(struct db *db, struct fold *f, int64_t order_id, struct problem *pb)
{
    bool fresh;
    if (claim(db, "paid", order_id, &fresh, pb) != SHOP_OK || !fresh)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT total_cents, coalesce(paid_at, updated_at) FROM orders"
                                     " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading an order");
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) != STMT_ROW)
        return SHOP_OK; /* gone */
    int64_t total = stmt_i64(st, 0);
    int32_t day = tz_local_day(f->shop->tz, stmt_i64(st, 1));
    struct sums sellers = {0}, products = {0};
    int64_t units = 0;
    st = db_prepare(db, "SELECT l.product_id, coalesce(p.seller_id, 0), l.quantity,"
                        " l.quantity * l.unit_price_cents - l.discount_cents"
                        " FROM order_lines l LEFT JOIN products p ON p.id = l.product_id"
                        " WHERE l.order_id = ?");
    if (!st)
        return db_fail(db, pb, "reading an order's lines");
    stmt_bind_i64(st, 1, order_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        int64_t q = stmt_i64(st, 2), cents = stmt_i64(st, 3);
        units += q;
        sums_add(&sellers, stmt_i64(st, 1), 0, q, cents);
        sums_add(&products, stmt_i64(st, 0), stmt_i64(st, 1), q, cents);
    }
    enum shop_err e = rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading an order's lines");
    if (e == SHOP_OK)
        e = add_day(db, day, total, 0, 1, units, 0, pb);
    for (int i = 0; e == SHOP_OK && i < sellers.n; i++)
        e = add_seller_day(db, sellers.v[i].key, day, sellers.v[i].cents, 0, 1, sellers.v[i].units,
                           0, pb);
    for (int i = 0; e == SHOP_OK && i < products.n; i++)
        e = add_product(db, products.v[i].key, products.v[i].seller, day, products.v[i].units,
                        products.v[i].cents, pb);
    free(sellers.v);
    free(products.v);
    return e;
}

static enum shop_err fold_refund(struct db *db, struct fold *f, int64_t order_id,
                                 int64_t refund_id, struct problem *pb)
{
    bool fresh;
    if (claim(db, "refund", refund_id, &fresh, pb) != SHOP_OK || !fresh)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT r.amount_cents, r.created_at, o.total_cents"
                                     " FROM refunds r JOIN orders o ON o.id = r.order_id"
                                     " WHERE r.id = ?");
    if (!st)
        return db_fail(db, pb, "reading a refund");
    stmt_bind_i64(st, 1, refund_id);
    if (stmt_step(st) != STMT_ROW)
        return SHOP_OK;
    int64_t amount = stmt_i64(st, 0), total = stmt_i64(st, 2);
    int32_t day = tz_local_day(f->shop->tz, stmt_i64(st, 1));
    struct sums sellers = {0};
    st = db_prepare(db, "SELECT coalesce(p.seller_id, 0),"
                        " l.quantity * l.unit_price_cents - l.discount_cents"
                        " FROM order_lines l LEFT JOIN products p ON p.id = l.product_id"
                        " WHERE l.order_id = ?");
    if (!st)
        return db_fail(db, pb, "reading an order's lines");
    stmt_bind_i64(st, 1, order_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW)
        sums_add(&sellers, stmt_i64(st, 0), 0, 0, stmt_i64(st, 1));
    enum shop_err e = rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading an order's lines");
    if (e == SHOP_OK)
        e = add_day(db, day, 0, amount, 0, 0, 0, pb);
    for (int i = 0; e == SHOP_OK && i < sellers.n && total > 0; i++) {
        int64_t share = (int64_t)((__int128)amount * sellers.v[i].cents / total);
        if (share > 0)
            e = add_seller_day(db, sellers.v[i].key, day, 0, share, 0, 0, 0, pb);
    }
    free(sellers.v);
    return e;
}

static enum shop_err fold_return(struct db *db, struct fold *f, int64_t return_id,
                                 struct problem *pb)
{
    bool fresh;
    if (claim(db, "return", return_id, &fresh, pb) != SHOP_OK || !fresh)
        return pb->err;
    int32_t day = tz_local_day(f->shop->tz, f->ev->created_at);
    struct sums sellers = {0};
    int64_t units = 0;
    struct stmt *st = db_prepare(db, "SELECT coalesce(p.seller_id, 0), rl.quantity"
                                     " FROM return_lines rl"
                                     " JOIN order_lines l ON l.id = rl.order_line_id"
                                     " LEFT JOIN products p ON p.id = l.product_id"
                                     " WHERE rl.return_id = ?");
    if (!st)
        return db_fail(db, pb, "reading a return");
    stmt_bind_i64(st, 1, return_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        units += stmt_i64(st, 1);
        sums_add(&sellers, stmt_i64(st, 0), 0, stmt_i64(st, 1), 0);
    }
    enum shop_err e = rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading a return");
    if (e == SHOP_OK && units > 0)
        e = add_day(db, day, 0, 0, 0, 0, units, pb);
    for (int i = 0; e == SHOP_OK && i < sellers.n; i++)
        e = add_seller_day(db, sellers.v[i].key, day, 0, 0, 0, 0, sellers.v[i].units, pb);
    free(sellers.v);
    return e;
}

static int64_t field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static enum shop_err fold_write(struct db *db, void *arg, struct problem *pb)
{
    struct fold *f = arg;
    const char *t = f->ev->topic;
    if (!strcmp(t, "order.confirmed"))
        return fold_paid(db, f, f->ev->aggregate_id, pb);
    if (!strcmp(t, "order.refunded")) {
        int64_t refund = field(f->payload, "refund_id");
        return refund ? fold_refund(db, f, f->ev->aggregate_id, refund, pb) : SHOP_OK;
    }
    if (!strcmp(t, "order.return_approved")) {
        int64_t ret = field(f->payload, "return_id");
        return ret ? fold_return(db, f, ret, pb) : SHOP_OK;
    }
    return SHOP_OK;
}

enum shop_err analytics_consume(struct shop *shop, const struct outbox_event *ev, void *cls,
                                struct problem *pb)
{
    (void)cls;
    struct fold f = {.shop = shop, .ev = ev, .payload = json_loads(ev->payload, 0, NULL)};
    enum shop_err e = store_write(shop->store, fold_write, &f, pb);
    json_decref(f.payload);
    return e;
}

/* ---- reports ------------------------------------------------------------------- */

int64_t analytics_average(const struct analytics_figures *f)
{
    return f->orders ? f->revenue_cents / f->orders : 0;
}

int64_t analytics_returns_bps(const struct analytics_figures *f)
{
    return f->units ? f->returned_units * 10000 / f->units : 0;
}

enum shop_err analytics_check(struct shop *shop, const char *from, const char *to,
                              int64_t seller_id, int32_t *from_ymd, int32_t *to_ymd,
                              struct problem *pb)
{
    if (!tz_parse_date(from, from_ymd))
        return problem_field(pb, SHOP_INVALID, "from", "must be a date YYYY-MM-DD");
    if (!tz_parse_date(to, to_ymd))
        return problem_field(pb, SHOP_INVALID, "to", "must be a date YYYY-MM-DD");
    int64_t days = tz_ymd_days(*to_ymd) - tz_ymd_days(*from_ymd) + 1;
    if (days < 1)
        return problem_field(pb, SHOP_INVALID, "to", "must not be before from");
    if (days > ANALYTICS_MAX_DAYS)
        return problem_field(pb, SHOP_INVALID, "to", "the range may span at most %d days",
                             ANALYTICS_MAX_DAYS);
    if (seller_id) {
        struct db *db = store_db(shop->store);
        struct stmt *st = db_prepare(db, "SELECT role FROM users WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "reading the seller");
        stmt_bind_i64(st, 1, seller_id);
        bool seller = stmt_step(st) == STMT_ROW && !strcmp(stmt_text(st, 0), "seller");
        db_release(db);
        if (!seller)
            return problem_field(pb, SHOP_INVALID, "seller_id", "is not a seller's id");
    }
    return SHOP_OK;
}

static int32_t month_last_day(int32_t ym)
{
    int y = ym / 100, m = ym % 100;
    int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
    return tz_days_ymd(tz_days_from_civil(ny, nm, 1) - 1);
}

#define TOP_SQL(FILTER)                                                                          \
    "SELECT t.product_id, sum(t.units), sum(t.revenue_cents) FROM ("                             \
    " SELECT product_id, units, revenue_cents FROM analytics_product_months"                     \
    "  WHERE month BETWEEN ?1 AND ?2" FILTER                                                     \
    " UNION ALL SELECT product_id, units, revenue_cents FROM analytics_product_days"             \
    "  WHERE day BETWEEN ?3 AND ?4" FILTER                                                       \
    " UNION ALL SELECT product_id, units, revenue_cents FROM analytics_product_days"             \
    "  WHERE day BETWEEN ?5 AND ?6" FILTER ") t GROUP BY t.product_id"                          \
    " ORDER BY 3 DESC, 2 DESC, 1 LIMIT 10"

static enum shop_err top_products(struct db *db, int64_t seller_id, int32_t from, int32_t to,
                                  struct analytics_report *out, struct problem *pb)
{
    /* Whole months from their rows; the partial months at the ends from days. */
    int32_t m1 = from / 100, m2 = to / 100, a = from, b = to, c = 1, d = 0;
    if (from % 100 != 1) {
        b = m1 == m2 ? to : month_last_day(m1);
        m1 = m1 % 100 == 12 ? (m1 / 100 + 1) * 100 + 1 : m1 + 1;
    } else {
        a = 1, b = 0;
    }
    if (to != month_last_day(m2) && m2 >= m1) {
        c = m2 * 100 + 1;
        d = to;
        m2 = m2 % 100 == 1 ? (m2 / 100 - 1) * 100 + 12 : m2 - 1;
    }
    struct stmt *st = seller_id ? db_prepare(db, TOP_SQL(" AND seller_id = ?7"))
                                : db_prepare(db, TOP_SQL(""));
    if (!st)
        return db_fail(db, pb, "reading top products");
    stmt_bind_i64(st, 1, m1);
    stmt_bind_i64(st, 2, m2);
    stmt_bind_i64(st, 3, a);
    stmt_bind_i64(st, 4, b);
    stmt_bind_i64(st, 5, c);
    stmt_bind_i64(st, 6, d);
    if (seller_id)
        stmt_bind_i64(st, 7, seller_id);
    int rc;
    out->ntop = 0;
    while ((rc = stmt_step(st)) == STMT_ROW && out->ntop < ANALYTICS_TOP) {
        struct analytics_top *t = &out->top[out->ntop++];
        t->product_id = stmt_i64(st, 0);
        t->units = stmt_i64(st, 1);
        t->revenue_cents = stmt_i64(st, 2);
    }
    if (rc != STMT_ROW && rc != STMT_DONE)
        return db_fail(db, pb, "reading top products");
    for (int i = 0; i < out->ntop; i++) {
        st = db_prepare(db, "SELECT title FROM products WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "reading product titles");
        stmt_bind_i64(st, 1, out->top[i].product_id);
        snprintf(out->top[i].title, sizeof out->top[i].title, "%s",
                 stmt_step(st) == STMT_ROW ? stmt_text(st, 0) : "");
    }
    return SHOP_OK;
}

enum shop_err analytics_report(struct shop *shop, int64_t seller_id, int32_t from, int32_t to,
                               struct analytics_report *out, struct problem *pb)
{
    memset(out, 0, sizeof *out);
    int64_t first = tz_ymd_days(from), n = tz_ymd_days(to) - first + 1;
    if (n < 1 || n > ANALYTICS_MAX_DAYS)
        return problem_field(pb, SHOP_INVALID, "to", "the range may span at most %d days",
                             ANALYTICS_MAX_DAYS);
    out->ndays = (int)n;
    for (int i = 0; i < out->ndays; i++)
        out->days[i].date = tz_days_ymd(first + i);
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    struct stmt *st =
        seller_id ? db_prepare(db, "SELECT day, revenue_cents, refunds_cents, orders, units,"
                                   " returned_units FROM analytics_seller_days"
                                   " WHERE seller_id = ?3 AND day BETWEEN ?1 AND ?2")
                  : db_prepare(db, "SELECT day, revenue_cents, refunds_cents, orders, units,"
                                   " returned_units FROM analytics_days"
                                   " WHERE day BETWEEN ?1 AND ?2");
    enum shop_err e = SHOP_OK;
    if (!st) {
        e = db_fail(db, pb, "reading analytics");
        goto done;
    }
    stmt_bind_i64(st, 1, from);
    stmt_bind_i64(st, 2, to);
    if (seller_id)
        stmt_bind_i64(st, 3, seller_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        int64_t i = tz_ymd_days((int32_t)stmt_i64(st, 0)) - first;
        if (i < 0 || i >= n)
            continue;
        struct analytics_figures *f = &out->days[i];
        f->revenue_cents = stmt_i64(st, 1);
        f->refunds_cents = stmt_i64(st, 2);
        f->orders = stmt_i64(st, 3);
        f->units = stmt_i64(st, 4);
        f->returned_units = stmt_i64(st, 5);
    }
    if (rc != STMT_DONE) {
        e = db_fail(db, pb, "reading analytics");
        goto done;
    }
    for (int i = 0; i < out->ndays; i++) {
        out->totals.revenue_cents += out->days[i].revenue_cents;
        out->totals.refunds_cents += out->days[i].refunds_cents;
        out->totals.orders += out->days[i].orders;
        out->totals.units += out->days[i].units;
        out->totals.returned_units += out->days[i].returned_units;
    }
    e = top_products(db, seller_id, from, to, out, pb);
done:
    db_read_end(db);
    db_release(db);
    return e;
}
