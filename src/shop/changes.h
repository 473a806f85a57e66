/* changes.h — what must happen after a committed change, in one place.
 *
 * Domain code calls these after its write has committed (never inside a
 * write function): they drop the product's rendered page from the cache and
 * refresh the search index, so the next read in this process sees the
 * change. Changes made by other processes on the same database arrive through
 * the change feed (work/changefeed.c), which calls the same functions.
 *
 * They read through this thread's read connection and first end its read
 * snapshot (db_release), so the read sees the commit: call them between
 * statements, never while iterating one.
 */
#ifndef SHOP_SHOP_CHANGES_H
#define SHOP_SHOP_CHANGES_H

#include <stdint.h>

struct shop;

/** A product, its variants, its stock or its ratings changed. Failures are
 *  logged, not returned (the write itself succeeded), and the refresh is
 *  tried again with the next flush below. */
void shop_product_changed(struct shop *shop, int64_t product_id);

/** An order moved a product's stock (reserve, consume, release): its page
 *  goes at once; its search entry follows within CHANGEFEED_PERIOD_MS, when
 *  the change feed calls shop_flush_stock_moves (one refresh per product
 *  however many orders touched it). */
void shop_product_stock_moved(struct shop *shop, int64_t product_id);

/** Refreshes the search entries of products queued by the function above. */
void shop_flush_stock_moves(struct shop *shop);

/** The category tree changed. */
void shop_categories_changed(struct shop *shop);

/** Many products changed at once (seed, import): rebuild everything. */
void shop_catalog_reloaded(struct shop *shop);

#endif
