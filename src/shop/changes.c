/* changes.c — fan-out of committed changes to the in-memory views: product
 * pages (product_cache.c), the category tree (category.c) and the search
 * index (search/search.h). */
#include "shop/changes.h"

#include <stdlib.h>

#include "recs/recs.h"
#include "search/search.h"
#include "shop/category.h"
#include "shop/product_cache.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/idset.h"
#include "util/log.h"
#include "util/xalloc.h"

struct seen {
    struct recs *recs;
    int64_t id;
};

/* The row the search index read, for the recommendation model. */
static void to_recs(void *cls, const struct search_product *p, bool published)
{
    struct seen *s = cls;
    recs_product_seen(s->recs, s->id, p, published);
}

/* Drops the product's pages and re-reads it, once, into the search index
 * and the recommendation model; false when the read failed (what did not
 * refresh keeps its old entry). */
static bool refresh(struct shop *shop, int64_t product_id)
{
    product_cache_invalidate(shop->products, product_id);
    product_cache_invalidate(shop->review_pages, product_id);
    if (!shop->search)
        return true;
    struct db *db = store_db(shop->store);
    struct problem pb = {0};
    db_release(db); /* a snapshot older than the caller's commit must not be read */
    struct seen seen = {shop->recs, product_id};
    bool ok = search_refresh_then(shop->search, db, product_id, shop->recs ? to_recs : NULL,
                                  &seen, &pb) == SHOP_OK;
    if (!ok)
        log_event(LOG_WARN, "search.refresh_failed", "{s:I, s:s}", "product",
                  (json_int_t)product_id, "detail", pb.detail);
    db_release(db);
    problem_clear(&pb);
    return ok;
}

void shop_product_changed(struct shop *shop, int64_t product_id)
{
    /* A failed read is tried again with the next flush of stock moves
     * (within CHANGEFEED_PERIOD_MS), not left stale until the next change. */
    if (!refresh(shop, product_id))
        idset_add(shop->stale_search, product_id);
}

void shop_product_stock_moved(struct shop *shop, int64_t product_id)
{
    product_cache_invalidate(shop->products, product_id);
    if (shop->search)
        idset_add(shop->stale_search, product_id);
}

void shop_flush_stock_moves(struct shop *shop)
{
    int64_t ids[512], *failed = NULL;
    bool overflowed = false;
    size_t n, nfailed = 0, cap = 0;
    while ((n = idset_drain(shop->stale_search, ids, 512, &overflowed)) > 0 || overflowed) {
        if (overflowed) {
            shop_catalog_reloaded(shop); /* too many to track: rebuild */
            overflowed = false;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (refresh(shop, ids[i]))
                continue;
            if (nfailed == cap)
                failed = xrealloc(failed, (cap = cap ? 2 * cap : 64) * sizeof *failed);
            failed[nfailed++] = ids[i];
        }
    }
    /* Queued again for the next flush, not for this one's loop: a database
     * that keeps failing would keep it spinning. */
    for (size_t i = 0; i < nfailed; i++)
        idset_add(shop->stale_search, failed[i]);
    free(failed);
}

void shop_categories_changed(struct shop *shop)
{
    struct problem pb = {0};
    struct db *db = store_db(shop->store);
    db_release(db);
    if (category_tree_load(shop->categories, db, &pb) != SHOP_OK)
        log_event(LOG_ERROR, "categories.reload", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    /* Pages show their category's name and path. */
    product_cache_clear(shop->products);
    db_release(db);
    if (shop->search && search_refresh_categories(shop->search, db, &pb) != SHOP_OK)
        log_event(LOG_WARN, "search.refresh_failed", "{s:s, s:s}", "what", "categories", "detail",
                  pb.detail);
    db_release(db);
    problem_clear(&pb);
}

void shop_catalog_reloaded(struct shop *shop)
{
    struct problem pb = {0};
    struct db *db = store_db(shop->store);
    db_release(db);
    if (category_tree_load(shop->categories, db, &pb) != SHOP_OK)
        log_event(LOG_ERROR, "categories.reload", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    product_cache_clear(shop->products);
    product_cache_clear(shop->review_pages);
    db_release(db);
    if (shop->search && search_build(shop->search, shop->store, &pb) != SHOP_OK)
        log_event(LOG_WARN, "search.refresh_failed", "{s:s, s:s}", "what", "catalog", "detail",
                  pb.detail);
    problem_clear(&pb);
    if (shop->recs)
        recs_reload_products(shop->recs, shop->store);
}
