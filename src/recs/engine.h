/* engine.h — the recommendation engine's insides, shared by recs.c (the
 * model), answers.c (the lists), content.c, rendered.c and load.c (its
 * SQL). Not for use outside src/recs.
 */
#ifndef SHOP_RECS_ENGINE_H
#define SHOP_RECS_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "recs/recs.h"
#include "search/maps.h"

struct text_stemmers;

#define RECS_TERMS   8   /* title terms kept per product (content similarity) */
#define RECS_HIST    24  /* recent events kept per user */
#define RECS_BASKET  64  /* distinct products of one order that pair */
#define RECS_SESSION_GAP_MS (30 * 60 * 1000)
#define RECS_SESSION_PAIRS  10 /* earlier views of the session a view pairs with */
#define NB_MAX_CAP   256 /* neighbour table slots; holds up to 3/4 of it */
#define RECS_SHARDS  64  /* mutexes of the rendered answers (rendered.c) */
#define RECS_BUF_SHARDS 16 /* event buffers (load.c) */
#define CONTENT_NEAR_BRAND 64 /* content candidates of the product's brand (content.c) */
#define CONTENT_NEAR 32  /* content candidates of other brands */
#define CONTENT_CANDIDATES (CONTENT_NEAR_BRAND + CONTENT_NEAR)
#define CONTENT_SCAN 256 /* entries one walk may examine */
#define CONTENT_BULK 64  /* changes to a category kept sorted in place before re-sorting */

static inline uint64_t recs_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* A neighbour table: open addressing on the neighbour's slot. */
struct nb_entry {
    uint32_t key; /* slot + 1; 0 is empty */
    float w;
};
struct nbtab {
    uint32_t cap, n;
    struct nb_entry e[];
};

/* The neighbour tables' hash of a key (slot + 1); answers.c's score
 * accumulator probes with it too. */
static inline uint32_t nb_hash(uint32_t k)
{
    k *= 0x9E3779B1u;
    return k ^ (k >> 15);
}

struct rprod {
    int64_t id, category_id, price;
    char *title;
    char currency[4];
    uint64_t brand; /* hash of the folded brand; 0: none */
    uint32_t terms[RECS_TERMS];
    uint8_t nterms;
    bool live;   /* published and in stock */
    bool published;
    bool loaded; /* read from the products table (not just named by an event) */
    bool indexed; /* in its category's content arrays (content.c) */
    double pop;  /* decayed weighted events (forward decay) */
    double views;   /* decayed views (co-view normalisation) */
    uint32_t orders; /* paid orders containing it */
    uint32_t stamp;  /* bumped when its co-purchases, co-views, orders or views change */
    struct nbtab *buys;  /* co-purchase counts (orders) */
    struct nbtab *coviews; /* decayed co-views within sessions */
};

struct hist {
    int64_t at;
    uint32_t slot;
    uint8_t kind;
};

struct ruser {
    int64_t key;
    uint64_t stamp;
    uint8_t n, head; /* ring: h[(head + RECS_HIST - 1 - i) % RECS_HIST] is the i-th newest */
    struct hist h[RECS_HIST];
    uint32_t *owned; /* bought product slots, sorted */
    uint32_t nowned, capowned;
};

/* The user's i-th newest event (i < u->n). */
static inline const struct hist *hist_at(const struct ruser *u, int i)
{
    return &u->h[(u->head + RECS_HIST - 1 - i) % RECS_HIST];
}

struct recs_row {
    int64_t txid, id;
    int kind;
    int64_t user_key, product_id, order_id, at;
};

struct rev { /* a buffered event */
    int64_t user_key, product_id, at;
    int kind;
};

/* A category's products for content neighbours (content.c): slots in
 * (price, slot) and (brand, price, slot) order. */
struct catlist {
    int64_t category_id;
    uint32_t *by_price, *by_brand;
    uint32_t n, cap;
    uint32_t nlive; /* indexed products of the category (n may hold stale entries when unsorted) */
    uint32_t nmod;  /* changes kept in order since the last sort */
    atomic_bool sorted;
};

struct rcache;

struct recs {
    struct recs_config cfg;
    struct category_tree *cats;
    struct text_stemmers *stem;

    /* The model: readers hold `lock` for reading; applying events or a
     * product holds it for writing. `write_mu` makes updates one at a time
     * (reading the database, then applying). */
    pthread_rwlock_t lock;
    pthread_mutex_t write_mu;
    struct idmap by_id;
    struct rprod *p;
    uint32_t np, capp;
    struct idmap by_cat; /* category id → index in cl */
    struct catlist *cl;
    uint32_t ncl, capcl;
    pthread_mutex_t content_mu; /* a reader re-sorting a catlist (content.c) */
    struct idmap by_user;
    struct ruser *u;
    uint32_t nu, capu;
    struct intern terms;
    int64_t base_ms; /* forward decay's origin */
    double total_orders;
    /* The order being assembled from its purchase rows. */
    int64_t basket_order, basket_user, basket_at;
    uint32_t basket[RECS_BASKET];
    int nbasket;
    int64_t pos_txid, pos_id; /* events read up to here */

    _Atomic uint64_t avail_version;

    /* Which products shoppers may see (id → SHOWN_* bits), apart from the
     * model: checking an event's product must not wait for the feed applying
     * a slice under the model's write lock. Written under both locks. */
    pthread_rwlock_t shown_lock;
    struct idmap shown;

    /* Popular lists, recomputed at most once per RECS_CACHE_MS each
     * (answers.c). */
    pthread_mutex_t pop_mu;
    struct popc *popc;

    struct rcache *cache;

    /* Product pages (rendered.c): pages[slot], beside p. */
    struct recs_page **pages;
    pthread_mutex_t page_mu[RECS_SHARDS];
    atomic_size_t page_bytes;
    atomic_uint page_hand;

    /* Events waiting to be written: one buffer per shard, a thread
     * always appending to the same one, so request threads seldom meet on
     * a mutex (a waiter sleeps; on a busy machine, for long). The bound is
     * on all of them together (`nbuffered`). */
    struct evbuf {
        _Alignas(64) pthread_mutex_t mu; /* a cache line each */
        struct rev *ev;
        uint32_t n, cap;
    } bufs[RECS_BUF_SHARDS];
    atomic_uint nbuffered; /* in all of them: at most RECS_BUFFER_MAX */

    _Atomic int64_t build_ms;
    atomic_bool ready; /* built: answers may be asked for (recs_ready) */
    atomic_uint_fast64_t events, written, dropped;
};

#define SHOWN_PUBLISHED 1u
#define SHOWN_LIVE      2u
/** Records product `id`'s visibility (model write lock held). */
void recs_set_shown(struct recs *r, int64_t id, bool published, bool live);

/** The popular lists' memo (answers.c), empty; free() frees it. */
struct popc *recs_popc_new(void);
/** The user with `key`, added if `create`, else NULL when unknown. */
struct ruser *recs_user_get(struct recs *r, int64_t key, bool create);

struct rcache *recs_rcache_new(void);
void recs_rcache_free(struct rcache *c);
void recs_pages_free(struct recs *r);

/* ---- answers' candidates (answers.c, content.c) ---- */

struct cand {
    uint32_t slot;
    double score, lift;
    bool has_lift;
};

/* The candidate list a query collects into: bounded, deduplicated by a
 * linear check (lists are short). */
struct clist {
    struct cand *c;
    int n, cap;
};

static inline bool clist_has(const struct clist *l, uint32_t slot)
{
    for (int i = 0; i < l->n; i++)
        if (l->c[i].slot == slot)
            return true;
    return false;
}

static inline bool recs_usable(const struct recs *r, uint32_t slot)
{
    return r->p[slot].loaded && r->p[slot].live;
}

/** Whether user `u` (NULL: nobody) bought the product in `slot`. */
bool recs_user_owns(const struct ruser *u, uint32_t slot);

/* ---- content neighbours (content.c; write lock held unless said) ---- */

struct catlist *recs_cat_list(struct recs *r, int64_t cat, bool create);
/** Takes the product out of its category's arrays (before its category,
 *  price or brand change, or it stops being live). */
void recs_content_remove(struct recs *r, uint32_t slot);
/** Puts a loaded, live product not yet there into its category's arrays. */
void recs_content_add(struct recs *r, uint32_t slot);
/** The product's title terms (as the search engine cuts them). */
void recs_content_terms(struct recs *r, struct rprod *p, const char *title);
/** The folded brand's hash, 0 for none. */
uint64_t recs_content_brand(const char *brand);
void recs_content_free(struct recs *r);
uint64_t recs_content_bytes(const struct recs *r);
/** Read lock held: the candidates content.c's rule scores for `slot` (at
 *  most CONTENT_CANDIDATES, into `out`), skipping what `l` holds and `skip`
 *  bought; returns how many. */
int recs_content_candidates(struct recs *r, uint32_t slot, const struct clist *l,
                            const struct ruser *skip, uint32_t *out);
/** Read lock held: appends up to `want` content neighbours of `slot` not
 *  yet in `l`, best first. */
void recs_add_content(struct recs *r, uint32_t slot, int want, struct clist *l,
                      const struct ruser *skip);

/** Applies rows read from rec_events (write lock held by the caller). */
void recs_apply_rows(struct recs *r, const struct recs_row *rows, int n, bool complete);

/** Inserts or updates a product (write lock held). */
struct prod_src {
    int64_t id, category_id, price;
    const char *title, *brand, *currency;
    bool published, in_stock;
};
void recs_put_product(struct recs *r, const struct prod_src *src);

/** Reads rows after the engine's position (below the horizon), at most
 *  `max`, into `rows`; returns how many or -1. */
int recs_read_rows(struct recs *r, struct db *db, int64_t since_ms, struct recs_row *rows, int max);

#endif
