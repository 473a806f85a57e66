/* returns.h — returns (RMA) and their refunds (ORD-5, ORD-6).
 *
 * A customer asks to return delivered units of their order:
 *   - a line is returnable when its product is (products.returnable), its
 *     units were delivered (order_lines.delivered_qty), and the last
 *     delivery that carried it was at most SHOPD_RETURN_WINDOW_DAYS (30)
 *     calendar days ago, counted in the shop's time zone (SHOPD_TIMEZONE,
 *     the zone analytics count days in): delivered on local day D, a request
 *     is accepted through the end of local day D+30 and refused from the
 *     start of D+31 (return_in_window). So the window is 30 to 31 days of
 *     clock time, whatever the hour of delivery; a customer and the shop's
 *     staff read it off the same calendar;
 *   - the quantity is bounded by what was delivered less what is already in
 *     returns: one conditional UPDATE (returned_qty + q <= delivered_qty)
 *     takes the units, so two requests racing for the last unit cannot both
 *     win, on any backend.
 * Each refused line is named in a 422. The request carries an
 * Idempotency-Key: a replay answers the same return.
 *
 * State machine (return_update is the only way to move it; status_move
 * appends history; anything else is 409):
 *
 *   requested ──► approved ──► received ──► inspected ──► refunded
 *       │            │                          │   └───► partially_refunded
 *       └──► rejected ◄┘                         └──► rejected
 *
 * Who moves it: the request itself (auto-approval: a request whose lines
 * total at most SHOPD_RETURN_AUTO_APPROVE_CENTS from a customer with fewer
 * than 3 returns in 90 days is approved at once), admins the rest. The lines'
 * total is API.md's: quantity × unit price of each returned line, summed —
 * the merchandise as the return shows it (its lines' unit_price_cents),
 * before line discounts, without tax or shipping; a customer can tell from
 * the price tags whether a return will be approved at once. Effects:
 *   received  the units go back into stock where they shipped from
 *             (audited "return"), unless the admin says restock: false;
 *   refunded / partially_refunded  one refund over the original tenders
 *             (shop/refund.h), recorded in the same transaction as the move,
 *             so however often the request is retried it pays once (a second
 *             move is illegal). The most it can be: the returned units'
 *             share of their lines' price (after discount) and tax, less
 *             what those lines were already refunded, plus the shipping
 *             when every unit of the order is coming back; never more than
 *             the order has left to refund. A unit's share is counted after
 *             the line's units refunded before (refund_line_share over
 *             refund_line_settled, under refund_lock): a line's cents that
 *             do not divide evenly go to its last units, so an order
 *             returned in pieces and refunded in full gets back exactly its
 *             total_cents, as one whole return would. A full refund pays
 *             that (a refund_cents given with it must be that); a partial
 *             one what the admin says (refund_cents), which must be below it — its units count as
 * refunded all the same; rejected  before receipt, the units are free to be returned again.
 */
#ifndef SHOP_SHOP_RETURNS_H
#define SHOP_SHOP_RETURNS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct arena;
struct principal;
struct shop;
struct tz;

#define RETURN_LINES_MAX 100
#define RETURN_REASON_MAX 1000

enum return_status {
    RET_REQUESTED,
    RET_APPROVED,
    RET_REJECTED,
    RET_RECEIVED,
    RET_INSPECTED,
    RET_REFUNDED,
    RET_PARTIALLY_REFUNDED,
    RET_STATUS_COUNT
};

const char *return_status_name(enum return_status s);
int return_status_parse(const char *s); /* -1 when unknown */
bool return_move_allowed(enum return_status from, enum return_status to);

/** Whether a request at `now` is within `window_days` calendar days of a
 *  delivery at `delivered_at`, both counted as local days of `tz`: the local
 *  day of `now` is at most the delivery's local day + window_days. */
bool return_in_window(const struct tz *tz, int64_t delivered_at, int64_t now, int64_t window_days);

struct return_line {
    int64_t order_line_id, quantity, unit_price_cents;
};

struct return_request {
    int64_t order_id;
    const char *key, *reason;
    struct return_line lines[RETURN_LINES_MAX]; /* unit price ignored */
    int nlines;
};

struct rma_refund {
    int64_t id, amount_cents, created_at;
    const char *status;
};

struct rma_history {
    const char *status, *note;
    int64_t at;
};

/** A return as the API shows it. */
struct rma {
    int64_t id, order_id, user_id, refund_cents, created_at, updated_at;
    const char *status, *reason;
    struct return_line *lines;
    int nlines;
    struct rma_refund *refunds;
    int nrefunds;
    struct rma_history *history;
    int nhistory;
};

/** The owner asks to return lines of their order. *replayed when the key
 *  was seen with the same request. */
enum shop_err return_create(struct shop *shop, const struct principal *who,
                            const struct return_request *in, int64_t *id, bool *replayed,
                            struct problem *pb);

struct return_update {
    int64_t id;
    enum return_status to;
    int64_t refund_cents; /* -1: absent */
    int restock;          /* -1: absent; only with `to` received (else 422) */
};

/** Admin: moves a return (see the state machine). */
enum shop_err return_update(struct shop *shop, const struct return_update *in,
                            struct problem *pb);

/** Turns a return read now into the return as its creation left it: what
 *  the request that created it was answered, and so what a replay of that
 *  request is answered (SPEC §0: the stored first response). Creation
 *  writes the return requested, or approved at once by auto-approval in
 *  the same write (both history entries carry the creation's time), with
 *  nothing refunded; what came after only adds to the history, the status,
 *  the refunds and updated_at. */
void return_as_created(struct rma *r);

/** The owner's return, or any for an admin (another's is SHOP_NOT_FOUND). */
enum shop_err return_get(struct shop *shop, const struct principal *who, int64_t id,
                         struct arena *a, struct rma *out, struct problem *pb);

/** Returns, oldest first for an admin (by status when given), newest first
 *  for a customer's own (`mine`). Fills up to `limit`; *next is the cursor
 *  of the next page or 0. */
enum shop_err return_list(struct shop *shop, const struct principal *who, bool mine,
                          const char *status, int limit, const char *cursor, struct arena *a,
                          struct rma **out, int *n, int64_t *next, struct problem *pb);

#endif
