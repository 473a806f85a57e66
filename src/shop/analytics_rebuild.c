/* analytics_rebuild.c — `shopd analytics rebuild`: the daily rollups
 * recomputed from the orders, refunds and returns through the consumer's
 * own folds (analytics_fold.c; analytics.h is the essay). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/analytics.h"
#include "shop/analytics_int.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/tz.h"
#include "util/xalloc.h"

#define BATCH 1000 /* facts read and folded a transaction */

struct clear_job {
    int32_t from, to; /* 0, 0: everything */
};

/* Facts of one kind: id, the moment that dates it, and the order it belongs to. */
struct fact {
    int64_t id, at, order_id;
};

enum fact_kind { FACT_PAID, FACT_REFUND, FACT_RETURN };

static const char *const fact_key[] = {"paid", "refund", "return"};

/* Up to BATCH facts of `kind` with id > after, in id order. The SQL reads
 * every fact; the caller keeps those whose local day is in the range. */
static int read_facts(struct db *db, enum fact_kind kind, int64_t after, struct fact *out,
                      struct problem *pb)
{
    static const char *const sql[] = {
        "SELECT id, paid_at, id FROM orders WHERE paid_at IS NOT NULL AND id > ?"
        " ORDER BY id LIMIT 1000",
        "SELECT id, created_at, order_id FROM refunds WHERE id > ? ORDER BY id LIMIT 1000",
        "SELECT return_id, min(at), 0 FROM return_history WHERE status = 'approved'"
        " AND return_id > ? GROUP BY return_id ORDER BY return_id LIMIT 1000",
    };
    struct stmt *st = db_prepare(db, sql[kind]);
    if (!st) {
        db_fail(db, pb, "reading what to count");
        return -1;
    }
    stmt_bind_i64(st, 1, after);
    int n = 0, rc;
    while (n < BATCH && (rc = stmt_step(st)) == STMT_ROW)
        out[n++] = (struct fact){stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 2)};
    if (n < BATCH && rc != STMT_DONE) {
        db_fail(db, pb, "reading what to count");
        return -1;
    }
    return n;
}

static bool in_range(const struct tz *tz, const struct clear_job *r, int64_t at)
{
    if (!r->from)
        return true;
    int32_t day = tz_local_day(tz, at);
    return day >= r->from && day <= r->to;
}

struct clear_ctx {
    struct shop *shop;
    struct clear_job range;
};

/* Removes the rollups of the range and the claims of its facts, in one
 * transaction: a report never sees a range half cleared. */
static enum shop_err clear_write(struct db *db, void *arg, struct problem *pb)
{
    struct clear_ctx *c = arg;
    if (analytics_lock_rollups(db, pb) != SHOP_OK)
        return pb->err;
    static const char *const all[] = {
        "DELETE FROM analytics_days",          "DELETE FROM analytics_seller_days",
        "DELETE FROM analytics_product_days",  "DELETE FROM analytics_product_months",
        "DELETE FROM analytics_product_years", "DELETE FROM analytics_applied"};
    /* A year's row is the sum of its months': the months cleared are taken
     * out of it (before they go), and their refold adds them back. */
    static const char *const some[] = {
        "DELETE FROM analytics_days WHERE day BETWEEN ?1 AND ?2",
        "DELETE FROM analytics_seller_days WHERE day BETWEEN ?1 AND ?2",
        "DELETE FROM analytics_product_days WHERE day BETWEEN ?1 AND ?2",
        "UPDATE analytics_product_years SET units = analytics_product_years.units - m.units,"
        " revenue_cents = analytics_product_years.revenue_cents - m.revenue_cents"
        " FROM (SELECT month / 100 AS year, product_id, sum(units) AS units,"
        " sum(revenue_cents) AS revenue_cents FROM analytics_product_months"
        " WHERE month BETWEEN ?1 / 100 AND ?2 / 100 GROUP BY month / 100, product_id) AS m"
        " WHERE analytics_product_years.year = m.year"
        " AND analytics_product_years.product_id = m.product_id",
        "DELETE FROM analytics_product_months WHERE month BETWEEN ?1 / 100 AND ?2 / 100"};
    int ntables = c->range.from ? 5 : 6;
    for (int i = 0; i < ntables; i++) {
        struct stmt *st = db_prepare(db, c->range.from ? some[i] : all[i]);
        if (!st)
            return db_fail(db, pb, "clearing the rollups");
        if (c->range.from) {
            stmt_bind_i64(st, 1, c->range.from);
            stmt_bind_i64(st, 2, c->range.to);
        }
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "clearing the rollups");
    }
    if (!c->range.from)
        return SHOP_OK;
    struct fact *f = xmalloc(BATCH * sizeof *f);
    enum shop_err e = SHOP_OK;
    for (int kind = FACT_PAID; e == SHOP_OK && kind <= FACT_RETURN; kind++) {
        int64_t after = 0;
        int n;
        while ((n = read_facts(db, kind, after, f, pb)) > 0 && e == SHOP_OK) {
            for (int i = 0; e == SHOP_OK && i < n; i++) {
                if (!in_range(c->shop->tz, &c->range, f[i].at))
                    continue;
                char key[48];
                snprintf(key, sizeof key, "%s:%lld", fact_key[kind], (long long)f[i].id);
                struct stmt *st = db_prepare(db, "DELETE FROM analytics_applied WHERE key = ?");
                if (!st) {
                    e = db_fail(db, pb, "clearing what was counted");
                    break;
                }
                stmt_bind_text(st, 1, key);
                if (stmt_step(st) != STMT_DONE)
                    e = db_fail(db, pb, "clearing what was counted");
            }
            after = f[n - 1].id;
        }
        if (n < 0)
            e = pb->err;
    }
    free(f);
    return e;
}

struct count_job {
    struct shop *shop;
    const struct clear_job *range;
    enum fact_kind kind;
    int64_t after;   /* in: the last id done; out: the last id read */
    int64_t counted; /* out: facts folded in this batch */
    bool done;       /* out: no more facts of this kind */
};

/* One batch of facts folded through the consumer's own folds: each claims
 * its key first, so a fact the consumer has counted meanwhile is skipped,
 * and the consumer skips what this counted. */
static enum shop_err count_write(struct db *db, void *arg, struct problem *pb)
{
    struct count_job *j = arg;
    if (analytics_lock_rollups(db, pb) != SHOP_OK)
        return pb->err;
    struct fact *f = xmalloc(BATCH * sizeof *f);
    int n = read_facts(db, j->kind, j->after, f, pb);
    enum shop_err e = n < 0 ? pb->err : SHOP_OK;
    j->counted = 0;
    const struct tz *tz = j->shop->tz;
    int64_t *paid = xmalloc(BATCH * sizeof *paid); /* in id order, as read */
    int npaid = 0;
    for (int i = 0; e == SHOP_OK && i < n; i++) {
        if (!in_range(tz, j->range, f[i].at))
            continue;
        if (j->kind == FACT_PAID)
            paid[npaid++] = f[i].id;
        else
            e = j->kind == FACT_REFUND ? analytics_fold_refund(db, tz, f[i].order_id, f[i].id, pb)
                                       : analytics_fold_return(db, tz, f[i].id, f[i].at, pb);
        j->counted++;
    }
    if (e == SHOP_OK && npaid)
        e = analytics_fold_paid(db, tz, paid, npaid, pb);
    free(paid);
    if (e == SHOP_OK) {
        j->done = n < BATCH;
        if (n > 0)
            j->after = f[n - 1].id;
    }
    free(f);
    return e;
}

enum shop_err analytics_rebuild(struct shop *shop, int32_t from, int32_t to,
                                struct analytics_rebuild_stats *out, struct problem *pb)
{
    memset(out, 0, sizeof *out);
    struct clear_ctx c = {.shop = shop};
    if (from || to) {
        /* Whole months: the month rollups cannot be cut. */
        c.range.from = from / 100 * 100 + 1;
        int y = to / 10000, m = to / 100 % 100;
        c.range.to =
            tz_days_ymd(tz_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1);
    }
    out->from = c.range.from;
    out->to = c.range.to;
    if (store_write(shop->store, clear_write, &c, pb) != SHOP_OK)
        return pb->err;
    int64_t *counts[] = {&out->orders, &out->refunds, &out->returns};
    for (int kind = FACT_PAID; kind <= FACT_RETURN; kind++) {
        struct count_job j = {.shop = shop, .range = &c.range, .kind = kind};
        do {
            if (store_write(shop->store, count_write, &j, pb) != SHOP_OK)
                return pb->err;
            *counts[kind] += j.counted;
        } while (!j.done);
    }
    return SHOP_OK;
}
