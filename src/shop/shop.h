/* shop.h — the shop: the one object that holds the store, the configuration,
 * the in-memory views and the background workers of a running shopd.
 *
 * The HTTP layer and the CLI create one with shop_open and hand it to the
 * domain functions; tests do the same against a temporary database.
 */
#ifndef SHOP_SHOP_SHOP_H
#define SHOP_SHOP_SHOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/config.h"
#include "shop/outbox.h"
#include "util/gate.h"
#include "util/problem.h"

struct store;
struct category_tree;
struct product_cache;
struct changefeed;
struct dispatcher;
struct search;
struct pricing;
struct payments;
struct carrier;
struct housekeeping;
struct scheduler;
struct notify_engine;
struct session_cache;
struct idset;
struct leases;
struct webhook_worker;
struct shedding;
struct tz;
struct recs;
struct recs_feed;

struct shop {
    struct store *store;
    struct shop_config cfg;
    int64_t instance_id;              /* this process, in the events it writes */
    struct category_tree *categories; /* category.c */
    struct product_cache *products;   /* rendered product pages (product_cache.c) */
    struct product_cache *review_pages; /* rendered first pages of reviews (api/reviews.c) */
    struct session_cache *sessions;   /* resolved tokens (session_cache.c) */
    struct idset *stale_search;       /* products whose search entry awaits a refresh */
    struct changefeed *changefeed;    /* other processes' changes (work/changefeed.c) */
    struct dispatcher *dispatcher;    /* outbox consumers (work/dispatcher.c) */
    struct search *search;            /* the in-memory catalog index (search/search.h) */
    struct pricing *pricing;          /* shipping and tax (pricing.c) */
    struct payments *payments;        /* gateway, retries, breaker (payment.c) */
    struct carrier *carrier;          /* labels and tracking (ext/carrier.h) */
    struct housekeeping *housekeeping;/* sweeper (work/housekeeping.c) */
    struct scheduler *scheduler;      /* flash sales' clock (work/scheduler.c) */
    unsigned char token_key[32];      /* signs flash-sale purchase tokens */
    struct notify_engine *notify;     /* fan-outs and senders (work/notify_worker.c) */
    struct leases *leases;            /* roles run once per shop (work/leases.c) */
    struct webhook_worker *webhooks;  /* webhook sender (work/webhook_worker.c) */
    struct shedding *shedding;        /* load-shedding level (shop/shedding.h) */
    struct tz *tz;                    /* the shop's time zone (SHOPD_TIMEZONE, util/tz.h) */
    struct recs *recs;                /* the recommendation model (recs/recs.h) */
    struct recs_feed *recs_feed;      /* writes events, applies new ones (work/recs_feed.c) */
    struct outbox_pos views_from;     /* the outbox as the in-memory views were built */
    struct gate reports;              /* analytics reports computed at once (shop/analytics.c) */
    /* Where the change feed stopped (changefeed_stop): every change up to
     * here is in the views, the stamp of the snapshot saved at a clean stop
     * (views.c). */
    struct outbox_pos views_at;
    bool views_at_known;
    bool views_save; /* save the search snapshot in shop_close (serve, after draining) */
    _Atomic bool stopping;
};

/** Opens the database at `db_path`, migrates it when `migrate` is set (else
 *  refuses a database that is behind this binary), and loads the in-memory
 *  views. NULL on failure with the reason in `pb`. */
struct shop *shop_open(const char *db_path, bool migrate, struct problem *pb);

/** The same, for `shopd serve`: the recommendation model is left to build
 *  once the workers start (shop_start_workers; shop/views.c says why). */
struct shop *shop_open_serving(const char *db_path, bool migrate, struct problem *pb);

/** Starts the background workers (serve only; the CLI verbs do without). */
enum shop_err shop_start_workers(struct shop *shop, struct problem *pb);

/** Stops the workers, closes the store, frees everything. */
void shop_close(struct shop *shop);

/** A secret of the shop's own: 32 random bytes made the first time and kept
 *  in the settings row `name`, so every process of the shop reads the same
 *  one. Into `hex` (64 hex digits). */
enum shop_err shop_secret(struct shop *shop, const char *name, char hex[65], struct problem *pb);

#endif
