/* housekeeping.h — the periodic sweeper of a running shop.
 *
 * Every cfg.housekeeping_ms: settle payments whose outcome is unknown or
 * whose saga died, and orders whose reservations expired
 * (checkout_reconcile); resend card refunds still pending. Every minute:
 * purge idle carts, old Idempotency-Keys, expired sessions and old login
 * failures. Each task is idempotent, so two processes sweeping the same
 * database at once do no harm.
 */
#ifndef SHOP_WORK_HOUSEKEEPING_H
#define SHOP_WORK_HOUSEKEEPING_H

#include "util/problem.h"

struct shop;
struct housekeeping;

struct housekeeping *housekeeping_start(struct shop *shop, struct problem *pb);
void housekeeping_stop(struct housekeeping *h);

/** One full pass now (tests and the CLI). */
void housekeeping_run_once(struct shop *shop);

#endif
