/* fanout.h — turning a fan-out into notification rows, one chunk at a time
 * (NTF-4; the state machine is in shop/notify.h).
 *
 * A chunk is the next `chunk` wishlisters of the product after the fan-out's
 * cursor, read from the reverse index (wishlist_product) in user-id order.
 * One store_write creates their rows (INSERT … SELECT … ON CONFLICT DO
 * NOTHING RETURNING) and moves the cursor, conditionally on it being where
 * it was read: so a chunk is created once, even with several workers, and a
 * crash resumes after the last committed chunk. Chunks are small enough
 * (a few thousand rows, milliseconds of the writer) that other writes get
 * their turn between them.
 */
#ifndef SHOP_WORK_FANOUT_H
#define SHOP_WORK_FANOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct shop;

/** A notification row on its way to a provider. */
struct notify_row {
    int64_t id, user_id, message_id;
    int32_t channel, attempts;
};

/** A growable array of rows (free `v`). */
struct notify_rows {
    struct notify_row *v;
    int n, cap;
};

void notify_rows_push(struct notify_rows *r, const struct notify_row *row);

struct fanout {
    int64_t id, message_id, product_id, cursor, users_total, users_done;
};

/** The oldest running fan-out; false when there is none. */
bool fanout_next_running(struct shop *shop, struct fanout *f);

/** Creates the rows of the next chunk of `f`, appends them to `rows` and
 *  advances `f`. The rows are due `lease_ms` from now: the caller queues
 *  them at once, and the due scan only looks at them if that lease runs
 *  out (notify_worker.h). *done is set when the fan-out has finished. SHOP_CONFLICT
 *  when another worker moved the cursor first (re-read the fan-out); other
 *  errors come from the store. Either way nothing of this chunk changed. */
enum shop_err fanout_step(struct shop *shop, struct fanout *f, int chunk, int64_t lease_ms,
                          struct notify_rows *rows, bool *done, struct problem *pb);

#endif
