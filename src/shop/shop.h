/* shop.h — the shop: the one object that holds the store, the configuration,
 * the in-memory views and the background workers of a running shopd.
 *
 * The HTTP layer and the CLI create one with shop_open and hand it to the
 * domain functions; tests do the same against a temporary database.
 */
#ifndef SHOP_SHOP_SHOP_H
#define SHOP_SHOP_SHOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/config.h"
#include "util/problem.h"

struct store;
struct catalog_cache;
struct search;

struct shop {
    struct store *store;
    struct shop_config cfg;
    struct catalog_cache *catalog; /* product detail cache (catalog_cache.c) */
    struct search *search;         /* in-memory catalog index (search/search.h) */
    _Atomic bool stopping;
};

/** Opens the database at `db_path`, migrates it when `migrate` is set (else
 *  refuses a database that is behind this binary), and loads the in-memory
 *  views. NULL on failure with the reason in `pb`. */
struct shop *shop_open(const char *db_path, bool migrate, struct problem *pb);

/** Starts the background workers (serve only; the CLI verbs do without). */
enum shop_err shop_start_workers(struct shop *shop, struct problem *pb);

/** Stops the workers, closes the store, frees everything. */
void shop_close(struct shop *shop);

#endif
