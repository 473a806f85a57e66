/* helpers.h — shared setup for unit tests: a shop on a fresh temporary
 * database, removed afterwards. */
#ifndef SHOP_TESTS_HELPERS_H
#define SHOP_TESTS_HELPERS_H

#include "shop/shop.h"

/** A migrated shop on a new temporary database (fast password hashing). */
struct shop *test_shop_open(void);

/** Closes the shop and deletes its database files. */
void test_shop_close(struct shop *shop);

/** Deletes the test database (after shop_close). */
void test_db_remove(void);

/** The path of the current test database. */
const char *test_db_path(void);

struct db;
/** Inside a write: the seller (user 1) and the warehouse (1) that a
 *  synthetic catalog's rows name. */
enum shop_err test_put_seller_and_warehouse(struct db *db, struct problem *pb);

/** Inside a write: category `id` under `parent` (0: a root), slug "c<id>". */
enum shop_err test_put_category(struct db *db, int64_t id, int64_t parent, const char *name,
                                struct problem *pb);

/** Inside a write: variant `id` of product `product_id` (SKU `sku`) at
 *  `price` cents, with on_hand and reserved units in warehouse 1. */
enum shop_err test_put_variant(struct db *db, int64_t id, int64_t product_id, const char *sku,
                               int64_t price, int64_t on_hand, int64_t reserved,
                               struct problem *pb);

#endif
