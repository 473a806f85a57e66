/* analytics.h — sales analytics by day, shop-wide and per seller (OPS-2).
 *
 * What. A report over a range of shop-local dates: per day the revenue, the
 * refunds, the net, the orders, the units, the average order and the returns
 * rate, their totals, and the products that sold most. Shop-wide, revenue is
 * the total_cents of the orders paid that day; for a seller it is the
 * seller's lines of those orders (quantity × unit price − the line's
 * discount), and orders counts the orders holding at least one of them.
 *
 * How. Nothing is computed from orders at read time. The outbox consumer
 * "analytics" (work/consumers.c) folds events into daily rollups:
 *
 *   order.confirmed        → the order's day (paid_at): revenue, orders, units,
 *                            in analytics_days, analytics_seller_days per
 *                            seller of its lines, analytics_product_days,
 *                            analytics_product_months and (shop-wide)
 *                            analytics_product_years per product
 *   order.refunded         → the refund's day (refunds.created_at): refunds,
 *                            the shop's the whole amount, a seller's by the
 *                            lines it was for (below)
 *   order.return_approved  → the day of the approval: returned units, shop
 *                            and per seller of the returned lines
 *
 * Whose refund. A refund is for lines (refund_lines, shop/refund.h): a
 * cancellation's are the lines cancelled, a parcel back to the sender's the
 * units in it, a return's its lines. Each line's part goes to that line's
 * seller, and only the part that was its goods — part × goods ÷ (goods +
 * tax), rounded down on the line's running sum of refunds, never more than
 * its goods — so shipping and tax stay the shop's, a seller whose lines
 * were all refunded nets exactly zero, and a seller none of whose lines was
 * refunded is charged nothing (a proportional split charged every seller of
 * the order). The only refunds for no line are those recorded before
 * refund_lines existed (migration 0032): those alone are still split over
 * the order's sellers as amount × (their lines' total ÷ the order's total),
 * on the order's running sum of refunds. The consumer and a rebuild run the
 * same fold, so they agree.
 *
 * A cancellation of a paid order is counted through the refund it records
 * (order_cancel.c → refund_record → order.refunded); a checkout that failed
 * was never paid and never counted. returns_rate_bps is returned units ×
 * 10000 ÷ units sold (per day, and over the range in the totals), 0 when
 * nothing sold.
 *
 * Invariants. Each fact counts once: delivery is at least once (a slice may
 * be handled again after a lease moves, a failed event is retried), so every
 * fold first inserts its natural key ('paid:<order>', 'refund:<refund>',
 * 'return:<return>') into analytics_applied, in the same transaction as the
 * increments, and does nothing when the key was there. Increments are
 * `ON CONFLICT … DO UPDATE SET x = t.x + excluded.x`, so two writers on
 * PostgreSQL never lose each other's counts.
 *
 * Cost. A day's figures are one row per table, whatever the number of
 * orders: a report reads at most 366 day rows. Its top products add up rows
 * per product: month rows for the whole months of the range and, for a
 * partial month at either end, its day rows or the month's row less the
 * days outside the range, whichever is fewer. Shop-wide, each calendar year
 * the range touches may instead be read as the year's row less the months
 * and days of that year outside the range (days after tomorrow hold nothing
 * and cost nothing), again whichever is fewer: the last 365 days read about
 * 7 rows per product sold instead of 23 (bench/analytics.py: 0.33 ms of CPU
 * a report instead of 0.9 ms over 1,000,000 orders). Reports queue for the
 * cores (util/gate.h, SHOPD_REPORT_CONCURRENCY).
 *
 * Rebuilding. `shopd analytics rebuild [--from D --to D]` (analytics_rebuild)
 * recomputes the rollups from the orders: for a shop that had orders before
 * the rollups existed, or whose rollups were lost. It first deletes, in one
 * transaction, the rollups of the range (widened to whole months, which the
 * month rows need) and the claims of the facts dated in it, then folds every
 * such fact — orders with paid_at, refunds, returns with an 'approved'
 * history row — in batches, through the very folds the consumer runs. The
 * outbox cursor is left alone, and need not move: the claims are what
 * prevents double counting. A fact the consumer folds while the rebuild runs
 * is claimed by whichever comes first and skipped by the other; an event
 * delivered after the rebuild finds its fact claimed. Every write to the
 * rollups (a fold, the clearing, a batch of the rebuild) first takes one
 * lock (keylock "analytics:rollups": nothing on SQLite, an advisory lock on
 * PostgreSQL), so the clearing sees every fold committed before it and none
 * half-way. Running it twice gives
 * the same rollups. While it runs, a report over the range shows a partial
 * count.
 *
 * Days. A shop-local date is an integer yyyymmdd computed with the shop's
 * zone (SHOPD_TIMEZONE, util/tz.h) at the moment the fact happened;
 * changing the zone later does not move what was already counted.
 */
#ifndef SHOP_SHOP_ANALYTICS_H
#define SHOP_SHOP_ANALYTICS_H

#include <stdint.h>

#include "util/problem.h"

struct shop;
struct outbox_event;

#define ANALYTICS_MAX_DAYS 366
#define ANALYTICS_TOP      10

struct analytics_figures {
    int32_t date; /* yyyymmdd; 0 in totals */
    int64_t revenue_cents, refunds_cents, orders, units, returned_units;
};

struct analytics_top {
    int64_t product_id, units, revenue_cents;
    char title[256];
};

struct analytics_report {
    int ndays;
    struct analytics_figures days[ANALYTICS_MAX_DAYS];
    struct analytics_figures totals;
    int ntop;
    struct analytics_top top[ANALYTICS_TOP];
};

/** The report for `from`..`to` (yyyymmdd, inclusive; the caller checked
 *  them), shop-wide when `seller_id` is 0. Every day of the range is
 *  listed, those without sales with zeros. */
enum shop_err analytics_report(struct shop *shop, int64_t seller_id, int32_t from, int32_t to,
                               struct analytics_report *out, struct problem *pb);

/** Validates a request's range and seller (SHOP_INVALID naming `from`, `to`
 *  or `seller_id`): real dates, from ≤ to, at most ANALYTICS_MAX_DAYS days,
 *  a seller_id (when not 0) that is a seller's. */
enum shop_err analytics_check(struct shop *shop, const char *from, const char *to,
                              int64_t seller_id, int32_t *from_ymd, int32_t *to_ymd,
                              struct problem *pb);

/** The outbox consumer (topics order.confirmed, order.refunded,
 *  order.return_approved), a slice at a time: the slice's paid orders are
 *  folded together, one upsert per rollup row they touch. */
enum shop_err analytics_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                              void *cls, struct problem *pb);

struct analytics_rebuild_stats {
    int32_t from, to;                /* the range rebuilt (whole months); 0, 0: all */
    int64_t orders, refunds, returns; /* facts folded (a fact the consumer had just
                                         counted is included but not counted twice) */
};

/** Rebuilds the rollups from the orders, refunds and returns of `from`..`to`
 *  (yyyymmdd, widened to whole months; both 0: everything), idempotent and
 *  safe while the consumer runs (see above). On failure the range may be
 *  partly rebuilt; running it again completes it. */
enum shop_err analytics_rebuild(struct shop *shop, int32_t from, int32_t to,
                                struct analytics_rebuild_stats *out, struct problem *pb);

/** Derived figures of a row. */
int64_t analytics_average(const struct analytics_figures *f);
int64_t analytics_returns_bps(const struct analytics_figures *f);

#endif
