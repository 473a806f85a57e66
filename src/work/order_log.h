/* order_log.h — the order-event recording consumer (order_log.c). */
#ifndef SHOP_WORK_ORDER_LOG_H
#define SHOP_WORK_ORDER_LOG_H

#include "work/dispatcher.h"

enum shop_err order_log_consume(struct shop *shop, const struct outbox_event *ev, void *cls,
                                struct problem *pb);

#endif
