/* recs.h — recommendations from behaviour (ENG-4): frequently bought
 * together, customers also viewed, popular (per category), personal, and
 * content-based neighbours for cold start. The engine's essay is at the
 * top of recs.c; how each list is computed, at the top of answers.c.
 *
 * CONTRACT
 *
 *  - Events: recs_record() buffers a view or an add to cart in memory
 *    (never touches the database: product detail calls it); the feed
 *    worker (work/recs_feed.c) writes the buffer to `rec_events` in
 *    batches with recs_flush(). Purchases are written there by the outbox
 *    consumer "recs.purchases" (recs_purchases_write, once per order line).
 *  - Every process follows `rec_events` in commit order with recs_poll()
 *    and applies what it reads to its model (its own events too: one path
 *    for everything, so every process and every backend computes the same
 *    model). recs_build() reads the history at start.
 *  - recs_product_seen() after a committed product change, with the row
 *    the search index re-read (shop_product_changed): only published,
 *    in-stock products are ever recommended, checked when an answer is
 *    made.
 *  - All functions are safe to call from many threads at once.
 */
#ifndef SHOP_RECS_RECS_H
#define SHOP_RECS_RECS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct arena;
struct store;
struct db;
struct category_tree;
struct buf;

enum recs_kind { RECS_VIEW = 1, RECS_CART = 2, RECS_PURCHASE = 3 };

#define RECS_LIMIT_MAX    50     /* items per answer */
#define RECS_DETAIL_ITEMS 6      /* per list on the product page */
#define RECS_BUFFER_MAX   262144 /* events waiting to be written; beyond, refused */
#define RECS_BATCH_MAX    100    /* events in one POST /v1/events */

struct recs_config {
    int min_support;       /* orders a pair needs for "bought together" */
    int64_t half_life_ms;  /* popularity and co-view decay */
    int64_t history_ms;    /* how far back recs_build reads */
    size_t page_bytes_max; /* product pages with recommendations kept, all together;
                              0: RECS_PAGE_BYTES_DEFAULT */
};

struct recs *recs_new(const struct recs_config *cfg, struct category_tree *cats);
void recs_free(struct recs *r);

/** Reads every product and the event history (recs_config.history_ms) from
 *  the store. Call once; until it returns, recs_ready is false and nothing
 *  else may be asked of the model but recs_product_seen and recs_record. */
enum shop_err recs_build(struct recs *r, struct store *store, struct problem *pb);

/** recs_build taking the products from the search index `from` (already
 *  built and up to date) instead of the database: the same rows — the
 *  index holds every published product with its title, brand, currency,
 *  lowest price and stock — without the query (3 s at a million products). */
struct search;
/** True once a build has finished: answers may be asked for. A serving
 *  process builds the model after it starts answering (work/recs_feed.c);
 *  until then product pages carry no recommendations and the
 *  recommendation endpoints answer 503. */
bool recs_ready(struct recs *r);

enum shop_err recs_build_from_search(struct recs *r, struct store *store, struct search *from,
                                     struct problem *pb);

/** Product `id` as the search index has just re-read it after a committed
 *  change (search_refresh_then, which reads every column the model keeps:
 *  availability, title, price, category, brand). `p` NULL: the product is
 *  gone and is never recommended again. */
struct search_product;
void recs_product_seen(struct recs *r, int64_t id, const struct search_product *p, bool published);

/** Re-reads every product (after a seed or an import). */
void recs_reload_products(struct recs *r, struct store *store);

/** Reads and applies events committed since the last call; returns how
 *  many, or -1 on a database error. */
int recs_poll(struct recs *r, struct db *db);

/* ---- events ------------------------------------------------------------------ */

/** A user's key in the model: the user's id, or minus the guest session's. */
static inline int64_t recs_user_key(int64_t user_id, int64_t guest_id)
{
    return user_id ? user_id : -guest_id;
}

/** Tells this process's model at once that the user bought `products` (a
 *  checkout that just committed), so that no answer of this process lists
 *  them again; the purchase rows that follow through `rec_events` mark the
 *  same (the model of every process, recs_poll). */
void recs_bought(struct recs *r, int64_t user_key, const int64_t *products, int n);

/** Buffers an event (memory only). false when RECS_BUFFER_MAX wait. */
bool recs_record(struct recs *r, int kind, int64_t user_key, int64_t product_id);

/** Buffers `n` events of one user (kinds[i] on products[i]), all or none:
 *  false, having buffered nothing, when they would not all fit. */
bool recs_record_many(struct recs *r, const int *kinds, int64_t user_key, const int64_t *products,
                      int n);

/** Writes buffered events to the store (batches of up to 5,000 per write);
 *  `*written` gets how many. On failure the unwritten events are dropped
 *  (behaviour is best-effort) and counted. */
enum shop_err recs_flush(struct recs *r, struct store *store, int *written, struct problem *pb);

/** A paid order: its products are purchases by `user_id` at `at_ms`. */
struct recs_purchase {
    int64_t order_id, user_id, at_ms;
};

/** Inside a write: records the products of `n` paid orders as purchases
 *  (idempotent), 16 orders to a statement. */
enum shop_err recs_purchases_write(struct db *db, const struct recs_purchase *p, int n,
                                   struct problem *pb);

/** Retention: deletes events created before `before_ms` (beyond the
 *  history recs_build reads: no model can use them any more), oldest first,
 *  in writes of RECS_PURGE_CHUNK rows, at most `max_chunks` of them;
 *  `*deleted` gets how many. On failure the chunks already written stay
 *  deleted. Every process may run it at once (idempotent). */
#define RECS_PURGE_CHUNK 5000
enum shop_err recs_purge(struct store *store, int64_t before_ms, int max_chunks, int64_t *deleted,
                         struct problem *pb);

/* ---- answers ------------------------------------------------------------------ */

/** Whether the product is published and in stock (recommendable); false
 *  when unknown. `*published` (may be NULL) says whether shoppers may see it. */
bool recs_product_live(struct recs *r, int64_t id, bool *published);

struct recs_item {
    int64_t product_id;
    const char *title; /* in the caller's arena */
    char currency[4];
    int64_t price_cents;
    double score;
    double lift; /* frequently bought together only */
    bool has_lift;
};

/** Each fills up to `limit` items into `out` (capacity `limit`) and returns
 *  how many. Unknown product / user: 0 items. */
int recs_bought_together(struct recs *r, int64_t product_id, int limit, struct arena *a,
                         struct recs_item *out);
/** Co-viewed products; a product with no co-views gets content-based
 *  neighbours and popular items of its category (cold start). */
int recs_also_viewed(struct recs *r, int64_t product_id, int limit, struct arena *a,
                     struct recs_item *out);
/** category 0: the whole shop; else the category and its descendants. */
int recs_popular(struct recs *r, int64_t category_id, int limit, struct arena *a,
                 struct recs_item *out);
/** Neighbours of the user's recent history, never what they bought,
 *  diversified across categories; padded with content-based neighbours and
 *  popular items (a new user gets popular items). */
int recs_personal(struct recs *r, int64_t user_key, int limit, struct arena *a,
                  struct recs_item *out);

/* ---- rendered answers ------------------------------------------------------------ *
 * A small cache of rendered lists, keyed by the caller: an entry is used
 * while it is younger than RECS_CACHE_MS, the availability version it was
 * made at is current (an unpublished or sold-out product leaves every list
 * at once) and its `stamp` matches (e.g. the user's history stamp). */
#define RECS_CACHE_MS 1000

/* The product page with its recommendations (rendered.c explains when it
 * is current): rendered by the caller, kept per product, shared by the
 * responses that send it, at most RECS_PAGE_MAX_MS old. */
#define RECS_PAGE_MAX_MS        300000              /* 5 minutes */
#define RECS_PAGE_BYTES_DEFAULT ((size_t)512 << 20) /* all pages together: ~200,000 pages */
#define RECS_PAGE_TEXT_MAX      (256u << 10)        /* one page; larger ones are served, not kept */

struct recs_page;
/** What a page is made from: read by recs_page_get, before the lists. */
struct recs_page_ver {
    uint64_t avail, base;
    uint32_t stamp;
};
/** Product `product_id`'s current page spliced into the plain page `base`
 *  (a hash naming its version), with a reference the caller releases
 *  (recs_page_release); NULL when there is none, and `*ver` then says what
 *  a new one is made from. */
struct recs_page *recs_page_get(struct recs *r, int64_t product_id, uint64_t base,
                                struct recs_page_ver *ver);
/** Keeps `text` (copied) as the product's page made at `ver`, `tag` a hash
 *  of its recommendations (for ETags); returns it with a reference for the
 *  caller, kept or not. */
struct recs_page *recs_page_put(struct recs *r, int64_t product_id, const struct recs_page_ver *ver,
                                const char *text, size_t len, uint32_t tag);
/** The page's bytes (valid while the reference is held) and tag. */
const char *recs_page_text(const struct recs_page *p, size_t *len, uint32_t *tag);
/** Drops a reference (NULL: nothing); the shape of a response's release. */
void recs_page_release(void *page);

/** A copy of the cached text in `a`, or NULL. */
char *recs_cache_get(struct recs *r, uint64_t key, uint64_t stamp, struct arena *a, size_t *len);
void recs_cache_put(struct recs *r, uint64_t key, uint64_t stamp, uint64_t avail_version,
                    const char *text, size_t len);
/** Bumped whenever a product's availability, title or price changes. */
uint64_t recs_avail_version(struct recs *r);
/** Changes whenever the user's history does. */
uint64_t recs_user_stamp(struct recs *r, int64_t user_key);

/* ---- figures -------------------------------------------------------------------- */

struct recs_stats {
    uint64_t products, users, events, orders, bytes, buffered, written, dropped;
    uint64_t page_bytes; /* kept product pages (not in `bytes`) */
    int64_t build_ms;
};
void recs_stats(struct recs *r, struct recs_stats *out);
void recs_render_metrics(struct recs *r, struct buf *out);

#endif
