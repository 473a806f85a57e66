/* order_log.h — the order-event recording consumer (order_log.c). */
#ifndef SHOP_WORK_ORDER_LOG_H
#define SHOP_WORK_ORDER_LOG_H

#include "work/dispatcher.h"

/* A slice of order events (work/dispatcher.h), recorded in its write. */
enum shop_err order_log_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                              void *cls, struct problem *pb);

#endif
