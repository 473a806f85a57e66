/* consumers.c — every outbox consumer, in one table-like function. A
 * consumer's name is its stored position: never rename one. */
#include "work/consumers.h"

#include "shop/analytics.h"
#include "shop/notify.h"
#include "work/dispatcher.h"
#include "work/notify_triggers.h"
#include "work/order_log.h"
#include "work/webhook_worker.h"
#include "shop/webhook.h"
#include "shop/shop.h"
#include "work/recs_feed.h"
#include "work/sales_fold.h"

/* Notifications the handlers queued are sent once they are committed. */
static void wake_senders(struct shop *shop, void *cls)
{
    (void)cls;
    notify_kick(shop);
}

/* Deliveries the consumer queued are sent once they are committed. */
static void wake_webhooks(struct shop *shop, void *cls)
{
    (void)cls;
    webhook_worker_kick(shop->webhooks);
}

void consumers_register(struct shop *shop, struct dispatcher *d)
{
    (void)shop;
    dispatcher_add(d, &(struct consumer){
                          .name = "order-log", .topics = "order.", .slice_fn = order_log_slice});
    /* OPS-2: daily rollups; from the oldest event kept, so a shop that
     * upgrades counts the orders its outbox still holds. */
    dispatcher_add(d, &(struct consumer){.name = "analytics",
                                         .topics = "order.confirmed,order.refunded,"
                                                   "order.return_approved",
                                         .slice_fn = analytics_slice});
    /* NTF-2: a new shop's consumers start at the newest event, so an old
     * database does not notify about its history. */
    dispatcher_add(d, &(struct consumer){.name = "notify.wishlist",
                                         .topics = "flash_sale.started,price.changed,"
                                                   "stock.back_in_stock",
                                         .fn = notify_on_wishlist_event,
                                         .committed = wake_senders,
                                         .from_now = true});
    dispatcher_add(d, &(struct consumer){.name = "notify.orders",
                                         .topics = "order.",
                                         .slice_fn = notify_on_order_slice,
                                         .committed = wake_senders,
                                         .from_now = true});
    dispatcher_add(d, &(struct consumer){.name = "notify.reviews",
                                         .topics = "review.approved,review.rejected",
                                         .fn = notify_on_review_event,
                                         .committed = wake_senders,
                                         .from_now = true});
    /* OPS-4: every event type; a subscription gets the events written after
     * it was created (shop/webhook.h). */
    dispatcher_add(d, &(struct consumer){.name = "webhooks",
                                         .topics = NULL,
                                         .slice_fn = webhook_on_slice,
                                         .committed = wake_webhooks,
                                         .from_now = true});
    /* Paid orders' quantities into products.sales_count, once per product
     * per slice (sales_fold.h). From now: the orders already in the outbox
     * were counted when they were paid, before this consumer existed. */
    dispatcher_add(d, &(struct consumer){.name = "sales",
                                         .topics = "order.confirmed",
                                         .slice_fn = sales_fold_slice,
                                         .cls = sales_fold_new(),
                                         .free_cls = sales_fold_free,
                                         .committed = sales_fold_committed,
                                         .from_now = true});
    /* ENG-4: paid orders become purchase rows for the recommendation
     * model (from the oldest event: a new shop learns from its history). */
    dispatcher_add(d, &(struct consumer){.name = "recs.purchases",
                                         .topics = "order.confirmed",
                                         .slice_fn = recs_on_order_slice,
                                         .committed = recs_purchases_committed});
}
