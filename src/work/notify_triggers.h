/* notify_triggers.h — outbox consumers that turn events into notifications
 * (NTF-2). Registered in work/consumers.c. Each is idempotent: the event key
 * of the message it records makes a redelivered event a no-op.
 *
 *   flash_sale.started          → notify_flash_sale_started(): fan-out to the
 *                                 product's wishlisters, key flash_sale:<sale>
 *   price.changed (new < old)   → fan-out to the product's wishlisters,
 *                                 key price_drop:<variant>:<new price>:<UTC day>
 *                                 (a drop to one price told at most once a
 *                                 day, however often the price moves back
 *                                 and forth; a drop back to it another day
 *                                 is news again)
 *   stock.back_in_stock         → fan-out, key back_in_stock:<product>:<UTC day>
 *                                 (at most once a day per product: wishlists
 *                                 hold products, whichever variant returns)
 *   order.confirmed|delivered   → the order's user, key <topic>:<order_id>
 *   order.cancelled|refunded|shipped → the order's user,
 *                                 key <topic>:<order_id>:<event id>
 *                                 (an order may have several: lines cancel
 *                                 and ship separately)
 *
 *   review.approved|rejected    → the review's author, key <topic>:<review>:<event id>
 *
 * Events about unpublished products or without the fields they need are
 * skipped (logged), never retried forever.
 */
#ifndef SHOP_WORK_NOTIFY_TRIGGERS_H
#define SHOP_WORK_NOTIFY_TRIGGERS_H

#include "work/dispatcher.h"

/** Consumer of flash_sale.started, price.changed and stock.back_in_stock. */
enum shop_err notify_on_wishlist_event(struct shop *shop, const struct outbox_event *ev, void *cls,
                                       struct problem *pb);

/** Consumer of order.* events, a slice at a time (their notifications in
 *  few statements: an order writes two or three order events). */
enum shop_err notify_on_order_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                                    void *cls, struct problem *pb);

/** Consumer of review.* events (approved and rejected tell the author). */
enum shop_err notify_on_review_event(struct shop *shop, const struct outbox_event *ev, void *cls,
                                     struct problem *pb);

#endif
