/* engine.h — the search object's insides, shared by search.c (lifecycle,
 * updates), query.c (browse and search) and suggest.c. Not for use outside
 * src/search.
 */
#ifndef SHOP_SEARCH_ENGINE_H
#define SHOP_SEARCH_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "search/index.h"
#include "search/search.h"

struct rcache;
struct qlog;
struct text_stemmers;

/* A ranked result: sort keys (ascending), then the slot. */
struct hit {
    int64_t k1, k2;
    uint32_t slot;
    float score;
};

/* Per-query working memory, reused across queries (a pool in `struct
 * search`): growable arrays, never shrunk. */
struct mcur;
struct scratch {
    uint32_t *brand_count, *cat_count; /* zero between queries */
    size_t bccap, cccap;
    uint32_t *touched_b, *touched_c;
    size_t tbcap, tccap;
    struct hit *heap;
    size_t hcap;
    struct mcur *merge; /* browse: one cursor per category of the subtree */
    size_t mcap;
    uint32_t *match; /* search: the slots matching every word */
    size_t matchcap;
    uint32_t *blocks; /* search: a one-word page's blocks, best bound first (a heap) */
    size_t blockcap;
    struct brun *runs; /* search: those blocks and their bounds (match.c) */
    size_t runcap;
    uint32_t *sorted; /* search: a category's candidates sorted by block (match.c) */
    size_t sortcap;
    uint32_t *at; /* search: each match's posting in each word's list (match.c) */
    size_t atcap;
    uint32_t *kept; /* search: the matches a counting pass saw pass the filters (query.c) */
    size_t keptcap;
    uint32_t *slices; /* browse: [from, to) of one order per category of the range (query.c) */
    size_t slicecap;
    struct scratch *next;
};

struct search {
    /* Queries hold `lock` for reading while they look at `ix`; an update
     * holds it for writing while it changes `ix` (microseconds). `write_mu`
     * makes updates one at a time, from reading the database to applying,
     * so the last read is always the last applied. */
    pthread_rwlock_t lock;
    pthread_mutex_t write_mu;
    struct index *ix;
    _Atomic uint64_t version; /* bumped, under `lock`, by every visible change */
    /* A change of sales counts alone (every order makes one) bumps the
     * version at most once a second — the popularity order of cached answers
     * may lag by that much — so that orders do not empty the result cache. */
    _Atomic int64_t bumped_ms; /* when the version last changed */
    atomic_bool sales_pending; /* a sales change is not yet in the version */

    struct text_stemmers *stem;
    struct rcache *cache; /* NULL when off */
    struct qlog *qlog;

    pthread_mutex_t pool_mu;
    struct scratch *pool;

    /* Tests only: answer every query by the exhaustive reference path (no
     * category orders, column, bounds or early exits) to compare with. */
    bool reference;

    _Atomic int64_t build_ms;
    size_t cache_entries, cache_bytes;
    atomic_uint_fast64_t nqueries, nrefresh;
};

struct scratch *scratch_get(struct search *s);
void scratch_put(struct search *s, struct scratch *sc);

/** Ensures `*p` holds at least `n` elements of `size` bytes (contents kept). */
void scratch_reserve(void **p, size_t *cap, size_t n, size_t size);

#endif
