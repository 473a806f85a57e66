/* sales_fold.c — see sales_fold.h: paid orders' quantities into
 * products.sales_count, one update per product per slice. */
#include "work/sales_fold.h"

#include <stdlib.h>
#include <string.h>

#include "shop/changes.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/cmp.h"
#include "util/xalloc.h"

/* Order ids further apart than this are read by separate range reads: a
 * range read walks the lines of every order in it, the slice's or not. */
#define RANGE_GAP 32

/* Products per UPDATE; unused places are padded with product 0 (none). */
#define PER_UPDATE 8

struct sold {
    int64_t product_id, quantity;
};

struct fold_state {
    struct sold *sold; /* this slice's, then the last committed slice's */
    size_t n, cap;
};

void *sales_fold_new(void)
{
    return xcalloc(1, sizeof(struct fold_state));
}

void sales_fold_free(void *cls)
{
    struct fold_state *s = cls;
    if (s)
        free(s->sold);
    free(s);
}

static void add(struct fold_state *s, int64_t product_id, int64_t quantity)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->sold = xrealloc(s->sold, s->cap * sizeof *s->sold);
    }
    s->sold[s->n++] = (struct sold){product_id, quantity};
}

/* The lines of the orders ids[0..n) (sorted, distinct), all within one
 * range. */
static bool read_range(struct db *db, const int64_t *ids, int n, struct fold_state *s)
{
    struct stmt *st = db_prepare(db, "SELECT order_id, product_id, quantity FROM order_lines"
                                     " WHERE order_id BETWEEN ? AND ?");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, ids[0]);
    stmt_bind_i64(st, 2, ids[n - 1]);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        int64_t order = stmt_i64(st, 0);
        /* Orders in the range that are not the slice's (unpaid, or another
         * slice's) are skipped. */
        if (bsearch(&order, ids, (size_t)n, sizeof *ids, cmp_i64))
            add(s, stmt_i64(st, 1), stmt_i64(st, 2));
    }
    return rc == STMT_DONE;
}

static bool update_counts(struct db *db, const struct sold *sold, size_t n)
{
    for (size_t at = 0; at < n; at += PER_UPDATE) {
        struct stmt *st =
            db_prepare(db, "UPDATE products SET sales_count = sales_count + CASE id WHEN ?1 THEN ?2"
                           " WHEN ?3 THEN ?4 WHEN ?5 THEN ?6 WHEN ?7 THEN ?8 WHEN ?9 THEN ?10"
                           " WHEN ?11 THEN ?12 WHEN ?13 THEN ?14 WHEN ?15 THEN ?16 ELSE 0 END"
                           " WHERE id IN (?1, ?3, ?5, ?7, ?9, ?11, ?13, ?15)");
        if (!st)
            return false;
        for (int k = 0; k < PER_UPDATE; k++) {
            bool real = at + (size_t)k < n;
            stmt_bind_i64(st, 2 * k + 1, real ? sold[at + (size_t)k].product_id : 0);
            stmt_bind_i64(st, 2 * k + 2, real ? sold[at + (size_t)k].quantity : 0);
        }
        if (stmt_step(st) != STMT_DONE)
            return false;
    }
    return true;
}

enum shop_err sales_fold_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                               void *cls, struct problem *pb)
{
    struct fold_state *s = cls;
    s->n = 0; /* a slice may run again: it starts over */
    int64_t ids[DISPATCH_SLICE];
    int k = 0;
    for (int i = 0; i < n && k < DISPATCH_SLICE; i++)
        if (!strcmp(evs[i]->topic, "order.confirmed"))
            ids[k++] = evs[i]->aggregate_id;
    if (k == 0)
        return SHOP_OK;
    qsort(ids, (size_t)k, sizeof *ids, cmp_i64);
    int distinct = 0;
    for (int i = 0; i < k; i++)
        if (distinct == 0 || ids[i] != ids[distinct - 1])
            ids[distinct++] = ids[i];
    struct db *db = store_db(shop->store);
    for (int from = 0; from < distinct;) {
        int to = from + 1;
        while (to < distinct && ids[to] - ids[to - 1] <= RANGE_GAP)
            to++;
        if (!read_range(db, ids + from, to - from, s))
            return db_fail(db, pb, "reading the paid orders' lines");
        from = to;
    }
    if (s->n == 0)
        return SHOP_OK; /* orders without lines (or gone since) */
    /* One entry per product, in id order. */
    qsort(s->sold, s->n, sizeof *s->sold, cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (m && s->sold[m - 1].product_id == s->sold[i].product_id)
            s->sold[m - 1].quantity += s->sold[i].quantity;
        else
            s->sold[m++] = s->sold[i];
    }
    s->n = m;
    if (!update_counts(db, s->sold, s->n))
        return db_fail(db, pb, "counting sales");
    return SHOP_OK;
}

/* The folded products' pages go, and their search entries are queued for
 * the change feed's next flush (shop/changes.h; a product queued twice
 * within one flush is refreshed once). Leaving the entries to the refresh
 * the order's stock move queues was a race: when that flush ran before the
 * fold committed, the index kept the old count until the product's next
 * change (a snapshot test saw popularity order differ from a fresh build). */
void sales_fold_committed(struct shop *shop, void *cls)
{
    struct fold_state *s = cls;
    for (size_t i = 0; i < s->n; i++)
        shop_product_stock_moved(shop, s->sold[i].product_id);
    s->n = 0;
}
