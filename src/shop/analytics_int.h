/* analytics_int.h — what analytics_fold.c (the consumer's folds) and
 * analytics_rebuild.c (the same folds over the whole history) share.
 * Private to them; analytics.h is the essay. */
#ifndef SHOP_SHOP_ANALYTICS_INT_H
#define SHOP_SHOP_ANALYTICS_INT_H

#include <stdint.h>

#include "util/problem.h"

struct db;
struct tz;

/** Folds paid orders `ids` (ascending; repeats allowed) into the rollups:
 *  each claims its key first, so one counted before is skipped. */
enum shop_err analytics_fold_paid(struct db *db, const struct tz *tz, const int64_t *ids, int n,
                                  struct problem *pb);

/** Folds one refund of `order_id`, once (its claim). */
enum shop_err analytics_fold_refund(struct db *db, const struct tz *tz, int64_t order_id,
                                    int64_t refund_id, struct problem *pb);

/** Folds one return, once (its claim), on the day it was approved
 *  (`fallback_ms` if its history says none). */
enum shop_err analytics_fold_return(struct db *db, const struct tz *tz, int64_t return_id,
                                    int64_t fallback_ms, struct problem *pb);

/** Every write to the rollups takes this lock first (see analytics_fold.c). */
enum shop_err analytics_lock_rollups(struct db *db, struct problem *pb);

#endif
