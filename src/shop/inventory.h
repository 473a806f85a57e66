/* inventory.h — warehouses and stock (INV-1, INV-3, INV-4 data).
 *
 * Stock is one row per (variant, warehouse): on_hand and reserved, with
 * available = on_hand − reserved. Invariants, kept by conditional UPDATEs
 * and backed by a CHECK constraint:
 *     0 ≤ reserved ≤ on_hand
 * Every movement appends to stock_movements (kind, before/after, actor,
 * reference) in the same transaction, and writes a `stock.changed` event.
 *
 * Here: warehouses, setting on_hand by hand (an "adjust"), reading stock and
 * its audit trail. Reservations (reserve → consume | release) build on the
 * same rows and helpers.
 */
#ifndef SHOP_SHOP_INVENTORY_H
#define SHOP_SHOP_INVENTORY_H

#include <jansson.h>
#include <stdint.h>

#include "shop/account.h"
#include "util/arena.h"
#include "util/problem.h"

struct shop;
struct db;

#define STOCK_MAX 1000000000LL
#define INVENTORY_LOW_STOCK 5 /* units available at which stock.low fires */

struct stock_row {
    int64_t variant_id, warehouse_id, on_hand, reserved;
};

/** Creates a warehouse from {code, name, country, postal_code, lat, lon}. */
enum shop_err warehouse_create(struct shop *shop, json_t *body, json_t **out, struct problem *pb);

/** The most a page of warehouses holds (and its size when not asked). */
#define WAREHOUSE_PAGE_MAX 500
#define INVENTORY_CURSOR_MAX 8192 /* a movements cursor: "w:id," per stock row */

/** The warehouses in id order, `limit` (1..WAREHOUSE_PAGE_MAX) after
 *  `cursor` (the last id of the previous page, or NULL): {data:[{id, code,
 *  name, country, postal_code, lat, lon}], next_cursor}. A cursor this API
 *  did not give out is 422. */
enum shop_err warehouse_list(struct shop *shop, int limit, const char *cursor, json_t **out,
                             struct problem *pb);

/** Sets on_hand of a variant in a warehouse (creating the row), as `who`: a
 *  seller for their own variants, or an admin. Refused with SHOP_CONFLICT
 *  when below what is reserved. The movement is audited as an "adjust". */
enum shop_err inventory_set_on_hand(struct shop *shop, const struct principal *who,
                                    int64_t variant_id, int64_t warehouse_id, int64_t on_hand,
                                    struct stock_row *out, struct problem *pb);

/** A variant's stock rows, totals and its movements, newest first: up to
 *  `limit`, after `cursor` (the movements_next_cursor of the page before, or
 *  NULL). A cursor not given out for this variant is 422.
 *
 *  Movements are found without an index on the variant: each one points at
 *  the one before it for the same stock row (prev_id), and the row at its
 *  latest (last_movement_id, which a trigger sets as a movement is written). A page merges the rows' chains by id, so it
 *  costs one lookup by id per movement shown, and recording one only
 *  appends. The cursor holds, per stock row, the next movement to show. */
enum shop_err inventory_get(struct shop *shop, const struct principal *who, int64_t variant_id,
                            int limit, const char *cursor, json_t **out, struct problem *pb);

/** Records one movement of a stock row, chained after the row's latest;
 *  call inside a write function right after changing the row (on
 *  PostgreSQL its lock keeps concurrent movements of the row in one
 *  chain). `actor` 0 is the system; `ref` names the cause. */
enum shop_err inventory_audit(struct db *db, int64_t variant_id, int64_t warehouse_id,
                              const char *kind, const struct stock_row *before,
                              const struct stock_row *after, int64_t actor, const char *ref,
                              struct problem *pb);

/** A variant's available units over every warehouse (inside a transaction):
 *  SHOP_OK with *available, or SHOP_INTERNAL when the stock could not be
 *  read (never "0 available" then). */
enum shop_err inventory_available(struct db *db, int64_t variant_id, int64_t *available,
                                  struct problem *pb);

/** Writes the events of a stock movement for a variant's product, given its
 *  availability before the movement: stock.changed always,
 *  stock.back_in_stock when it rose from 0, stock.low when it fell to
 *  INVENTORY_LOW_STOCK or below (INV-5). */
enum shop_err inventory_changed_event(struct db *db, int64_t variant_id, int64_t product_id,
                                      int64_t available_before, struct problem *pb);

/** The same, when the caller already knows the availability after. */
enum shop_err inventory_moved_event(struct db *db, int64_t variant_id, int64_t product_id,
                                    int64_t available_before, int64_t available_after,
                                    struct problem *pb);

#endif
