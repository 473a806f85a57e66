/* reservation.h — two-phase stock reservations (INV-2).
 *
 * State of one reservation row (a quantity of a variant held in one
 * warehouse for one order):
 *
 *     active ──consume (payment captured)──► consumed
 *        └────release (failed, cancelled, expired)──► released
 *
 * Stock effects, each a conditional UPDATE checked by its row count inside
 * the caller's write transaction (never read-check-write across
 * transactions):
 *   reserve:  reserved += q      WHERE on_hand - reserved >= q
 *   consume:  on_hand -= q, reserved -= q   WHERE reserved >= q
 *   release:  reserved -= q      WHERE reserved >= q
 *   restock:  on_hand += q       (units of a cancelled line come back)
 * so 0 ≤ reserved ≤ on_hand holds at every commit, under any concurrency
 * and across processes. Every effect is audited (stock_movements, ref
 * "order:<id>") and announced (stock.changed; stock.back_in_stock and
 * stock.low when availability crosses those lines).
 *
 * All functions run inside a write function.
 */
#ifndef SHOP_SHOP_RESERVATION_H
#define SHOP_SHOP_RESERVATION_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct db;
struct geo_point;
struct alloc_rules;

struct reserve_line {
    int64_t variant_id, product_id, quantity;
    int64_t available;   /* out: what was available */
    int64_t backordered; /* out: units sold with no stock (products that allow backorders) */
    const char *sku, *title;
};

/** Where the units go, for the allocation rule (shop/allocation.h). */
struct reserve_where {
    const struct geo_point *dest; /* NULL: a place the table does not know */
    const struct alloc_rules *rules;
};

/** One reservation row; sale_id is the flash sale whose units it holds (0:
 *  none). */
struct reserved {
    int64_t id, variant_id, warehouse_id, quantity, sale_id;
};

/** The reservation rows one reserve wrote, for the step that settles them
 *  in the same process (the checkout saga): consuming them then needs no
 *  read. `complete` is false when there were more than fit (settle reads).
 *  The rows' ids are known once the reserving write has committed
 *  (db_last_id_into): keep the list in the job's memory, not on a stack. */
#define RESERVED_MAX 128
struct reserved_list {
    struct reserved r[RESERVED_MAX];
    int n;
    bool complete;
};

/** Reserves every line for `order_id` from the warehouses the allocation
 *  rule picks (`where` may be NULL: default rules, no place), splitting a
 *  line when no one warehouse has all of it. All or nothing: when any line
 *  is short, returns SHOP_CONFLICT with problem extra `lines` =
 *  [{variant_id, sku, title, requested, available}] for every short line,
 *  and the caller's write must fail (its savepoint undoes what was taken).
 *  A line of a product that allows backorders is never short: what is
 *  missing is recorded as the order line's `backordered` units. */
enum shop_err reservation_reserve(struct db *db, int64_t order_id, struct reserve_line *lines,
                                  int n, const struct reserve_where *where, int64_t expires_at,
                                  int64_t actor, struct reserved_list *out, struct problem *pb);

/** Puts `quantity` units of a variant that came back (a parcel returned to
 *  the sender, a return received) into `warehouse_id`'s stock, audited as
 *  "return". */
enum shop_err reservation_return(struct db *db, int64_t order_id, int64_t variant_id,
                                 int64_t warehouse_id, int64_t quantity, int64_t actor,
                                 struct problem *pb);

struct reserve_take {
    int64_t warehouse_id, quantity;
};

/** Fulfil: takes up to `quantity` units of a variant for an already paid
 *  order straight out of stock (on_hand falls; a consumed reservation row
 *  records the warehouse), from the warehouses the rule picks. Fills `out`
 *  (room for 64) and returns how many warehouses gave units (0: none in
 *  stock), or -1 on a database failure (pb says). Stock taken meanwhile by
 *  another writer is read again, not a conflict: fewer units, not a 409. */
int reservation_take_now(struct db *db, int64_t order_id, int64_t variant_id, int64_t quantity,
                         const struct reserve_where *where, int64_t actor,
                         struct reserve_take *out, struct problem *pb);

/** Consumes every active reservation of the order (payment captured):
 *  those in `known` when it is complete (what reservation_reserve wrote
 *  for it; each must still be active), else as read. */
enum shop_err reservation_consume(struct db *db, int64_t order_id,
                                  const struct reserved_list *known, struct problem *pb);

/** Releases every active reservation of the order. */
enum shop_err reservation_release(struct db *db, int64_t order_id, struct problem *pb);

/** Keeps every active reservation of the order until it is consumed or
 *  released (an order held for a fraud review: shop/fraud.h): its expiry
 *  moves to "never". */
enum shop_err reservation_keep(struct db *db, int64_t order_id, struct problem *pb);

/** Returns `quantity` units of a variant sold in `order_id` to the
 *  warehouses they were taken from (a cancelled line). */
enum shop_err reservation_restock(struct db *db, int64_t order_id, int64_t variant_id,
                                  int64_t quantity, int64_t actor, struct problem *pb);

#endif
