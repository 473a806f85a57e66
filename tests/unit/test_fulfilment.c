/* Unit tests for fulfilment's pure rules: where an address is, the
 * allocation score, the shipment state machine. */
#include <criterion/criterion.h>

#include "shop/allocation.h"
#include "shop/geo.h"
#include "shop/shipment.h"

static const struct alloc_rules rules = {.km_per_open_shipment = 1, .low_stock_km = 250,
                                         .low_stock = 5};

Test(geo, places_by_postal_area_then_country)
{
    struct geo_point ny, sea, de_berlin, de_munich, fr;
    cr_assert(geo_locate("US", "10004", &ny));
    cr_assert(geo_locate("us", "98101", &sea));
    cr_assert(geo_locate("DE", "10115", &de_berlin));
    cr_assert(geo_locate("DE", "80331", &de_munich));
    cr_assert(geo_locate("FR", "75001", &fr));
    cr_assert(!geo_locate("ZZ", "1", &fr));
    cr_assert(!geo_locate(NULL, NULL, &fr));
    cr_assert(geo_km(ny, sea) > 3000 && geo_km(ny, sea) < 5000);
    cr_assert(geo_km(de_berlin, de_munich) > 400 && geo_km(de_berlin, de_munich) < 600);
    cr_assert_float_eq(geo_km(ny, ny), 0.0, 1e-9);
}

static struct alloc_wh wh(int64_t id, int64_t available, double lat, double lon, int64_t open)
{
    return (struct alloc_wh){.warehouse_id = id, .available = available, .open_shipments = open,
                             .at = {lat, lon}};
}

Test(allocation, nearest_that_has_it_all)
{
    struct geo_point ny = {40.7, -74.0};
    struct alloc_wh w[] = {wh(1, 50, 47.6, -122.3, 0), wh(2, 50, 40.7, -74.0, 0)};
    struct alloc_take t[2];
    int64_t covered;
    int k = allocation_plan(w, 2, 3, &ny, &rules, t, &covered);
    cr_assert_eq(k, 1);
    cr_assert_eq(t[0].warehouse_id, 2);
    cr_assert_eq(covered, 3);
}

Test(allocation, whole_beats_a_nearer_split)
{
    struct geo_point ny = {40.7, -74.0};
    struct alloc_wh w[] = {wh(1, 50, 47.6, -122.3, 0), wh(2, 1, 40.7, -74.0, 0)};
    struct alloc_take t[2];
    int64_t covered;
    cr_assert_eq(allocation_plan(w, 2, 3, &ny, &rules, t, &covered), 1);
    cr_assert_eq(t[0].warehouse_id, 1);
}

Test(allocation, split_cheapest_first_when_none_has_it_all)
{
    struct geo_point ny = {40.7, -74.0};
    struct alloc_wh w[] = {wh(1, 4, 47.6, -122.3, 0), wh(2, 4, 40.7, -74.0, 0),
                           wh(3, 1, 34.0, -118.2, 0)};
    struct alloc_take t[3];
    int64_t covered;
    int k = allocation_plan(w, 3, 6, &ny, &rules, t, &covered);
    cr_assert_eq(k, 2);
    cr_assert_eq(t[0].warehouse_id, 2);
    cr_assert_eq(t[0].quantity, 4);
    cr_assert_eq(t[1].quantity, 2);
    cr_assert_eq(covered, 6);
    /* Short: everything there is. */
    struct alloc_wh w2[] = {wh(1, 2, 0, 0, 0), wh(2, 1, 0, 0, 0)};
    k = allocation_plan(w2, 2, 9, NULL, &rules, t, &covered);
    cr_assert_eq(k, 2);
    cr_assert_eq(covered, 3);
}

Test(allocation, load_and_stock_level_weigh_in)
{
    /* Same place: the busy warehouse loses when the load term is large. */
    struct alloc_rules busy = {.km_per_open_shipment = 1000, .low_stock_km = 250, .low_stock = 5};
    struct alloc_wh w[] = {wh(1, 50, 10, 10, 3), wh(2, 50, 10, 10, 0)};
    struct alloc_take t[2];
    int64_t covered;
    allocation_plan(w, 2, 1, NULL, &busy, t, &covered);
    cr_assert_eq(t[0].warehouse_id, 2);
    /* Running low costs 250 km: a warehouse 100 km further with deep stock wins. */
    struct geo_point here = {0, 0};
    struct alloc_wh w2[] = {wh(1, 3, 0, 0, 0), wh(2, 100, 0.9, 0, 0)};
    allocation_plan(w2, 2, 1, &here, &rules, t, &covered);
    cr_assert_eq(t[0].warehouse_id, 2);
    /* Ties: more available, then the lower id. */
    struct alloc_wh w3[] = {wh(7, 10, 0, 0, 0), wh(3, 10, 0, 0, 0), wh(5, 20, 0, 0, 0)};
    allocation_plan(w3, 3, 1, NULL, &rules, t, &covered);
    cr_assert_eq(t[0].warehouse_id, 5);
    struct alloc_wh w4[] = {wh(7, 10, 0, 0, 0), wh(3, 10, 0, 0, 0)};
    allocation_plan(w4, 2, 1, NULL, &rules, t, &covered);
    cr_assert_eq(t[0].warehouse_id, 3);
}

Test(shipment, state_machine)
{
    cr_assert(shipment_move_allowed(SHIP_LABEL_CREATED, SHIP_IN_TRANSIT));
    cr_assert(!shipment_move_allowed(SHIP_LABEL_CREATED, SHIP_DELIVERED));
    cr_assert(shipment_move_allowed(SHIP_DELIVERY_FAILED, SHIP_OUT_FOR_DELIVERY));
    cr_assert(shipment_move_allowed(SHIP_DELIVERY_FAILED, SHIP_RETURNED_TO_SENDER));
    cr_assert(!shipment_move_allowed(SHIP_DELIVERED, SHIP_DELIVERY_FAILED));
    cr_assert(!shipment_move_allowed(SHIP_RETURNED_TO_SENDER, SHIP_IN_TRANSIT));
    for (int s = 0; s < SHIP_STATUS_COUNT; s++)
        cr_assert_eq(shipment_status_parse(shipment_status_name((enum shipment_status)s)), s);
    cr_assert_eq(shipment_status_parse("lost"), -1);
}
