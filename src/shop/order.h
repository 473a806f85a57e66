/* order.h — orders: the state machine, reads, cancellation and refunds
 * (ORD-1, ORD-2, ORD-3, ORD-6).
 *
 * State machine (order_transition is the only way to change status; every
 * change is a conditional UPDATE … WHERE status = <from> and appends to the
 * order's history):
 *
 *     pending_payment ──► paid ──► fulfilling ──► partially_shipped ──► shipped ──► delivered
 *       │    │             ▲ │           │                                  ▲
 *       │    └► on_hold ───┘ │           └──────────────────────────────────┘
 *       │         │          │
 *       └──► cancelled ◄─────┴───────────┴── (all lines cancelled before shipping)
 *
 * Who moves it: checkout (pending_payment → paid | on_hold | cancelled), the
 * fraud review (on_hold → paid | cancelled: shop/fraud.h, an admin's
 * decision), cancellation (→ cancelled when no open line is left), and the
 * order's shipments for the rest: fulfilling, partially_shipped, shipped and
 * delivered are never set by hand but derived from the shipments by one
 * function, order_status_sync (shop/shipment.h), after every change to them.
 * Anything else is refused with SHOP_CONFLICT.
 *
 * Refunds (shop/refund.h) are allocated over the order's original tenders,
 * card first, each card allocation sent with its own idempotency key. The
 * order's refund_status is none | partially_refunded | refunded.
 */
#ifndef SHOP_SHOP_ORDER_H
#define SHOP_SHOP_ORDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shop/account.h"
#include "util/problem.h"

struct shop;
struct db;

enum order_status {
    ORDER_PENDING_PAYMENT,
    ORDER_PAID,
    ORDER_FULFILLING,
    ORDER_PARTIALLY_SHIPPED,
    ORDER_SHIPPED,
    ORDER_DELIVERED,
    ORDER_CANCELLED,
    ORDER_ON_HOLD, /* held for a fraud review: stock reserved, card authorized */
    ORDER_STATUS_COUNT
};

const char *order_status_name(enum order_status s);
/** -1 when unknown. */
int order_status_parse(const char *s);
bool order_transition_allowed(enum order_status from, enum order_status to);

/** What the steps around a transition need of an order, read with its
 *  status so that they need not read the order again. */
struct order_head {
    int64_t user_id, total_cents;
    int64_t flash_sale_id; /* 0: not a flash-sale order */
    char currency[4];
    char key[256]; /* the Idempotency-Key that placed it; "" when none */
};

/** The head of an order (inside a transaction); false when absent. */
bool order_head_read(struct db *db, int64_t order_id, struct order_head *out);

/** Inside a write function: moves the order to `to` when the state machine
 *  allows it from its current status; appends history; fills `head` (may
 *  be NULL). SHOP_CONFLICT (naming both states) otherwise, SHOP_NOT_FOUND
 *  when absent. */
enum shop_err order_transition(struct db *db, int64_t order_id, enum order_status to,
                               const char *note, struct order_head *head, struct problem *pb);

/** order_transition for a caller that knows the status the order had
 *  (checkout's settle step: the one it created it in): no read; the move
 *  is conditional on it (SHOP_CONFLICT when it changed meanwhile). `at`
 *  is its time: updated_at, paid_at or cancelled_at as `to` says, and the
 *  history entry's. */
enum shop_err order_transition_from(struct db *db, int64_t order_id, enum order_status from,
                                    enum order_status to, const char *note, int64_t at,
                                    struct problem *pb);

/** Inside a write function: moves the order from `from` to `to` if it is
 *  still `from` (SHOP_CONFLICT otherwise) and appends history. No rule is
 *  checked: order_transition checks the state machine, and
 *  order_status_sync (shop/shipment.h) derives the shipping states. */
enum shop_err order_set_status(struct db *db, int64_t order_id, enum order_status from,
                               enum order_status to, const char *note, struct problem *pb);

/** The order document as JSON text, malloc'd (inside a transaction); NULL
 *  when absent. */
char *order_text(struct db *db, int64_t order_id, size_t *len);

/** The same as a tree. */
json_t *order_render(struct db *db, int64_t order_id);

/** One of the caller's orders (any order for an admin). */
enum shop_err order_get(struct shop *shop, const struct principal *who, int64_t id, json_t **out,
                        struct problem *pb);

/** The caller's orders, newest first: {data, next_cursor}. */
enum shop_err order_list(struct shop *shop, const struct principal *who, int limit,
                         const char *cursor, json_t **out, struct problem *pb);

/** Cancels the whole order (`line_ids` NULL) or some open lines, before
 *  they ship: refunds to the original tenders, restocks, writes events.
 *  The caller's own order, or any for an admin. */
enum shop_err order_cancel(struct shop *shop, const struct principal *who, int64_t id,
                           json_t *line_ids, json_t **out, struct problem *pb);

/** Sends card refunds still pending at the gateway (housekeeping). */
enum shop_err order_refunds_retry(struct shop *shop, int *sent, struct problem *pb);

/** The order events the order-log consumer recorded (admin). */
enum shop_err order_events(struct shop *shop, int64_t id, json_t **out, struct problem *pb);

/** The product ids of an order's lines (for cache invalidation); returns n. */
int order_products(struct db *db, int64_t order_id, int64_t *out, int max);

#endif
