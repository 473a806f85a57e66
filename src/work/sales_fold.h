/* sales_fold.h — products' sales counts, folded from paid orders by an
 * outbox consumer instead of in the order's own transaction.
 *
 * Why. products.sales_count orders the catalog by popularity and weighs a
 * search result's boost. Counted in checkout's settle step it was one
 * UPDATE of the product row per order line, and a best-seller's row is the
 * one every concurrent order of it updates: on PostgreSQL each writer
 * waited for the row lock the previous order's transaction held until its
 * commit (133 us per order with one process, 661 us with three, the
 * costliest statement of an order), and on SQLite it was one more
 * statement on the one writer.
 *
 * How. The consumer "sales" reads order.confirmed events a slice at a time
 * (work/dispatcher.h), reads the slice's order lines in as few range reads
 * as the order ids allow, adds the quantities up per product, and updates
 * each product once per slice, in product id order (so two writers lock
 * product rows in one order), several products per statement. The counts
 * commit with the consumer's position: each order is counted once however
 * often a slice is retried.
 *
 * How stale. A count lags its orders by the consumer's lag: normally one
 * slice's commit after the order's (milliseconds; the consumer wakes on
 * every commit of its process), at most DISPATCH_POLL_MS more for an order
 * taken by another process, and longer only while the writer is saturated
 * (shopd_outbox_consumer_lag{consumer="sales"} says how far behind it is).
 * The folding process drops the products' pages after each fold and
 * queues their search entries for the change feed's next flush (100 ms).
 * Other processes take the count when they refresh a product for an
 * event: the order's stock move (normally after its fold, but not always:
 * then at the product's next change) — a count there may lag one order.
 * Cancelling a line (order_cancel.c) still takes its units off at once,
 * never below zero: a line cancelled before its order was folded, of a
 * product counted fewer times than the line's quantity, leaves that
 * product's count that much too high.
 */
#ifndef SHOP_WORK_SALES_FOLD_H
#define SHOP_WORK_SALES_FOLD_H

#include "work/dispatcher.h"

/* Folds a slice of order.confirmed events into products.sales_count. */
enum shop_err sales_fold_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                               void *cls, struct problem *pb);

/* After a fold committed: the folded products' pages and search entries. */
void sales_fold_committed(struct shop *shop, void *cls);

/* The consumer's state (what the last fold touched), and its end. */
void *sales_fold_new(void);
void sales_fold_free(void *cls);

#endif
