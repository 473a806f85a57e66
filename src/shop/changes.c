/* changes.c — fan-out of committed product changes to in-memory views. */
#include "shop/changes.h"

#include "search/search.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/log.h"

void shop_product_changed(struct shop *shop, int64_t product_id)
{
    if (!shop->search)
        return;
    struct db *db = store_db(shop->store);
    struct problem pb = {0};
    db_release(db); /* a snapshot older than the caller's commit must not be read */
    if (search_refresh(shop->search, db, product_id, &pb) != SHOP_OK)
        log_event(LOG_WARN, "search.refresh_failed", "{s:I, s:s}", "product",
                  (json_int_t)product_id, "detail", pb.detail);
    db_release(db);
    problem_clear(&pb);
}

void shop_categories_changed(struct shop *shop)
{
    if (!shop->search)
        return;
    struct db *db = store_db(shop->store);
    struct problem pb = {0};
    db_release(db);
    if (search_refresh_categories(shop->search, db, &pb) != SHOP_OK)
        log_event(LOG_WARN, "search.refresh_failed", "{s:s, s:s}", "what", "categories", "detail",
                  pb.detail);
    db_release(db);
    problem_clear(&pb);
}
