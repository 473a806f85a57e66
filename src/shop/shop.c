#include "shop/shop.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recs/recs.h"
#include "search/search.h"
#include "shop/account.h"
#include "shop/category.h"
#include "shop/flashsale.h"
#include "shop/shipment.h"
#include "ext/carrier.h"
#include "ext/gateway.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/pricing.h"
#include "shop/product_cache.h"
#include "shop/session_cache.h"
#include "shop/shedding.h"
#include "shop/views.h"
#include "store/store.h"
#include "work/changefeed.h"
#include "work/consumers.h"
#include "work/dispatcher.h"
#include "work/housekeeping.h"
#include "work/leases.h"
#include "work/scheduler.h"
#include "work/notify_worker.h"
#include "work/webhook_worker.h"
#include "work/recs_feed.h"
#include "util/idset.h"
#include "util/log.h"
#include "util/token.h"
#include "util/tz.h"
#include "util/xalloc.h"

static struct shop *open_shop(const char *db_path, bool migrate, bool recs_later,
                              struct problem *pb)
{
    if (!token_init()) {
        problem_set(pb, SHOP_INTERNAL, "libsodium failed to initialise");
        return NULL;
    }
    struct shop *shop = xcalloc(1, sizeof *shop);
    config_load(&shop->cfg);
    gate_init(&shop->reports, (int)shop->cfg.report_concurrency);
    if (!shop->cfg.notify_dir[0] && store_is_server_url(db_path)) {
        /* A database server is no directory: beside the working one. */
        snprintf(shop->cfg.notify_dir, sizeof shop->cfg.notify_dir, "data/notifications");
    } else if (!shop->cfg.notify_dir[0]) {
        /* The file sink lives next to the database by default. */
        const char *slash = strrchr(db_path, '/');
        int dirlen = slash ? (int)(slash - db_path) : 1;
        snprintf(shop->cfg.notify_dir, sizeof shop->cfg.notify_dir, "%.*s/notifications", dirlen,
                 slash ? db_path : ".");
    }
    account_set_hash_cost(shop->cfg.pwhash_opslimit, shop->cfg.pwhash_memlimit);
    shop->tz = tz_load(shop->cfg.timezone);
    if (!shop->tz) {
        problem_set(pb, SHOP_INVALID, "SHOPD_TIMEZONE: no time zone %s in the tz database",
                    shop->cfg.timezone);
        goto fail;
    }
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
    shop->instance_id = (int64_t)(token_rand64() >> 1) | 1;
    outbox_set_origin(shop->instance_id);
    shop->products = product_cache_new((size_t)shop->cfg.product_cache_max);
    shop->review_pages = product_cache_new((size_t)shop->cfg.product_cache_max);
    shop->sessions = session_cache_new(200000);
    shop->stale_search = idset_new(65536);
    shop->pricing = pricing_new(&shop->cfg, pb);
    if (!shop->pricing)
        goto fail;
    /* The simulated gateway keeps its books where it is told, else beside
     * the shop's database (on a database server, in it: one gateway for
     * every process). */
    char gw_path[4096];
    if (shop->cfg.sim_gateway_db)
        snprintf(gw_path, sizeof gw_path, "%s", shop->cfg.sim_gateway_db);
    else
        snprintf(gw_path, sizeof gw_path, store_is_server_url(db_path) ? "%s" : "%s-gateway.db",
                 db_path);
    struct gateway *gw = gateway_sim_new(gw_path, shop->cfg.sim_timeout_ms, pb);
    if (!gw)
        goto fail;
    shop->payments = payments_new(shop, gw);
    /* The simulated carrier keeps its books in the shop's own store. */
    shop->carrier = carrier_sim_new(shop->store, shop->cfg.carrier_timeout_ms,
                                    shop->cfg.carrier_step_ms);
    if (!shop->carrier) {
        problem_set(pb, SHOP_INTERNAL, "out of memory");
        goto fail;
    }
    if (flashsale_load_key(shop, pb) != SHOP_OK || carrier_secret_load(shop, pb) != SHOP_OK)
        goto fail;
    /* Before the views are read: the change feed starts here, so a change
     * committed while they load is applied again rather than missed. */
    shop->views_from = outbox_final(store_db(shop->store), (struct outbox_pos){0, 0});
    db_release(store_db(shop->store));
    shop->categories = category_tree_new();
    if (category_tree_load(shop->categories, store_db(shop->store), pb) != SHOP_OK)
        goto fail;
    shop->search = search_new();
    search_cache_configure(shop->search, (size_t)shop->cfg.search_cache_entries,
                           (size_t)shop->cfg.search_cache_mb * 1024 * 1024);
    search_suggest_configure(shop->search, (int)shop->cfg.suggest_min_count);
    shop->recs = recs_new(&(struct recs_config){.min_support = (int)shop->cfg.recs_min_support,
                                                .half_life_ms =
                                                    shop->cfg.recs_half_life_hours * 3600000,
                                                .history_ms =
                                                    shop->cfg.recs_history_days * 86400000,
                                                .page_bytes_max =
                                                    (size_t)shop->cfg.recs_page_cache_mb << 20},
                          shop->categories);
    shop_views_configure(shop, db_path);
    if (shop_views_load(shop, recs_later, pb) != SHOP_OK)
        goto fail;
    return shop;
fail:
    shop_close(shop);
    return NULL;
}

struct shop *shop_open(const char *db_path, bool migrate, struct problem *pb)
{
    return open_shop(db_path, migrate, false, pb);
}

struct shop *shop_open_serving(const char *db_path, bool migrate, struct problem *pb)
{
    return open_shop(db_path, migrate, true, pb);
}

/* After each commit, on the writer thread: wake the consumers when the
 * commit carried events (a rolled-back write may make a wake-up spurious,
 * never a missed one). */
static void kick_dispatcher(void *cls)
{
    if (outbox_take_emitted())
        dispatcher_kick(cls);
}

enum shop_err shop_start_workers(struct shop *shop, struct problem *pb)
{
    /* First: the roles below ask for their leases as they start. */
    shop->leases = leases_start(shop, pb);
    if (!shop->leases)
        return pb->err;
    shop->changefeed = changefeed_start(shop, pb);
    if (!shop->changefeed)
        return pb->err;
    /* Before the threads that trigger notifications (consumers, scheduler). */
    shop->notify = notify_engine_start(shop, pb);
    if (!shop->notify)
        return pb->err;
    shop->shedding = shedding_new(shop);
    if (shedding_start(shop->shedding, pb) != SHOP_OK)
        return pb->err;
    shop->webhooks = webhook_worker_start(shop, pb);
    if (!shop->webhooks)
        return pb->err;
    shop->dispatcher = dispatcher_new(shop);
    consumers_register(shop, shop->dispatcher);
    if (dispatcher_start(shop->dispatcher, pb) != SHOP_OK)
        return pb->err;
    store_on_commit(shop->store, kick_dispatcher, shop->dispatcher);
    shop->housekeeping = housekeeping_start(shop, pb);
    if (!shop->housekeeping)
        return pb->err;
    shop->recs_feed = recs_feed_start(shop, pb);
    if (!shop->recs_feed)
        return pb->err;
    shop->scheduler = scheduler_start(shop, pb);
    return shop->scheduler ? SHOP_OK : pb->err;
}

void shop_close(struct shop *shop)
{
    if (!shop)
        return;
    atomic_store(&shop->stopping, true);
    scheduler_stop(shop->scheduler);
    housekeeping_stop(shop->housekeeping);
    if (shop->store)
        store_on_commit(shop->store, NULL, NULL);
    dispatcher_free(shop->dispatcher);
    webhook_worker_stop(shop->webhooks);
    recs_feed_stop(shop->recs_feed); /* after the consumers, whose commits kick it */
    notify_engine_stop(shop->notify);
    shedding_free(shop->shedding);
    leases_stop(shop->leases); /* the roles have stopped: others may take them now */
    changefeed_stop(shop->changefeed); /* last, to read what the workers wrote */
    shop_views_save(shop);             /* nothing changes the views any more */
    store_close(shop->store);
    category_tree_free(shop->categories);
    payments_free(shop->payments);
    if (shop->carrier)
        shop->carrier->destroy(shop->carrier);
    pricing_free(shop->pricing);
    tz_free(shop->tz);
    product_cache_free(shop->products);
    product_cache_free(shop->review_pages);
    session_cache_free(shop->sessions);
    idset_free(shop->stale_search);
    search_free(shop->search);
    recs_free(shop->recs);
    gate_destroy(&shop->reports);
    free(shop);
}

struct secret_job {
    const char *name;
    char hex[65]; /* out */
};

static enum shop_err secret_write(struct db *db, void *arg, struct problem *pb)
{
    struct secret_job *j = arg;
    unsigned char fresh[32], stored[32];
    char hex[65];
    randombytes_buf(fresh, sizeof fresh);
    sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
    struct stmt *st = db_prepare(db, "INSERT INTO settings (key, value) VALUES (?, ?)"
                                     " ON CONFLICT (key) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "creating a secret of the shop");
    stmt_bind_text(st, 1, j->name);
    stmt_bind_text(st, 2, hex);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating a secret of the shop");
    st = db_prepare(db, "SELECT value FROM settings WHERE key = ?");
    if (!st)
        return db_fail(db, pb, "reading a secret of the shop");
    stmt_bind_text(st, 1, j->name);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading a secret of the shop");
    size_t len = 0;
    if (sodium_hex2bin(stored, sizeof stored, stmt_text(st, 0), (size_t)stmt_len(st, 0), NULL, &len,
                       NULL) != 0 ||
        len != sizeof stored)
        return problem_set(pb, SHOP_INTERNAL, "the shop's secret %s is corrupt", j->name);
    sodium_bin2hex(j->hex, sizeof j->hex, stored, sizeof stored);
    return SHOP_OK;
}

enum shop_err shop_secret(struct shop *shop, const char *name, char hex[65], struct problem *pb)
{
    struct secret_job j = {.name = name};
    if (store_write(shop->store, secret_write, &j, pb) != SHOP_OK)
        return pb->err;
    memcpy(hex, j.hex, sizeof j.hex);
    return SHOP_OK;
}
