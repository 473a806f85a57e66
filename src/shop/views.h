/* views.h — the in-memory views at start and at a clean stop: the search
 * index from its snapshot (caught up) or from the database, then the
 * recommendation model. The rule is in views.c.
 */
#ifndef SHOP_SHOP_VIEWS_H
#define SHOP_SHOP_VIEWS_H

#include <stdbool.h>

#include "util/problem.h"

struct shop;

/** Resolves SHOPD_SEARCH_SNAPSHOT against the database path: default
 *  DB.search-snapshot for a SQLite file, none for a database server, none
 *  for "off". */
void shop_views_configure(struct shop *shop, const char *db_path);

/** Loads the search index (snapshot + catch-up, or a build) and builds the
 *  recommendation model from it — unless `recs_may_wait` and the catalog is
 *  larger than SHOPD_RECS_LATER_PRODUCTS, when the recs feed builds it once
 *  the server answers. shop->search and shop->recs exist. */
enum shop_err shop_views_load(struct shop *shop, bool recs_may_wait, struct problem *pb);

/** Builds the recommendation model from the loaded search index (a serving
 *  process does it on the recs feed's thread once it answers requests). */
enum shop_err shop_views_load_recs(struct shop *shop, struct problem *pb);

/** Saves the search snapshot when shop->views_save is set, the change feed
 *  has stopped (shop->views_at) and no request is running. Logs, never
 *  fails. */
void shop_views_save(struct shop *shop);

#endif
