/* seed.h — a realistic demo shop of any size (`shopd seed`).
 *
 * Deterministic for a given rng seed: a category taxonomy (8 departments,
 * ~25 sub-categories, ~75 leaves), three warehouses, users of every role
 * (admin@shopd.local, sellerN@shopd.local, customerN@shopd.local, all with
 * the password SEED_PASSWORD), and products with brands, titles and
 * descriptions from word lists, 1–4 variants with options and prices, and
 * stock in every warehouse. Products are written in large transactions;
 * 100,000 take seconds.
 */
#ifndef SHOP_SHOP_SEED_H
#define SHOP_SHOP_SEED_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct shop;

#define SEED_PASSWORD "shopd-demo-password"

struct seed_opts {
    int64_t products, users;
    uint64_t rng_seed;
    /** Called as work progresses (may be NULL). */
    void (*progress)(void *cls, const char *phase, int64_t done, int64_t total);
    void *cls;
};

struct seed_report {
    int64_t categories, warehouses, users, products, variants;
};

enum shop_err seed_run(struct shop *shop, const struct seed_opts *o, struct seed_report *out,
                       struct problem *pb);

/** *empty = true when the shop has no products yet (for --if-empty);
 *  SHOP_INTERNAL when that could not be read (never "empty" then: seeding
 *  would add to a shop that has products). */
enum shop_err seed_shop_is_empty(struct shop *shop, bool *empty, struct problem *pb);

#endif
