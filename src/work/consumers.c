/* consumers.c — every outbox consumer, in one table-like function. A
 * consumer's name is its stored position: never rename one. */
#include "work/consumers.h"

#include "work/dispatcher.h"
#include "work/order_log.h"

void consumers_register(struct shop *shop, struct dispatcher *d)
{
    (void)shop;
    dispatcher_add(d, &(struct consumer){.name = "order-log", .topics = "order.",
                                         .fn = order_log_consume});
}
