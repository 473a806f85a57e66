/* refund.h — money back to the original tenders (ORD-6), for every reason:
 * a cancellation, a parcel returned to the sender, a return (RMA).
 *
 * A refund is one row (refunds) split into allocations over the order's
 * captured tenders: the card first (up to what it captured and has not
 * refunded), then store credit — the reverse of how checkout charged them.
 * Store credit is credited inside the same transaction; a card allocation
 * is "pending" until the gateway confirms it. Card allocations are sent
 * after commit, each with its own idempotency key (refund-<refund>-<payment>),
 * so retrying one (after a failure, housekeeping does, with backoff) can
 * never refund twice. The order's refunded_cents grows with every refund,
 * and a refund above what the tenders can still give back is refused:
 * the sum of refunds never exceeds what was captured.
 *
 * A refund names the lines it is for (refund_lines): what each line got
 * back, adding up to at most the refund (the rest, shipping, is for no
 * line). Analytics gives each line's part to that line's seller.
 */
#ifndef SHOP_SHOP_REFUND_H
#define SHOP_SHOP_REFUND_H

#include <stdint.h>

#include "util/problem.h"

struct db;
struct shop;

/** A line a refund is for, and what of the refund it got back. */
struct refund_line {
    int64_t order_line_id, amount;
};

struct refund_in {
    int64_t order_id, user_id, amount;
    /* The lines it is for (order_line_id distinct, at most
     * PRICING_ALLOCATE_MAX); their amounts are scaled down to add up to
     * `amount` when they come to more. */
    const struct refund_line *lines;
    int nlines;
    const char *currency, *reason; /* reason: cancellation | undelivered | return */
    int64_t return_id;             /* 0 when not a return's */
    int64_t now;
};

/** What the next `q` of a line's `quantity` units were paid, after `done`
 *  of its units were already refunded: the line's price after its discount,
 *  and its tax, each split by cumulative floors — units done+1 … done+q get
 *  floor(x·(done+q)/quantity) − floor(x·done/quantity) of each x. However a
 *  line comes back in pieces, its shares add up to exactly what the line was
 *  paid (the last unit carries the remainder cents), never more; all of it
 *  at once (done 0, q = quantity) is exactly that. `q` is cut to the units
 *  left. The one rule for every refund of some units (cancellation, back to
 *  sender, returns); `done` is refund_line_settled's. */
int64_t refund_line_share(int64_t unit_price, int64_t quantity, int64_t discount, int64_t tax,
                          int64_t done, int64_t q);

/** Inside a write: how many units of line `line_id` of order `order_id` were refunded
 *  already — undelivered (back to the sender) plus those of its returns
 *  that were refunded or partially refunded. -1 with a problem when the
 *  read failed. The caller holds refund_lock for the line's order. */
int64_t refund_line_settled(struct db *db, int64_t order_id, int64_t line_id, struct problem *pb);

/** Inside a write, before reading what an order's lines were refunded:
 *  serialises the refunds of order `order_id` until the write ends
 *  (shop/keylock.h; free on SQLite), so two refunds of the same line on
 *  PostgreSQL writers side by side cannot both take the same units' share. */
enum shop_err refund_lock(struct db *db, int64_t order_id, struct problem *pb);

/** Inside a write: records the refund and its lines, allocates it, moves
 *  the order's refunded_cents and refund_status, and writes order.refunded.
 *  Fills *refund_id. SHOP_CONFLICT when the tenders cannot give `amount`
 *  back. */
enum shop_err refund_record(struct db *db, const struct refund_in *in, int64_t *refund_id,
                            struct problem *pb);

/** After commit: sends the refund's pending card allocations (refund_id 0:
 *  every allocation that is due). Returns how many the gateway took. */
int refund_send(struct shop *shop, int64_t refund_id);

#endif
