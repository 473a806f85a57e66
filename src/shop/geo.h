/* geo.h — where an address roughly is, and how far apart two places are.
 *
 * Allocation (shop/allocation.h) needs the distance from a shipping address
 * to each warehouse. An address is placed by a small built-in table:
 * a US ZIP code by its first digit (the ten USPS national areas), a German
 * PLZ by its first digit (its Leitzone), anything else at its country's
 * rough geographic centre. The coordinates are approximate — half a degree
 * is plenty to tell one warehouse from another — and were written for
 * shopd from general geography, not copied from a dataset. An unknown
 * country has no place: allocation then ignores distance.
 */
#ifndef SHOP_SHOP_GEO_H
#define SHOP_SHOP_GEO_H

#include <stdbool.h>

struct geo_point {
    double lat, lon; /* degrees */
};

/** Places an address by country (ISO 3166-1 alpha-2, any case) and postal
 *  code (may be NULL). False when the country is not in the table. */
bool geo_locate(const char *country, const char *postal_code, struct geo_point *out);

/** Great-circle distance in kilometres (haversine, mean Earth radius). */
double geo_km(struct geo_point a, struct geo_point b);

#endif
