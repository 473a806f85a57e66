/* allocation.h — which warehouses a line's units come from (INV-4).
 *
 * The rule, used by checkout (reserving) and by fulfil (backordered units
 * that found stock later). Each warehouse holding available units of the
 * variant gets a cost, in kilometres:
 *
 *     cost = distance(shipping address, warehouse)
 *          + km_per_open_shipment × the warehouse's open shipments   (load)
 *          + low_stock_km  when taking the line would leave it fewer than
 *                          low_stock units of the variant             (stock level)
 *
 * Distance is great-circle from the address's place (shop/geo.h: postal
 * area or country centre) to the warehouse's lat/lon; an address the table
 * cannot place counts 0 km to every warehouse, so stock and load decide.
 * Defaults: 1 km per open shipment (a warehouse 500 shipments busier than
 * another is as good as 500 km further), 250 km for running low, low_stock
 * 5 units (SHOPD_ALLOC_KM_PER_SHIPMENT, SHOPD_ALLOC_LOW_STOCK_KM,
 * SHOPD_ALLOC_LOW_STOCK).
 *
 * Then:
 *   1. A line goes whole to the cheapest warehouse that can supply all of
 *      it: a split costs a second parcel, so one warehouse that has it all
 *      beats two nearer ones.
 *   2. When none can, it is split: the cheapest warehouse gives all it has,
 *      then the next cheapest, until the line is covered (a shortage when
 *      all of them together cannot; the caller decides: 409, or a
 *      backorder for products that allow one).
 *   Ties (equal cost) go to the warehouse with more available, then to
 *   the lower id, so the outcome never depends on the order rows were read.
 *
 * Pure: facts in, plan out. No database here (reservation.c reads the rows).
 */
#ifndef SHOP_SHOP_ALLOCATION_H
#define SHOP_SHOP_ALLOCATION_H

#include <stdbool.h>
#include <stdint.h>

#include "shop/geo.h"

struct alloc_rules {
    double km_per_open_shipment;
    double low_stock_km;
    int64_t low_stock;
};

/** One warehouse that has units of the variant. */
struct alloc_wh {
    int64_t warehouse_id, available, open_shipments;
    struct geo_point at;
    int64_t on_hand, reserved; /* the caller's, carried through */
    double cost;               /* out */
};

struct alloc_take {
    int64_t warehouse_id, quantity;
    int index; /* into `wh` as sorted on return */
};

/** Plans `quantity` units over `wh` (n entries; the array is sorted by the
 *  rule in place, cheapest first). `dest` may be NULL (no known place).
 *  Writes at most n takes into `out` and returns how many; `*covered` is
 *  the units they add up to (< quantity when short). */
int allocation_plan(struct alloc_wh *wh, int n, int64_t quantity, const struct geo_point *dest,
                    const struct alloc_rules *rules, struct alloc_take *out, int64_t *covered);

#endif
