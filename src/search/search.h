/* search.h — the in-memory catalog index: full-text search, browse, facets,
 * suggestions (SRC-1…6, CAT-3).
 *
 * CONTRACT between the catalog and the engine (the engine's own essay lives
 * at the top of search.c):
 *
 *  - The index holds every *published* product with what listing pages,
 *    filters, sorts and ranking need: title, brand, category (and its
 *    ancestors), description terms, lowest/highest variant price, currency,
 *    first image, rating average and count, sales count, in-stock
 *    (any variant with on_hand - reserved > 0), created time.
 *  - search_build() loads it from the database at start.
 *  - search_refresh() is called with a product id after any committed change
 *    that can affect it (catalog edit, status change, price change, stock
 *    change, rating change). It re-reads that product from the database and
 *    inserts, replaces or removes it. The catalog calls it synchronously
 *    after its own writes (read-your-writes in one process) and the change
 *    feed calls it for changes made by other processes (within 1 s).
 *  - search_refresh_categories() after the category tree changes.
 *  - All functions are safe to call from many threads at once; queries never
 *    see a half-updated product.
 *
 * Browse (GET /v1/products) is a query without text.
 */
#ifndef SHOP_SEARCH_SEARCH_H
#define SHOP_SEARCH_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct search;
struct store;
struct db;

/** A new empty index. */
struct search *search_new(void);
void search_free(struct search *s);

/** Loads every published product (and the category tree) from the store. */
enum shop_err search_build(struct search *s, struct store *store, struct problem *pb);

/** Re-reads product `product_id` through `db` and updates the index. */
enum shop_err search_refresh(struct search *s, struct db *db, int64_t product_id,
                             struct problem *pb);

/** Re-reads the category tree through `db`. */
enum shop_err search_refresh_categories(struct search *s, struct db *db, struct problem *pb);

#endif
