/* analytics.c — sales reports over the daily rollups (analytics.h is the
 * essay; analytics_fold.c maintains the rollups, analytics_rebuild.c
 * rebuilds them). */
#include "shop/analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/tz.h"
#include "util/xalloc.h"

/* ---- reports ------------------------------------------------------------------- */

/* How long a report waits for its turn before the answer is 503. */
#define REPORT_WAIT_MS 10000

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

/* Per-product sums of a range, added up here rather than by a GROUP BY: the
 * rows are read by plain range scans and summed in a hash table, which costs
 * a third of what SQLite's temporary B-trees for GROUP BY and ORDER BY did
 * (perf: two thirds of a year's report went there). */
struct tally {
    int64_t id, units, cents; /* id 0: a free slot */
};

struct tallies {
    struct tally *v;
    size_t cap, n;
};

static void tally_add(struct tallies *t, int64_t id, int64_t units, int64_t cents)
{
    if (2 * (t->n + 1) > t->cap) {
        struct tallies g = {xcalloc(t->cap ? t->cap * 2 : 1024, sizeof *g.v),
                            t->cap ? t->cap * 2 : 1024, 0};
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].id)
                tally_add(&g, t->v[i].id, t->v[i].units, t->v[i].cents);
        free(t->v);
        *t = g;
    }
    size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL >> 20) & (t->cap - 1);
    while (t->v[i].id && t->v[i].id != id)
        i = (i + 1) & (t->cap - 1);
    if (!t->v[i].id) {
        t->v[i].id = id;
        t->n++;
    }
    t->v[i].units += units;
    t->v[i].cents += cents;
}

/* The report's order: revenue, then units, descending; then the id. */
static bool tally_before(const struct tally *x, const struct analytics_top *y)
{
    if (x->cents != y->revenue_cents)
        return x->cents > y->revenue_cents;
    if (x->units != y->units)
        return x->units > y->units;
    return x->id < y->product_id;
}

/* Adds the rows of `st` (product_id, units, revenue_cents) to `t`, times
 * `sign`. */
static bool tally_rows(struct stmt *st, int sign, struct tallies *t)
{
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW)
        tally_add(t, stmt_i64(st, 0), sign * stmt_i64(st, 1), sign * stmt_i64(st, 2));
    return rc == STMT_DONE;
}

/* Adds (sign +1) or takes away (-1) the product rows of the months m1..m2
 * (YYYYMM) or, with `days`, of the days m1..m2 (YYYYMMDD). */
static bool tally_span(struct db *db, int64_t seller_id, bool days, int32_t m1, int32_t m2,
                       int sign, struct tallies *t)
{
    if (m1 > m2)
        return true;
    struct stmt *st;
    if (days)
        st = seller_id ? db_prepare(db, "SELECT product_id, units, revenue_cents"
                                        " FROM analytics_product_days"
                                        " WHERE seller_id = ?3 AND day BETWEEN ?1 AND ?2")
                       : db_prepare(db, "SELECT product_id, units, revenue_cents"
                                        " FROM analytics_product_days WHERE day BETWEEN ?1 AND ?2");
    else
        st = seller_id ? db_prepare(db, "SELECT product_id, units, revenue_cents"
                                        " FROM analytics_product_months"
                                        " WHERE seller_id = ?3 AND month BETWEEN ?1 AND ?2")
                       : db_prepare(db, "SELECT product_id, units, revenue_cents"
                                        " FROM analytics_product_months"
                                        " WHERE month BETWEEN ?1 AND ?2");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, m1);
    stmt_bind_i64(st, 2, m2);
    if (seller_id)
        stmt_bind_i64(st, 3, seller_id);
    return tally_rows(st, sign, t);
}

/* The days a..b of one month: from their rows or, when fewer of the month's
 * days lie outside them, as the month's row less those days (a month's row
 * is the sum of its days': every fold writes both). */
static bool tally_part(struct db *db, int64_t seller_id, int32_t a, int32_t b, int sign,
                       struct tallies *t)
{
    int32_t m = a / 100, first = m * 100 + 1, last = month_last_day(m);
    int32_t inside = b - a + 1, outside = (last - first + 1) - inside;
    if (outside >= inside)
        return tally_span(db, seller_id, true, a, b, sign, t);
    return tally_span(db, seller_id, false, m, m, sign, t) &&
           tally_span(db, seller_id, true, first, a - 1, -sign, t) &&
           tally_span(db, seller_id, true, b + 1, last, -sign, t);
}

/* Rows per product tally_part reads for a..b of one month. */
static int part_cost(int32_t a, int32_t b)
{
    int32_t inside = b - a + 1, outside = month_last_day(a / 100) % 100 - inside;
    return outside >= inside ? inside : 1 + outside;
}

static int32_t month_next(int32_t ym)
{
    return ym % 100 == 12 ? (ym / 100 + 1) * 100 + 1 : ym + 1;
}

static int32_t month_prev(int32_t ym)
{
    return ym % 100 == 1 ? (ym / 100 - 1) * 100 + 12 : ym - 1;
}

static int32_t day_add(int32_t ymd, int n)
{
    return tz_days_ymd(tz_ymd_days(ymd) + n);
}

/* The days from..to (from ≤ to) in pieces: a partial month at either end
 * (read by tally_part) and the whole months between (month rows). A year's
 * report reads about 12 + 15 days' rows per product sold this way, not up
 * to 12 + 60. */
struct piece {
    bool months; /* a, b are months (yyyymm), else days of one month */
    int32_t a, b;
};

static int pieces(int32_t from, int32_t to, struct piece out[3])
{
    int32_t m1 = from / 100, m2 = to / 100;
    bool whole_first = from % 100 == 1, whole_last = to == month_last_day(m2);
    if (m1 == m2 && !(whole_first && whole_last)) {
        out[0] = (struct piece){false, from, to};
        return 1;
    }
    int n = 0;
    if (!whole_first)
        out[n++] = (struct piece){false, from, month_last_day(m1)};
    if (!whole_last)
        out[n++] = (struct piece){false, m2 * 100 + 1, to};
    out[n++] =
        (struct piece){true, whole_first ? m1 : month_next(m1), whole_last ? m2 : month_prev(m2)};
    return n;
}

static bool tally_months(struct db *db, int64_t seller_id, int32_t from, int32_t to, int sign,
                         struct tallies *t)
{
    struct piece p[3];
    int n = pieces(from, to, p);
    bool ok = true;
    for (int i = 0; ok && i < n; i++)
        ok = p[i].months ? tally_span(db, seller_id, false, p[i].a, p[i].b, sign, t)
                         : tally_part(db, seller_id, p[i].a, p[i].b, sign, t);
    return ok;
}

/* Rows per product tally_months reads for from..to. */
static int months_cost(int32_t from, int32_t to)
{
    struct piece p[3];
    int n = pieces(from, to, p), cost = 0;
    for (int i = 0; i < n; i++)
        if (!p[i].months)
            cost += part_cost(p[i].a, p[i].b);
        else
            for (int32_t m = p[i].a; m <= p[i].b; m = month_next(m))
                cost++;
    return cost;
}

static bool tally_year(struct db *db, int32_t year, int sign, struct tallies *t)
{
    struct stmt *st = db_prepare(db, "SELECT product_id, units, revenue_cents"
                                     " FROM analytics_product_years WHERE year = ?");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, year);
    return tally_rows(st, sign, t);
}

/* The days a..b of one calendar year, shop-wide: from months and days, or as
 * the year's row less the months and days outside a..b, whichever reads
 * fewer rows. Days after tomorrow hold nothing yet and cost nothing, so
 * "the last 365 days" is this year's row, less nothing, plus the rest of
 * last year's. */
static bool tally_in_year(struct db *db, int32_t a, int32_t b, int32_t today, struct tallies *t)
{
    int32_t jan1 = a / 10000 * 10000 + 101, dec31 = a / 10000 * 10000 + 1231;
    int32_t tomorrow = day_add(today, 1), until = dec31 < tomorrow ? dec31 : tomorrow;
    bool before = a > jan1;
    int32_t after = b < dec31 ? day_add(b, 1) : 0;
    bool have_after = after && after <= until;
    int outside = 1 + (before ? months_cost(jan1, day_add(a, -1)) : 0) +
                  (have_after ? months_cost(after, until) : 0);
    if (months_cost(a, b) <= outside)
        return tally_months(db, 0, a, b, 1, t);
    return tally_year(db, a / 10000, 1, t) &&
           (!before || tally_months(db, 0, jan1, day_add(a, -1), -1, t)) &&
           (!have_after || tally_months(db, 0, after, until, -1, t));
}

static enum shop_err top_products(struct db *db, int64_t seller_id, int32_t from, int32_t to,
                                  int32_t today, struct analytics_report *out,
                                  struct problem *pb)
{
    struct tallies t = {0};
    bool ok = true;
    if (seller_id) { /* year rows are shop-wide */
        ok = tally_months(db, seller_id, from, to, 1, &t);
    } else {
        for (int32_t y = from / 10000; ok && y <= to / 10000; y++) {
            int32_t a = y == from / 10000 ? from : y * 10000 + 101;
            int32_t b = y == to / 10000 ? to : y * 10000 + 1231;
            ok = tally_in_year(db, a, b, today, &t);
        }
    }
    out->ntop = 0;
    for (size_t i = 0; ok && i < t.cap; i++) {
        const struct tally *x = &t.v[i];
        if (!x->id || (x->units == 0 && x->cents == 0)) /* none sold in the range */
            continue;
        int at = out->ntop;
        while (at > 0 && tally_before(x, &out->top[at - 1]))
            at--;
        if (at >= ANALYTICS_TOP)
            continue;
        int last = out->ntop < ANALYTICS_TOP ? out->ntop : ANALYTICS_TOP - 1;
        memmove(&out->top[at + 1], &out->top[at], (size_t)(last - at) * sizeof out->top[0]);
        out->top[at] = (struct analytics_top){.product_id = x->id, .units = x->units,
                                              .revenue_cents = x->cents};
        if (out->ntop < ANALYTICS_TOP)
            out->ntop++;
    }
    free(t.v);
    if (!ok)
        return db_fail(db, pb, "reading top products");
    for (int i = 0; i < out->ntop; i++) {
        struct stmt *st = db_prepare(db, "SELECT title FROM products WHERE id = ?");
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
    /* A year's report is about a millisecond of CPU: they queue for the
     * cores (util/gate.h) instead of all running at once. */
    if (!gate_enter(&shop->reports, REPORT_WAIT_MS))
        return problem_set(pb, SHOP_UNAVAILABLE,
                           "too many reports are being computed; try again shortly");
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
    e = top_products(db, seller_id, from, to, tz_local_day(shop->tz, clock_now_ms()), out, pb);
done:
    db_read_end(db);
    db_release(db);
    gate_leave(&shop->reports);
    return e;
}
