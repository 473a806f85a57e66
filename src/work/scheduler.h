/* scheduler.h — the flash sales' clock: every cfg.flash_tick_ms, start and
 * end sales, expire purchase tokens and admit waiting customers
 * (flashsale_tick). Idempotent, so several processes may tick at once. */
#ifndef SHOP_WORK_SCHEDULER_H
#define SHOP_WORK_SCHEDULER_H

#include "util/problem.h"

struct shop;
struct scheduler;

struct scheduler *scheduler_start(struct shop *shop, struct problem *pb);
void scheduler_stop(struct scheduler *s);

#endif
