/* doctor.c — checks a shop's database (OPS-6).
 *
 * Each check is one query for the rows that break an invariant; a healthy
 * shop returns none. Run on a live database they read one snapshot
 * (db_read_begin), so a checkout half-way through never looks broken.
 *
 *   integrity   SQLite's PRAGMA integrity_check (pages, indexes, constraints)
 *   stock       0 ≤ reserved ≤ on_hand; reserved equals the active
 *               reservations plus the units live flash sales still set aside
 *               (flash_sale_stock.left_qty) at that warehouse
 *   payments    every paid order (paid_at set) has captured payments summing
 *               to its total
 *   refunds     an order's refunds sum to its refunded_cents and never
 *               exceed what was captured; no payment refunded beyond its
 *               amount
 *   credit      every customer's store-credit ledger sums to ≥ 0
 *   outbox      consumers' positions are ≥ 0 and not past the newest event
 *               (a position ahead of the outbox means events will be skipped:
 *               a database restored under newer positions)
 */
#include "shop/doctor.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"

struct run {
    void (*report)(void *cls, const char *check, const char *detail);
    void *cls;
    int64_t problems;
};

/* Reports the rows of `st` (columns formatted by `fmt` of up to 4 integers
 * or the first text column), at most DOCTOR_EXAMPLES, then the count. */
static enum shop_err rows(struct run *r, struct db *db, struct stmt *st, const char *check,
                          const char *fmt, int ncols, struct problem *pb)
{
    if (!st)
        return db_fail(db, pb, check);
    int64_t n = 0;
    int rc;
    char detail[512];
    while ((rc = stmt_step(st)) == STMT_ROW) {
        n++;
        if (n > DOCTOR_EXAMPLES)
            continue;
        long long v[4] = {0};
        for (int i = 0; i < ncols && i < 4; i++)
            v[i] = (long long)stmt_i64(st, i);
/* The formats are this file's literals, each matched to its query's columns. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (ncols == 0)
            snprintf(detail, sizeof detail, fmt, stmt_text(st, 0));
        else
            snprintf(detail, sizeof detail, fmt, v[0], v[1], v[2], v[3]);
#pragma GCC diagnostic pop
        r->report(r->cls, check, detail);
    }
    if (rc != STMT_DONE)
        return db_fail(db, pb, check);
    if (n > DOCTOR_EXAMPLES) {
        snprintf(detail, sizeof detail, "… %lld in all", (long long)n);
        r->report(r->cls, check, detail);
    }
    r->problems += n;
    return SHOP_OK;
}

enum shop_err doctor_run(struct store *s, void (*report)(void *cls, const char *check,
                                                         const char *detail),
                         void *cls, int64_t *problems, struct problem *pb)
{
    struct run r = {report, cls, 0};
    struct db *db = store_db(s);
    enum shop_err e = SHOP_OK;
    if (db_serialised(db)) { /* SQLite */
        struct stmt *st = db_prepare(db, "PRAGMA integrity_check");
        if (!st)
            return db_fail(db, pb, "integrity");
        int rc;
        char detail[512];
        while ((rc = stmt_step(st)) == STMT_ROW)
            if (strcmp(stmt_text(st, 0), "ok")) {
                snprintf(detail, sizeof detail, "%s", stmt_text(st, 0));
                report(cls, "integrity", detail);
                r.problems++;
            }
        db_release(db);
        if (rc != STMT_DONE)
            return db_fail(db, pb, "integrity");
    }
    db_read_begin(db);
    e = rows(&r, db,
             db_prepare(db, "SELECT variant_id, warehouse_id, on_hand, reserved FROM stock"
                            " WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand"),
             "stock", "variant %lld at warehouse %lld: on_hand %lld, reserved %lld", 4, pb);
    if (e == SHOP_OK)
        e = rows(&r, db,
                 db_prepare(db,
                            "SELECT s.variant_id, s.warehouse_id, s.reserved,"
                            " coalesce((SELECT sum(x.quantity) FROM reservations x"
                            "  WHERE x.variant_id = s.variant_id AND x.warehouse_id = s.warehouse_id"
                            "  AND x.status = 'active'), 0) + coalesce((SELECT sum(f.left_qty)"
                            "  FROM flash_sale_stock f JOIN flash_sales fs ON fs.id = f.sale_id"
                            "  WHERE fs.variant_id = s.variant_id AND f.warehouse_id = s.warehouse_id),"
                            "  0) AS held FROM stock s WHERE s.reserved <> coalesce((SELECT"
                            "  sum(x.quantity) FROM reservations x WHERE x.variant_id = s.variant_id"
                            "  AND x.warehouse_id = s.warehouse_id AND x.status = 'active'), 0)"
                            "  + coalesce((SELECT sum(f.left_qty) FROM flash_sale_stock f"
                            "  JOIN flash_sales fs ON fs.id = f.sale_id WHERE fs.variant_id ="
                            "  s.variant_id AND f.warehouse_id = s.warehouse_id), 0)"),
                 "stock",
                 "variant %lld at warehouse %lld: reserved %lld but active reservations and"
                 " flash sales hold %lld",
                 4, pb);
    if (e == SHOP_OK)
        e = rows(&r, db,
                 db_prepare(db, "SELECT o.id, o.total_cents, coalesce((SELECT sum(p.amount_cents)"
                                " FROM payments p WHERE p.order_id = o.id AND"
                                " p.status = 'captured'), 0) AS captured FROM orders o"
                                " WHERE o.paid_at IS NOT NULL AND o.total_cents <> coalesce(("
                                "SELECT sum(p.amount_cents) FROM payments p WHERE p.order_id ="
                                " o.id AND p.status = 'captured'), 0)"),
                 "payments", "order %lld: total %lld cents but %lld captured", 3, pb);
    if (e == SHOP_OK)
        e = rows(&r, db,
                 db_prepare(db, "SELECT t.id, t.refunded_cents, t.refunds, t.captured FROM ("
                                "SELECT o.id, o.refunded_cents, coalesce((SELECT"
                                " sum(f.amount_cents) FROM refunds f WHERE f.order_id = o.id), 0)"
                                " AS refunds, coalesce((SELECT sum(p.amount_cents) FROM payments p"
                                " WHERE p.order_id = o.id AND p.status = 'captured'), 0) AS captured"
                                " FROM orders o WHERE o.refunded_cents <> 0 OR EXISTS (SELECT 1"
                                " FROM refunds f WHERE f.order_id = o.id)) t"
                                " WHERE t.refunds <> t.refunded_cents OR t.refunds > t.captured"),
                 "refunds",
                 "order %lld: refunded_cents %lld, refunds sum to %lld, captured %lld", 4, pb);
    if (e == SHOP_OK)
        e = rows(&r, db,
                 db_prepare(db, "SELECT id, order_id, amount_cents, refunded_cents FROM payments"
                                " WHERE refunded_cents > amount_cents OR refunded_cents < 0"),
                 "refunds", "payment %lld of order %lld: %lld paid, %lld refunded", 4, pb);
    if (e == SHOP_OK)
        e = rows(&r, db,
                 db_prepare(db, "SELECT user_id, sum(amount_cents) FROM store_credit_entries"
                                " GROUP BY user_id HAVING sum(amount_cents) < 0"),
                 "credit", "user %lld: store credit balance %lld cents", 2, pb);
    if (e == SHOP_OK)
        e = rows(&r, db,
                 db_prepare(db, "SELECT name FROM outbox_consumers WHERE position < 0 OR ("
                                " EXISTS (SELECT 1 FROM outbox) AND position >"
                                " (SELECT max(id) FROM outbox))"),
                 "outbox", "consumer %s: position past the newest event (events would be skipped)",
                 0, pb);
    db_read_end(db);
    db_release(db);
    *problems = r.problems;
    return e;
}
