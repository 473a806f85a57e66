/* analytics_fold.c — the daily rollups: folding outbox events into them
 * (analytics.h is the essay; analytics_rebuild.c rebuilds them from the
 * orders through the same folds). */
#include "shop/analytics.h"
#include "shop/analytics_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/keylock.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/cmp.h"
#include "util/tz.h"
#include "util/xalloc.h"
#include "work/dispatcher.h"

/* ---- folding events ---------------------------------------------------------- */

/* A batch's rows go in up to ROWS_MAX to a statement, in chunks of 1, 8 or
 * ROWS_MAX rows (chunk_of), each chunk's text built once (db_rows_sql). */
#define ROWS_MAX 32
static const int chunk_rows[3] = {1, 8, ROWS_MAX};

static int chunk_of(size_t left)
{
    return left >= ROWS_MAX ? 2 : left >= 8 ? 1 : 0;
}

/* Claims, answering the fresh ones. */
static const char *claims_sql[3];
static pthread_once_t claims_once = PTHREAD_ONCE_INIT;

static void claims_build(void)
{
    for (int k = 0; k < 3; k++)
        claims_sql[k] = db_rows_sql("analytics_applied (key, at)", 2, chunk_rows[k],
                                    " ON CONFLICT (key) DO NOTHING RETURNING key");
}

/* Claims the keys of the facts ids[0..n) (ascending, distinct), a chunk to
 * a statement; fresh[i] is false when ids[i] was counted before. */
static enum shop_err claim(struct db *db, const char *kind, const int64_t *ids, int n,
                           bool *fresh, struct problem *pb)
{
    pthread_once(&claims_once, claims_build);
    int64_t now = clock_now_ms();
    size_t klen = strlen(kind);
    for (int at = 0; at < n;) {
        int k = chunk_of((size_t)(n - at)), rows = chunk_rows[k];
        struct stmt *st = db_prepare(db, claims_sql[k]);
        if (!st)
            return db_fail(db, pb, "claiming analytics facts");
        for (int i = 0; i < rows; i++) {
            char key[48];
            snprintf(key, sizeof key, "%s:%lld", kind, (long long)ids[at + i]);
            stmt_bind_text(st, 2 * i + 1, key);
            stmt_bind_i64(st, 2 * i + 2, now);
            fresh[at + i] = false;
        }
        int rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            const char *key = stmt_text(st, 0);
            if (strncmp(key, kind, klen) || key[klen] != ':')
                continue;
            int64_t id = strtoll(key + klen + 1, NULL, 10);
            for (int i = 0; i < rows; i++)
                if (ids[at + i] == id)
                    fresh[at + i] = true;
        }
        if (rc != STMT_DONE)
            return db_fail(db, pb, "claiming analytics facts");
        at += rows;
    }
    return SHOP_OK;
}

/* The figures a day's row adds up, one upsert for the shop's and one for a
 * seller's (?7), binding alike. */
#define ADD_FIGURES(T)                                                                             \
    " revenue_cents = " T ".revenue_cents + excluded.revenue_cents,"                               \
    " refunds_cents = " T ".refunds_cents + excluded.refunds_cents,"                               \
    " orders = " T ".orders + excluded.orders, units = " T ".units + excluded.units,"              \
    " returned_units = " T ".returned_units + excluded.returned_units"

/* Adds to the shop's day, or (seller_id != NULL) to that seller's. */
static enum shop_err add_figures(struct db *db, const int64_t *seller_id, int32_t day,
                                 int64_t revenue, int64_t refunds, int64_t orders, int64_t units,
                                 int64_t returned, struct problem *pb)
{
    struct stmt *st =
        seller_id
            ? db_prepare(db, "INSERT INTO analytics_seller_days (seller_id, day, revenue_cents,"
                             " refunds_cents, orders, units, returned_units)"
                             " VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (seller_id, day)"
                             " DO UPDATE SET" ADD_FIGURES("analytics_seller_days"))
            : db_prepare(db, "INSERT INTO analytics_days (day, revenue_cents, refunds_cents,"
                             " orders, units, returned_units) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                             " ON CONFLICT (day) DO UPDATE SET" ADD_FIGURES("analytics_days"));
    if (!st)
        return db_fail(db, pb, "counting a day");
    stmt_bind_i64(st, 1, day);
    stmt_bind_i64(st, 2, revenue);
    stmt_bind_i64(st, 3, refunds);
    stmt_bind_i64(st, 4, orders);
    stmt_bind_i64(st, 5, units);
    stmt_bind_i64(st, 6, returned);
    if (seller_id)
        stmt_bind_i64(st, 7, *seller_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "counting a day");
}

/* A product's sale goes into its day's, month's and (shop-wide only, no
 * seller column) year's row: the same upsert but for the table and key, a
 * batch's rows a chunk to a statement (add_products). */
static struct product_rollup {
    const char *into, *update, *what;
    int32_t per; /* the key is the day (yyyymmdd) divided by this */
    bool seller;
    const char *sql[3]; /* built once, a text per chunk size */
} product_rollups[] = {
    {"analytics_product_days (product_id, day, seller_id, units, revenue_cents)",
     " ON CONFLICT (day, product_id) DO UPDATE SET"
     " units = analytics_product_days.units + excluded.units,"
     " revenue_cents = analytics_product_days.revenue_cents + excluded.revenue_cents",
     "counting products' days", 1, true, {NULL}},
    {"analytics_product_months (product_id, month, seller_id, units, revenue_cents)",
     " ON CONFLICT (month, product_id) DO UPDATE SET"
     " units = analytics_product_months.units + excluded.units,"
     " revenue_cents = analytics_product_months.revenue_cents + excluded.revenue_cents",
     "counting products' months", 100, true, {NULL}},
    {"analytics_product_years (product_id, year, units, revenue_cents)",
     " ON CONFLICT (year, product_id) DO UPDATE SET"
     " units = analytics_product_years.units + excluded.units,"
     " revenue_cents = analytics_product_years.revenue_cents + excluded.revenue_cents",
     "counting products' years", 10000, false, {NULL}},
};
#define NROLLUPS (sizeof product_rollups / sizeof product_rollups[0])
static pthread_once_t rollups_once = PTHREAD_ONCE_INIT;

static void rollups_build(void)
{
    for (size_t r = 0; r < NROLLUPS; r++) {
        struct product_rollup *u = &product_rollups[r];
        for (int k = 0; k < 3; k++)
            u->sql[k] = db_rows_sql(u->into, u->seller ? 5 : 4, chunk_rows[k], u->update);
    }
}

/* (key, units, cents) sums, few per order: a linear list is enough. */
struct sums {
    int n, cap;
    struct sum {
        int64_t key, seller, units, cents;
    } * v;
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

/* Rows to add up per (key, day) over a batch of orders: appended, then
 * sorted and merged once (a rebuild's batch holds thousands). */
struct rows {
    size_t n, cap;
    struct row {
        int64_t key, seller;
        int32_t day;
        int64_t units, cents, orders;
    } * v;
};

static void rows_add(struct rows *r, struct row x)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = xrealloc(r->v, r->cap * sizeof *r->v);
    }
    r->v[r->n++] = x;
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->day > y->day) - (x->day < y->day);
}

static void rows_merge(struct rows *r)
{
    if (r->n < 2)
        return;
    qsort(r->v, r->n, sizeof *r->v, row_cmp);
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct row *last = m ? &r->v[m - 1] : NULL;
        if (last && last->key == r->v[i].key && last->day == r->v[i].day) {
            last->units += r->v[i].units;
            last->cents += r->v[i].cents;
            last->orders += r->v[i].orders;
        } else {
            r->v[m++] = r->v[i];
        }
    }
    r->n = m;
}

/* A batch's product rows (key: the product, day: yyyymmdd) into each
 * rollup, merged to the rollup's period first: one statement may not
 * upsert a row twice. */
static enum shop_err add_products(struct db *db, const struct rows *products, struct problem *pb)
{
    pthread_once(&rollups_once, rollups_build);
    struct rows per = {0};
    enum shop_err e = SHOP_OK;
    for (size_t r = 0; r < NROLLUPS && e == SHOP_OK; r++) {
        const struct product_rollup *u = &product_rollups[r];
        per.n = 0;
        for (size_t i = 0; i < products->n; i++) {
            struct row x = products->v[i];
            x.day /= u->per;
            rows_add(&per, x);
        }
        rows_merge(&per);
        for (size_t at = 0; at < per.n && e == SHOP_OK;) {
            int k = chunk_of(per.n - at), rows = chunk_rows[k];
            struct stmt *st = db_prepare(db, u->sql[k]);
            if (!st) {
                e = db_fail(db, pb, u->what);
                break;
            }
            int b = 1;
            for (int i = 0; i < rows; i++) {
                const struct row *x = &per.v[at + (size_t)i];
                stmt_bind_i64(st, b++, x->key);
                stmt_bind_i64(st, b++, x->day);
                if (u->seller)
                    stmt_bind_i64(st, b++, x->seller);
                stmt_bind_i64(st, b++, x->units);
                stmt_bind_i64(st, b++, x->cents);
            }
            if (stmt_step(st) != STMT_DONE)
                e = db_fail(db, pb, u->what);
            at += (size_t)rows;
        }
    }
    free(per.v);
    return e;
}

/* A paid order being folded: its claim was fresh. */
struct paid {
    int64_t id, total, units;
    int32_t day;
    bool found; /* its row was read (an order deleted since is claimed, not counted) */
};

/* Batch sums: the shop's days (key 0), sellers' days, products' days. */
struct paid_sums {
    struct rows days, sellers, products;
};

#define RANGE_GAP 32 /* orders whose ids are this close are read in one range */

static struct paid *paid_find(struct paid *o, int n, int64_t id)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (o[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && o[lo].id == id ? &o[lo] : NULL;
}

/* One order's sellers into the batch sums: each counts the order once. */
static void paid_sellers_done(struct paid_sums *ps, const struct paid *o, struct sums *sellers)
{
    for (int i = 0; i < sellers->n; i++)
        rows_add(&ps->sellers, (struct row){.key = sellers->v[i].key,
                                            .day = o->day,
                                            .units = sellers->v[i].units,
                                            .cents = sellers->v[i].cents,
                                            .orders = 1});
    sellers->n = 0;
}

/* The orders o[0..n) (ids ascending) and their lines, two reads of the ids
 * o[0].id … o[n - 1].id that keep the rows of those orders only. */
static enum shop_err read_paid_range(struct db *db, const struct tz *tz, struct paid *o, int n,
                                     struct paid_sums *ps, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT id, total_cents, coalesce(paid_at, updated_at)"
                                     " FROM orders WHERE id BETWEEN ? AND ?");
    if (!st)
        return db_fail(db, pb, "reading the orders");
    stmt_bind_i64(st, 1, o[0].id);
    stmt_bind_i64(st, 2, o[n - 1].id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        struct paid *x = paid_find(o, n, stmt_i64(st, 0));
        if (!x)
            continue;
        x->found = true;
        x->total = stmt_i64(st, 1);
        x->day = tz_local_day(tz, stmt_i64(st, 2));
    }
    if (rc != STMT_DONE)
        return db_fail(db, pb, "reading the orders");
    st = db_prepare(db, "SELECT l.order_id, l.product_id, coalesce(p.seller_id, 0), l.quantity,"
                        " l.quantity * l.unit_price_cents - l.discount_cents"
                        " FROM order_lines l LEFT JOIN products p ON p.id = l.product_id"
                        " WHERE l.order_id BETWEEN ? AND ? ORDER BY l.order_id");
    if (!st)
        return db_fail(db, pb, "reading the orders' lines");
    stmt_bind_i64(st, 1, o[0].id);
    stmt_bind_i64(st, 2, o[n - 1].id);
    struct sums sellers = {0};
    struct paid *cur = NULL;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        struct paid *x = paid_find(o, n, stmt_i64(st, 0));
        if (!x || !x->found)
            continue;
        if (x != cur) {
            if (cur)
                paid_sellers_done(ps, cur, &sellers);
            cur = x;
        }
        int64_t product = stmt_i64(st, 1), seller = stmt_i64(st, 2), q = stmt_i64(st, 3);
        int64_t cents = stmt_i64(st, 4);
        x->units += q;
        sums_add(&sellers, seller, 0, q, cents);
        rows_add(&ps->products,
                 (struct row){
                     .key = product, .seller = seller, .day = x->day, .units = q, .cents = cents});
    }
    if (cur)
        paid_sellers_done(ps, cur, &sellers);
    free(sellers.v);
    for (int i = 0; i < n; i++)
        if (o[i].found)
            rows_add(&ps->days, (struct row){.key = 0,
                                             .day = o[i].day,
                                             .cents = o[i].total,
                                             .units = o[i].units,
                                             .orders = 1});
    return rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading the orders' lines");
}

/* Paid orders folded together (a slice's, or a batch of a rebuild; `ids`
 * ascending): each claims its key, the fresh ones are read a range of ids at
 * a time, and their figures are added up before any rollup row is written,
 * so a day's, a seller's or a product's row takes one upsert per batch
 * instead of one per order. */
enum shop_err analytics_fold_paid(struct db *db, const struct tz *tz, const int64_t *ids, int n,
                                  struct problem *pb)
{
    struct paid *o = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *o);
    int64_t *uniq = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *uniq);
    bool *fresh = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *fresh);
    struct paid_sums ps = {0};
    int k = 0, u = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            uniq[u++] = ids[i];
    enum shop_err e = claim(db, "paid", uniq, u, fresh, pb);
    for (int i = 0; i < u && e == SHOP_OK; i++)
        if (fresh[i])
            o[k++] = (struct paid){.id = uniq[i]};
    free(uniq);
    free(fresh);
    for (int from = 0; from < k && e == SHOP_OK;) {
        int to = from + 1;
        while (to < k && o[to].id - o[to - 1].id <= RANGE_GAP)
            to++;
        e = read_paid_range(db, tz, o + from, to - from, &ps, pb);
        from = to;
    }
    rows_merge(&ps.days);
    rows_merge(&ps.sellers);
    rows_merge(&ps.products);
    for (size_t i = 0; e == SHOP_OK && i < ps.days.n; i++) {
        const struct row *r = &ps.days.v[i];
        e = add_figures(db, NULL, r->day, r->cents, 0, r->orders, r->units, 0, pb);
    }
    for (size_t i = 0; e == SHOP_OK && i < ps.sellers.n; i++) {
        const struct row *r = &ps.sellers.v[i];
        e = add_figures(db, &r->key, r->day, r->cents, 0, r->orders, r->units, 0, pb);
    }
    if (e == SHOP_OK)
        e = add_products(db, &ps.products, pb);
    free(ps.days.v);
    free(ps.sellers.v);
    free(ps.products.v);
    free(o);
    return e;
}

/* What of `refunded` cents a line got back were its goods (quantity × unit
 * price − discount) rather than its tax: in proportion, rounded down, never
 * more than the goods. */
static int64_t goods_part(int64_t refunded, int64_t goods, int64_t tax)
{
    if (goods <= 0 || refunded <= 0)
        return 0;
    int64_t paid = goods + (tax > 0 ? tax : 0);
    int64_t part = (int64_t)((__int128)refunded * goods / paid);
    return part < goods ? part : goods;
}

/* A refund of lines: each line's seller gets the goods part of what the line
 * got back. With what the line's earlier refunds came to, a part is the
 * growth of the goods part of their running sum, so a line refunded in
 * parts adds up to what it would refunded whole. *found is false when the
 * refund has no lines (one from before refund_lines). */
static enum shop_err line_shares(struct db *db, int64_t refund_id, struct sums *sellers,
                                 bool *found, struct problem *pb)
{
    *found = false;
    struct stmt *st = db_prepare(db, "SELECT coalesce(p.seller_id, 0),"
                                     " l.quantity * l.unit_price_cents - l.discount_cents,"
                                     " l.tax_cents, rl.amount_cents,"
                                     " (SELECT coalesce(sum(e.amount_cents), 0) FROM refund_lines e"
                                     "  WHERE e.order_line_id = rl.order_line_id"
                                     "  AND e.refund_id < rl.refund_id)"
                                     " FROM refund_lines rl"
                                     " JOIN order_lines l ON l.id = rl.order_line_id"
                                     " LEFT JOIN products p ON p.id = l.product_id"
                                     " WHERE rl.refund_id = ?");
    if (!st)
        return db_fail(db, pb, "reading a refund's lines");
    stmt_bind_i64(st, 1, refund_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        *found = true;
        int64_t goods = stmt_i64(st, 1), tax = stmt_i64(st, 2), part = stmt_i64(st, 3);
        int64_t before = stmt_i64(st, 4);
        int64_t share = goods_part(before + part, goods, tax) - goods_part(before, goods, tax);
        sums_add(sellers, stmt_i64(st, 0), 0, 0, share);
    }
    return rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading a refund's lines");
}

/* A refund for no line (one recorded before refund_lines): split over the
 * order's sellers by their lines' share of the order's total. With what the
 * order's earlier refunds came to, a seller's share is the growth of its
 * share of their running sum, so the shares of an order refunded in parts
 * add up to what it was refunded whole. */
static enum shop_err proportional_shares(struct db *db, int64_t order_id, int64_t amount,
                                         int64_t total, int64_t before, struct sums *sellers,
                                         struct problem *pb)
{
    struct sums goods = {0};
    struct stmt *st =
        db_prepare(db, "SELECT coalesce(p.seller_id, 0),"
                       " l.quantity * l.unit_price_cents - l.discount_cents"
                       " FROM order_lines l LEFT JOIN products p ON p.id = l.product_id"
                       " WHERE l.order_id = ?");
    if (!st)
        return db_fail(db, pb, "reading an order's lines");
    stmt_bind_i64(st, 1, order_id);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW)
        sums_add(&goods, stmt_i64(st, 0), 0, 0, stmt_i64(st, 1));
    for (int i = 0; rc == STMT_DONE && i < goods.n && total > 0; i++) {
        int64_t g = goods.v[i].cents;
        sums_add(sellers, goods.v[i].key, 0, 0,
                 (int64_t)((__int128)(before + amount) * g / total) -
                     (int64_t)((__int128)before * g / total));
    }
    free(goods.v);
    return rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading an order's lines");
}

/* The shop's day gets the whole refund; its lines' sellers their goods'
 * part of it (analytics.h says why). */
enum shop_err analytics_fold_refund(struct db *db, const struct tz *tz, int64_t order_id,
                                    int64_t refund_id, struct problem *pb)
{
    bool fresh;
    if (claim(db, "refund", &refund_id, 1, &fresh, pb) != SHOP_OK || !fresh)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT r.amount_cents, r.created_at, o.total_cents,"
                                     " (SELECT coalesce(sum(e.amount_cents), 0) FROM refunds e"
                                     "  WHERE e.order_id = r.order_id AND e.id < r.id)"
                                     " FROM refunds r JOIN orders o ON o.id = r.order_id"
                                     " WHERE r.id = ?");
    if (!st)
        return db_fail(db, pb, "reading a refund");
    stmt_bind_i64(st, 1, refund_id);
    if (stmt_step(st) != STMT_ROW)
        return SHOP_OK;
    int64_t amount = stmt_i64(st, 0), total = stmt_i64(st, 2), before = stmt_i64(st, 3);
    int32_t day = tz_local_day(tz, stmt_i64(st, 1));
    struct sums sellers = {0};
    bool by_lines;
    enum shop_err e = line_shares(db, refund_id, &sellers, &by_lines, pb);
    if (e == SHOP_OK && !by_lines)
        e = proportional_shares(db, order_id, amount, total, before, &sellers, pb);
    if (e == SHOP_OK)
        e = add_figures(db, NULL, day, 0, amount, 0, 0, 0, pb);
    for (int i = 0; e == SHOP_OK && i < sellers.n; i++)
        if (sellers.v[i].cents > 0)
            e = add_figures(db, &sellers.v[i].key, day, 0, sellers.v[i].cents, 0, 0, 0, pb);
    free(sellers.v);
    return e;
}

/* The return's day is its approval's (return_history), which a rebuild reads
 * the same way; `fallback_ms` (the event's time) only if history has none. */
enum shop_err analytics_fold_return(struct db *db, const struct tz *tz, int64_t return_id,
                                    int64_t fallback_ms, struct problem *pb)
{
    bool fresh;
    if (claim(db, "return", &return_id, 1, &fresh, pb) != SHOP_OK || !fresh)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT min(at) FROM return_history"
                                     " WHERE return_id = ? AND status = 'approved'");
    if (!st)
        return db_fail(db, pb, "reading a return's approval");
    stmt_bind_i64(st, 1, return_id);
    int64_t at = stmt_step(st) == STMT_ROW && !stmt_is_null(st, 0) ? stmt_i64(st, 0) : fallback_ms;
    int32_t day = tz_local_day(tz, at);
    struct sums sellers = {0};
    int64_t units = 0;
    st = db_prepare(db, "SELECT coalesce(p.seller_id, 0), rl.quantity"
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
        e = add_figures(db, NULL, day, 0, 0, 0, 0, units, pb);
    for (int i = 0; e == SHOP_OK && i < sellers.n; i++)
        e = add_figures(db, &sellers.v[i].key, day, 0, 0, 0, 0, sellers.v[i].units, pb);
    free(sellers.v);
    return e;
}

static int64_t field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Every write to the rollups takes this lock first (a no-op on SQLite, where
 * writes run alone). On PostgreSQL, at READ COMMITTED, a rebuild's clearing
 * could otherwise delete a fold's claim but miss the day row that fold
 * inserted, committed between its two DELETEs: that fact would count twice. */
enum shop_err analytics_lock_rollups(struct db *db, struct problem *pb)
{
    static const char *const key[] = {"analytics:rollups"};
    return keylock(db, key, 1, pb);
}

enum shop_err analytics_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                              void *cls, struct problem *pb)
{
    (void)cls;
    struct db *db = store_db(shop->store); /* the writer's: slices run in a write */
    if (analytics_lock_rollups(db, pb) != SHOP_OK)
        return pb->err;
    int64_t paid[DISPATCH_SLICE];
    int npaid = 0;
    enum shop_err e = SHOP_OK;
    for (int i = 0; i < n && e == SHOP_OK; i++) {
        const struct outbox_event *ev = evs[i];
        if (!strcmp(ev->topic, "order.confirmed")) {
            if (npaid < DISPATCH_SLICE)
                paid[npaid++] = ev->aggregate_id;
            continue;
        }
        bool refund = !strcmp(ev->topic, "order.refunded");
        if (!refund && strcmp(ev->topic, "order.return_approved"))
            continue;
        json_t *o = json_loads(ev->payload, 0, NULL);
        int64_t id = field(o, refund ? "refund_id" : "return_id");
        json_decref(o);
        if (id && refund)
            e = analytics_fold_refund(db, shop->tz, ev->aggregate_id, id, pb);
        else if (id)
            e = analytics_fold_return(db, shop->tz, id, ev->created_at, pb);
    }
    if (e != SHOP_OK || npaid == 0)
        return e;
    qsort(paid, (size_t)npaid, sizeof *paid, cmp_i64);
    return analytics_fold_paid(db, shop->tz, paid, npaid, pb);
}
