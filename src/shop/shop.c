#include "shop/shop.h"

#include <stdlib.h>

#include "search/search.h"
#include "shop/account.h"
#include "store/store.h"
#include "util/log.h"
#include "util/token.h"
#include "util/xalloc.h"

struct shop *shop_open(const char *db_path, bool migrate, struct problem *pb)
{
    if (!token_init()) {
        problem_set(pb, SHOP_INTERNAL, "libsodium failed to initialise");
        return NULL;
    }
    struct shop *shop = xcalloc(1, sizeof *shop);
    config_load(&shop->cfg);
    account_set_hash_cost(shop->cfg.pwhash_opslimit, shop->cfg.pwhash_memlimit);
    shop->store = store_open(db_path, NULL, pb);
    if (!shop->store)
        goto fail;
    if (migrate) {
        int applied;
        if (store_migrate(shop->store, &applied, pb) != SHOP_OK)
            goto fail;
    } else if (store_schema_version(shop->store) < store_schema_latest()) {
        problem_set(pb, SHOP_UNAVAILABLE, "the database %s is not migrated; run: shopd migrate --db %s",
                    db_path, db_path);
        goto fail;
    }
    shop->search = search_new();
    search_cache_configure(shop->search, (size_t)shop->cfg.search_cache_entries,
                           (size_t)shop->cfg.search_cache_mb * 1024 * 1024);
    search_suggest_configure(shop->search, (int)shop->cfg.suggest_min_count);
    if (search_build(shop->search, shop->store, pb) != SHOP_OK)
        goto fail;
    return shop;
fail:
    search_free(shop->search);
    store_close(shop->store);
    free(shop);
    return NULL;
}

enum shop_err shop_start_workers(struct shop *shop, struct problem *pb)
{
    (void)shop;
    (void)pb;
    return SHOP_OK;
}

void shop_close(struct shop *shop)
{
    if (!shop)
        return;
    atomic_store(&shop->stopping, true);
    store_close(shop->store);
    search_free(shop->search);
    free(shop);
}
