/* recs_feed.h — keeps the recommendation model (recs/recs.h) fed.
 *
 *  - A thread in every process: every RECS_FEED_PERIOD_MS (or when kicked)
 *    writes the buffered views and adds to cart to rec_events, then reads
 *    and applies whatever was committed there since the last look (this
 *    process's rows and every other process's, purchases included).
 *  - The outbox consumer "recs.purchases" (work/consumers.c): on
 *    order.confirmed (the order is paid) writes one purchase row per
 *    product of the order, idempotently; it runs in one process of the
 *    shop at a time, like every consumer.
 */
#ifndef SHOP_WORK_RECS_FEED_H
#define SHOP_WORK_RECS_FEED_H

#include "work/dispatcher.h"

#define RECS_FEED_PERIOD_MS 100

struct recs_feed;

struct recs_feed *recs_feed_start(struct shop *shop, struct problem *pb);
/** Writes what is buffered one last time, stops the thread, frees. */
void recs_feed_stop(struct recs_feed *f);
void recs_feed_kick(struct recs_feed *f);

/** Consumer of order.confirmed, a slice at a time: the orders' products
 *  as purchases (recs_purchases_write). */
enum shop_err recs_on_order_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                                  void *cls, struct problem *pb);
/** After a slice of purchases committed: read them now. */
void recs_purchases_committed(struct shop *shop, void *cls);

#endif
