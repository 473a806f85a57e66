/* changes.h — what the rest of the shop must hear when a product changed.
 *
 * The catalog (and inventory, reviews, orders …) call shop_product_changed
 * after a write that can affect how a product is listed has COMMITTED:
 * title, description, brand, category, images, status, a variant price,
 * stock, rating or sales count. It brings the in-memory views up to date
 * before the caller answers, so a client reads its own writes.
 *
 * It reads the product through this thread's read connection and first ends
 * that connection's read snapshot (db_release), so that the read sees the
 * commit: call it between statements, never while iterating one, and never
 * from inside a store_write function (the change is not committed there).
 * Changes made by other processes reach the index through the outbox
 * poller, which calls search_refresh itself.
 */
#ifndef SHOP_SHOP_CHANGES_H
#define SHOP_SHOP_CHANGES_H

#include <stdint.h>

struct shop;

/** Refreshes every in-memory view of `product_id` (the search index).
 *  Failures are logged, not returned: the write itself succeeded, and the
 *  outbox poller will bring the view up to date. */
void shop_product_changed(struct shop *shop, int64_t product_id);

/** The same after the category tree changed. */
void shop_categories_changed(struct shop *shop);

#endif
