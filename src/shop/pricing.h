/* pricing.h — shipping and tax (CHK-4), configurable, in integer cents.
 *
 * Shipping by method and weight: base + per started kilogram above the
 * first; standard shipping is free from a subtotal threshold.
 * Tax: a rate in basis points by destination "CC-REGION", else "CC", else
 * the DEFAULT entry (0 unless configured), applied to the goods after
 * discounts (not to shipping). Rounding, written once here: half up.
 */
#ifndef SHOP_SHOP_PRICING_H
#define SHOP_SHOP_PRICING_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct shop_config;
struct pricing;

enum ship_method { SHIP_STANDARD, SHIP_EXPRESS, SHIP_METHOD_COUNT };

/** Parses the configured rates; NULL with a problem when malformed. */
struct pricing *pricing_new(const struct shop_config *cfg, struct problem *pb);
void pricing_free(struct pricing *p);

/** SHIP_METHOD_COUNT when `name` is not a method. */
enum ship_method pricing_method_parse(const char *name);
const char *pricing_method_name(enum ship_method m);

int64_t pricing_shipping(const struct pricing *p, enum ship_method m, int64_t weight_grams,
                         int64_t subtotal_cents);

/** The tax rate for a destination, in basis points (1/100 of a percent). */
int pricing_tax_bp(const struct pricing *p, const char *country, const char *region);

/** `amount` × `bp` / 10000, rounded half up. */
int64_t pricing_apply_bp(int64_t amount_cents, int bp);

#define PRICING_ALLOCATE_MAX 256

/** Splits `total` over `n` (≤ PRICING_ALLOCATE_MAX) parts in proportion to
 *  `weights` so the parts sum exactly to `total` (largest remainder). */
void pricing_allocate(int64_t total, const int64_t *weights, int n, int64_t *parts);

/** Spreads a discount of `total` cents over `n` (≤ PRICING_ALLOCATE_MAX)
 *  lines in proportion to `weights` (their amounts): each line first gets
 *  its share rounded down, then the cents left go one each to the largest
 *  lines (the earlier line on a tie). With 0 ≤ total ≤ sum(weights) no line
 *  gets more than its weight; the parts always sum to `total`. This is the
 *  rule for a fixed discount over a cart, and for a cap over the lines a
 *  promotion discounted (API.md, Promotions). */
void pricing_spread(int64_t total, const int64_t *weights, int n, int64_t *parts);

#endif
