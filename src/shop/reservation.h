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

#include <stdint.h>

#include "util/problem.h"

struct db;

struct reserve_line {
    int64_t variant_id, product_id, quantity;
    int64_t available; /* out: what was available (when short) */
    const char *sku, *title;
};

/** Reserves every line for `order_id`, spreading a line over warehouses
 *  (most available first) when one is not enough. All or nothing: when any
 *  line is short, returns SHOP_CONFLICT with problem extra `lines` =
 *  [{variant_id, sku, title, requested, available}] for every short line,
 *  and the caller's write must fail (its savepoint undoes what was taken). */
enum shop_err reservation_reserve(struct db *db, int64_t order_id, struct reserve_line *lines,
                                  int n, int64_t expires_at, int64_t actor, struct problem *pb);

/** Consumes every active reservation of the order (payment captured). */
enum shop_err reservation_consume(struct db *db, int64_t order_id, struct problem *pb);

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
