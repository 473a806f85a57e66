/* search.h — the in-memory catalog index: full-text search, browse, facets,
 * suggestions (SRC-1…6, CAT-3).
 *
 * CONTRACT between the catalog and the engine (the engine's own essay lives
 * at the top of search.c):
 *
 *  - The index holds every *published* product with what listing pages,
 *    filters, sorts and ranking need: title, brand, category (and its
 *    ancestors), description terms, lowest/highest variant price, currency,
 *    first image, rating average and count, sales count, in-stock
 *    (any variant with on_hand - reserved > 0), created time.
 *  - search_build() loads it from the database at start.
 *  - search_refresh() is called with a product id after any committed change
 *    that can affect it (catalog edit, status change, price change, stock
 *    change, rating change). It re-reads that product from the database and
 *    inserts, replaces or removes it. The catalog calls it synchronously
 *    after its own writes (read-your-writes in one process) and the change
 *    feed calls it for changes made by other processes (within 1 s).
 *  - search_refresh_categories() after the category tree changes.
 *  - All functions are safe to call from many threads at once; queries never
 *    see a half-updated product.
 *
 * Browse (GET /v1/products) is a query without text.
 */
#ifndef SHOP_SEARCH_SEARCH_H
#define SHOP_SEARCH_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct arena;
struct search;
struct store;
struct db;

/** A new empty index. */
struct search *search_new(void);
void search_free(struct search *s);

/** Loads every published product (and the category tree) from the store. */
enum shop_err search_build(struct search *s, struct store *store, struct problem *pb);

/** Re-reads product `product_id` through `db` and updates the index. */
enum shop_err search_refresh(struct search *s, struct db *db, int64_t product_id,
                             struct problem *pb);

struct search_product;
/** What search_refresh_then read: the product (NULL when it is gone) and
 *  whether it is published. Its strings last for the call only. */
typedef void (*search_read_fn)(void *cls, const struct search_product *p, bool published);

/** search_refresh, then `fn(cls, …)` with the row it read (not when the
 *  read failed): another view of the product (the recommendation model)
 *  is kept up to date without a read of its own. */
enum shop_err search_refresh_then(struct search *s, struct db *db, int64_t product_id,
                                  search_read_fn fn, void *cls, struct problem *pb);

/** Re-reads the category tree through `db`. */
enum shop_err search_refresh_categories(struct search *s, struct db *db, struct problem *pb);

/* ---- snapshots (snapshot_write.c, snapshot.c; format: snapshot_int.h) ------------ */

/** Where the store stood when a snapshot was saved. The index does not
 *  interpret it: the caller (shop/views.c) stores its change position and
 *  whatever it needs to check that position later. */
struct search_stamp {
    int64_t txid, id;     /* the change position */
    uint64_t event_check; /* a fingerprint of the change at that position */
    int64_t schema;       /* the store's schema version */
    int64_t spare[4];
};

struct search_snapshot_info {
    size_t bytes; /* of the file */
    int64_t ms;   /* to read it */
};

/** Writes the index to `path` (via a temporary file, fsynced, renamed):
 *  every structure a query reads, stamped with `stamp`. `*bytes` (may be
 *  NULL) gets the file's size. Queries go on meanwhile; updates wait. */
enum shop_err search_snapshot_save(struct search *s, const char *path,
                                   const struct search_stamp *stamp, size_t *bytes,
                                   struct problem *pb);

/** Replaces the index with the one saved in `path` and returns its stamp.
 *  A missing file is SHOP_NOT_FOUND; a corrupt, truncated or foreign one
 *  (another format or another build of shopd) SHOP_INVALID with the reason
 *  in `pb`: the index is then untouched. The caller must bring the loaded
 *  index up to date (search_refresh for each product changed after the
 *  stamp) before answering from it. */
enum shop_err search_snapshot_load(struct search *s, const char *path, struct search_stamp *stamp,
                                   struct search_snapshot_info *info, struct problem *pb);

/** A product as the index holds it (for the recommendation engine, which
 *  builds its product table from the index instead of the database). */
struct search_product {
    int64_t id, category_id, price;
    const char *title, *brand, *currency;
    bool in_stock;
};

/** How many products the index holds. */
size_t search_products(struct search *s);

/** Calls `fn` for every indexed product, holding the index's read lock
 *  (`fn` must not call back into the index); returns how many. */
size_t search_each_product(struct search *s, void (*fn)(void *cls, const struct search_product *p),
                           void *cls);

/** Tests only: rewrites the length and checksums of a snapshot damaged on
 *  purpose, so that the damage gets past them to the parser's checks. */
enum shop_err search_snapshot_reseal(const char *path, struct problem *pb);

/** Logs `search.built` (or `search.loaded` with `how`) with products, ms,
 *  bytes and bytes per product. */
void search_log_built(struct search *s, const char *event, int64_t ms);

/** Scores take the catalog's current average field lengths, as a fresh
 *  build's do (between such moments they follow them only by steps of
 *  BM_DRIFT: derived.c). Called once a loaded index has caught up. */
void search_scores_settle(struct search *s);

/* ---- queries (browse and search) --------------------------------------------- */

enum search_sort {
    SEARCH_SORT_RELEVANCE,  /* search only; the default there */
    SEARCH_SORT_POPULARITY, /* sales, most first; the default of browse */
    SEARCH_SORT_PRICE_ASC,  /* lowest variant price */
    SEARCH_SORT_PRICE_DESC,
    SEARCH_SORT_RATING, /* average rating, then number of ratings */
    SEARCH_SORT_NEWEST,
};

/** "relevance", "price_asc", … → the sort; false when unknown. */
bool search_sort_parse(const char *name, enum search_sort *out);
const char *search_sort_name(enum search_sort sort);

#define SEARCH_Q_MAX            200 /* code points in a query */
#define SEARCH_PREFIX_MAX       100 /* code points in a suggest prefix */
#define SEARCH_BRAND_MAX        100
#define SEARCH_LIMIT_MAX        100
#define SEARCH_CURSOR_MAX       256
#define SEARCH_QUERY_TERMS      10 /* distinct terms of a query that count; the rest are ignored */
#define SEARCH_FACET_BRANDS     30 /* brand facet: the most frequent ones */
#define SEARCH_FACET_CATEGORIES 30
#define SEARCH_SUGGESTIONS      10

/** What to find. Strings are borrowed for the call. */
struct search_params {
    const char *q;                /* NULL or "" for browse */
    int64_t category_id;          /* 0: any; else this category and its descendants */
    const char *brand;            /* NULL: any; else equal ignoring case and accents */
    int64_t min_price, max_price; /* cents, inclusive, on the lowest variant price; -1: open */
    int32_t min_rating_milli;     /* average rating ≥ this/1000; 0: no filter */
    int in_stock;                 /* -1: any; 1: in stock only; 0: out of stock only */
    enum search_sort sort;
    int limit;          /* 1..SEARCH_LIMIT_MAX */
    const char *cursor; /* NULL: the first page; else a next_cursor */
    bool facets;        /* count facets over the whole match set */
};

/** One product of a result page (strings in the caller's arena). */
struct search_item {
    int64_t id;
    const char *title, *brand, *currency;
    const char *image; /* NULL when the product has none */
    int64_t category_id;
    const char *category_name;
    int64_t price_cents, max_price_cents;
    int32_t rating_sum, rating_count;
    bool in_stock;
    int64_t created_at;
};

struct search_value_count {
    const char *value; /* brand (display form) or category name */
    int64_t id;        /* category id (0 for brands) */
    int64_t count;
};

struct search_price_bucket {
    int64_t from_cents, to_cents; /* [from, to); to = -1: no upper bound */
    int64_t count;
};

#define SEARCH_RATING_BUCKETS 4 /* ≥4, ≥3, ≥2, ≥1 stars */
#define SEARCH_PRICE_BUCKETS  9

struct search_result {
    struct search_item *items;
    int nitems;
    int64_t total;               /* matches, all pages */
    const char *next_cursor;     /* NULL on the last page */
    const char *corrected_query; /* NULL unless a word was corrected */
    bool has_facets;
    struct search_value_count *brands, *categories;
    int nbrands, ncategories;
    struct search_price_bucket prices[SEARCH_PRICE_BUCKETS];
    int nprices; /* only non-empty buckets, ascending */
    int64_t rating_min[SEARCH_RATING_BUCKETS], rating_count[SEARCH_RATING_BUCKETS];
    uint64_t version; /* the catalog version the answer was computed at */
};

/** Runs a query. SHOP_INVALID naming "category" for an unknown category,
 *  "cursor" for a malformed cursor or one from another sort. Nothing
 *  changes either way. Strings of `out` live in `a`. */
enum shop_err search_query(struct search *s, const struct search_params *p, struct arena *a,
                           struct search_result *out, struct problem *pb);

/* ---- suggestions ------------------------------------------------------------------ */

struct search_suggestion {
    const char *text;
    int64_t product_id; /* 0 for a popular query */
};

/** Up to `limit` completions of `prefix`: popular queries first, then
 *  product titles (best sellers first). Strings live in `a`. */
int search_suggest(struct search *s, const char *prefix, int limit, struct arena *a,
                   struct search_suggestion **out, uint64_t *version);

/** Counts a query someone ran that found something (for suggestions); pass
 *  the corrected query when a word was corrected, so that typos are never
 *  suggested. */
void search_record_query(struct search *s, const char *q);

/* ---- result cache --------------------------------------------------------------------- *
 * Rendered answers of hot queries, keyed by the normalised request and
 * tagged with the catalog version they were computed at: any change to the
 * index bumps the version, and a lookup only returns an answer of the
 * current version. Entries are reference-counted so an answer can be sent
 * while the cache drops it. */

struct search_cached;

/** The cache's key for a request: `kind` (the endpoint) then the
 *  normalised parameters. In `a`. */
char *search_cache_key(const char *kind, const struct search_params *p, struct arena *a,
                       size_t *len);

/** A current answer for `key` (a reference: release it), or NULL. */
struct search_cached *search_cache_get(struct search *s, const char *key, size_t klen);

/** Stores an answer computed at `version` and returns a reference to it
 *  (NULL when the cache is off). `ttl_ms` > 0 also expires it (for answers
 *  that depend on more than the catalog) after 3/4 to 5/4 of it, spread by
 *  key so that answers cached together expire apart; `aux` and `note` (a string, or
 *  NULL) are kept with it — the total, and the query to count as run. */
struct search_cached *search_cache_put(struct search *s, const char *key, size_t klen,
                                       uint64_t version, int64_t ttl_ms, const char *data,
                                       size_t len, int64_t aux, const char *note);

/** Whether the result cache is on. */
bool search_cache_enabled(const struct search *s);

const char *search_cached_data(const struct search_cached *c, size_t *len, int64_t *aux);
const char *search_cached_note(const struct search_cached *c);

/** Drops a reference (the signature resp_shared wants). */
void search_cached_release(void *c);

/** Cache limits (0 entries turns it off); applied before serving. */
void search_cache_configure(struct search *s, size_t max_entries, size_t max_bytes);

/** Popular queries must have been run this many times to be suggested. */
void search_suggest_configure(struct search *s, int min_count);

/* ---- figures ------------------------------------------------------------------------ */

uint64_t search_version(struct search *s);

struct search_stats {
    uint64_t products, terms, words, bytes, version;
    int64_t build_ms;
    uint64_t cache_hits, cache_misses, cache_entries, cache_bytes;
    uint64_t queries, refreshes;
};
void search_stats(struct search *s, struct search_stats *out);

struct buf;
/** Appends the figures above in Prometheus text (for /metrics). */
void search_render_metrics(struct search *s, struct buf *out);

#endif
