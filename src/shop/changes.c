#include "shop/changes.h"

#include "shop/category.h"
#include "shop/product_cache.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/log.h"

void shop_product_changed(struct shop *shop, int64_t product_id)
{
    product_cache_invalidate(shop->products, product_id);
}

void shop_categories_changed(struct shop *shop)
{
    struct problem pb = {0};
    struct db *db = store_db(shop->store);
    if (category_tree_load(shop->categories, db, &pb) != SHOP_OK)
        log_event(LOG_ERROR, "categories.reload", "{s:s}", "detail", pb.detail);
    /* Pages show their category's name and path. */
    product_cache_clear(shop->products);
}

void shop_catalog_reloaded(struct shop *shop)
{
    shop_categories_changed(shop);
    product_cache_clear(shop->products);
}
