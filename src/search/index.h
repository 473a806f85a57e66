/* index.h — the in-memory catalog index (internal to src/search).
 *
 * One `struct index` holds every published product as a *document* in a
 * slot: its hot attributes (what filters, sorts and boosts read, packed in
 * `docs[]` for scanning), its display strings and word list (`text[]`), and
 * its postings in the lexicon. The category tree and the interned brands
 * live beside it. See search.c for the design and the locking; nothing here
 * locks.
 */
#ifndef SHOP_SEARCH_INDEX_H
#define SHOP_SEARCH_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "search/lexicon.h"
#include "search/maps.h"
#include "util/problem.h"

struct db;
struct text_stemmers;

#define CAT_MAX_DEPTH    16
#define FIELD_MAX_TOKENS 1000 /* tokens indexed per field (long descriptions are cut) */
#define NORDERS          5    /* browse sorts kept in order: SEARCH_SORT_POPULARITY … NEWEST */
#define PRICE_BUCKETS    9    /* = SEARCH_PRICE_BUCKETS */
#define STAR_LEVELS      5    /* 0 (or no rating) … 4 full stars of average */
#define NORM_LEN         256  /* field lengths whose normalisation is kept (struct index) */

/* A brand's number of documents directly in one category. */
struct bcount {
    uint32_t brand, n;
};

struct cat {
    int64_t id, parent_id;
    char *name;
    uint32_t parent; /* index, or MAP_NONE for a root */
    uint32_t depth;  /* 0 for a root */
    uint32_t nchain; /* chain[0..nchain) = root … self (capped at CAT_MAX_DEPTH) */
    uint32_t chain[CAT_MAX_DEPTH];
    uint32_t pre, post;                 /* the subtree is [pre, post) in depth-first order */
    uint32_t first_child, next_sibling; /* MAP_NONE-terminated */
    uint32_t *docs; /* slots of live documents directly in this category, ascending */
    uint32_t ndocs, dcap;
    /* The same documents in the order of each browse sort (ord[sort - 1]),
     * kept sorted on every change, so a listing merges the subtree's lists
     * instead of sorting them. */
    uint32_t *ord[NORDERS];
    /* Facet counts of those documents (unfiltered listings add these up). */
    struct bcount *brands; /* by brand id; entries may hold 0 */
    uint32_t nbrands, bcap;
    uint32_t prices[PRICE_BUCKETS];
    uint32_t stars[STAR_LEVELS];
    /* The same of its in-stock documents (a listing filtered only by
     * in_stock adds these up, or what they leave of the above). Not in the
     * snapshot: index_stock_counts_build recounts them after a load. */
    struct bcount *sbrands;
    uint32_t nsbrands, sbcap;
    uint32_t nstocked;
    uint32_t sprices[PRICE_BUCKETS];
    uint32_t sstars[STAR_LEVELS];
};

/* Hot attributes: 64 bytes, scanned by browse. */
struct doc {
    int64_t id;
    int64_t price; /* lowest variant price, cents */
    int64_t created_at;
    int64_t sales;
    int32_t rating_sum, rating_count;
    uint32_t cat, brand;
    uint16_t flen[NFIELDS]; /* indexed tokens per field */
    float boost;            /* relevance multiplier: stock, rating, popularity */
    uint8_t live, in_stock;
};

/* What filters, facets and text scores read, 32 bytes per slot (half of
 * `struct doc`): at a million products the column stays in the last-level
 * cache where the documents do not, and a query touches a document's row
 * only for what the column (and the price column, struct index) lacks:
 * rating filters, sort keys other than price, the page itself. */
struct dcol {
    int64_t id; /* the relevance tie-break */
    uint32_t cat, brand;
    float boost;
    uint16_t flen[NFIELDS];
    uint8_t pbucket; /* price facet bucket */
    uint8_t stars;   /* largest s ≤ 4 with rating_sum ≥ s × rating_count (0 unrated) */
    uint8_t in_stock, live;
};

/* The price column (struct index: price) holds prices below this exactly:
 * 4 bytes a slot, read in slot order like the postings, where the row's
 * price is a cache miss a document (at 1M products, a third of a
 * price-filtered query's time). */
#define PRICE_COL_BIG UINT32_MAX

/* Price facet buckets, cents: [edge[i], edge[i+1]). */
extern const int64_t index_price_edges[PRICE_BUCKETS];

/* The largest relevance multiplier a document can have (index.c: doc_boost). */
#define DOC_BOOST_MAX 1.28f

/* Derived structures (derived.c), a function of the postings and the
 * documents, kept up to date on every change and rebuilt in one pass by
 * index_derived_build after a bulk load. */
struct tagg {              /* a frequent term's facet counts over its documents */
    struct bcount *brands; /* by brand id, ascending; entries may hold 0 */
    uint32_t nbrands, bcap;
    struct bcount *roots; /* by root category index (the unfiltered category facet) */
    uint32_t nroots, rcap;
    uint32_t prices[PRICE_BUCKETS];
    uint32_t stars[STAR_LEVELS];
};

struct tderiv {
    uint64_t *bits;         /* a dense term: one bit per slot (NULL otherwise) */
    uint32_t *rank;         /* a dense term: by 64-bit word of bits, its postings before it */
    uint32_t *tord;         /* slots with the term in the title, in suggestion order (NULL
                               while fewer than TORD_MIN: suggest walks the postings) */
    uint32_t ntitle, tocap; /* documents with the term in the title; tord's capacity */
    struct tagg *agg;       /* a frequent term: facet counts (NULL otherwise) */
    float *bmax;            /* a frequent term: by block of BM_SLOTS slots, the largest
                               bm25_sat × boost of its postings (at index.score_ia) */
};

/* Slots per block of a frequent term's block bounds (derived.c). */
#define BM_SHIFT 9
#define BM_SLOTS (1u << BM_SHIFT)

static inline uint32_t bm_nblocks(uint32_t slots)
{
    return (slots + BM_SLOTS - 1) >> BM_SHIFT;
}

/* 40 bytes a slot: the display strings are one block, found by 16-bit
 * offsets (a title is at most 200 characters and a brand 100, so 1,210
 * bytes at most come before the image; pointers to each cost 30 bytes more
 * a product). */
struct doc_text {
    char *strings;   /* one block: title, brand, currency, image */
    uint32_t *words; /* distinct word ids of every field */
    int64_t max_price;
    uint64_t text_hash;                 /* of what the postings were made from */
    uint16_t nwords;                    /* ≤ NFIELDS × FIELD_MAX_TOKENS */
    uint16_t obrand, ocurrency, oimage; /* offsets in `strings`; oimage 0 when no image */
};

static inline const char *doc_title(const struct doc_text *t)
{
    return t->strings;
}
static inline const char *doc_brand(const struct doc_text *t)
{
    return t->strings + t->obrand;
}
static inline const char *doc_currency(const struct doc_text *t)
{
    return t->strings + t->ocurrency;
}
static inline const char *doc_image(const struct doc_text *t) /* NULL when none */
{
    return t->oimage ? t->strings + t->oimage : NULL;
}

struct index {
    struct lexicon lx;
    struct doc *docs;
    struct dcol *col;
    struct doc_text *text;
    uint32_t nslots, scap;
    uint32_t *free_slots;
    uint32_t nfree, fcap;
    struct idmap by_id; /* product id → slot */
    uint32_t *sb;       /* by slot: what bounds a text score (derived.c: derived_sb) */
    uint32_t *price;    /* by slot: the price in cents, for price filters and sorts
                         * (PRICE_COL_BIG: that or more; index_price reads the row) */
    struct tderiv *td;  /* by term id (derived.c) */
    uint32_t tdcap;
    uint32_t bwords;   /* 64-bit words of every dense term's bitset */
    uint32_t bmblocks; /* blocks of every frequent term's bmax, and of bminid */
    int64_t *bminid;   /* by block of BM_SLOTS slots: at most the lowest id placed there */
    /* The inverse average field lengths text scores normalise by: those of
     * the live documents when they last moved by more than BM_DRIFT
     * (derived.c), so that the block bounds stay exact in between; and the
     * length normalisations they give (bm25.h: bm25_norm), by field and
     * length under NORM_LEN, so that a score divides once, not per field. */
    float score_ia[NFIELDS];
    float norm[NFIELDS][NORM_LEN];
    uint32_t derived_ms; /* the last index_derived_build */
    uint32_t nlive;
    uint64_t flen_sum[NFIELDS];

    struct cat *cats;
    uint32_t ncats, ccap;
    struct idmap cat_by_id;
    uint32_t *cat_at_pre; /* depth-first position → category index */

    struct intern brand_ix; /* folded brand → brand id */
    char **brand_name;      /* display form, as first seen */
    uint32_t bcap;
    /* By brand id: the slots of its live documents, ascending (a one-word
     * query filtered to a brand starts from them: match.c). */
    struct brand_docs {
        uint32_t *docs;
        uint32_t n, cap;
    } * bdocs;
    uint32_t nbdocs;

    /* Indexing scratch (the index has one writer at a time). */
    uint32_t seq;
    uint32_t *wstamp, *wpos, wscap;
    uint32_t *tstamp, *tpos, tscap;
    struct {
        uint32_t id;
        uint8_t tf[NFIELDS];
    } * dw, *dt;
    uint32_t ndw, ndt, dwcap, dtcap;
};

/* A product as read from the database, before it is indexed. */
struct doc_src {
    int64_t id, category_id, price, max_price, created_at, sales;
    int32_t rating_sum, rating_count;
    bool published, in_stock, exists;
    const char *title, *description, *brand, *currency, *images;
};

struct index *index_new(void);
void index_free(struct index *ix);

/** Reads the category tree. On a fresh index it is simply loaded. On a
 *  loaded one, new categories are added in place; if an existing category
 *  was renamed, moved or removed, `*structural` is set and nothing changes
 *  (the caller rebuilds, since documents carry category names). */
enum shop_err index_load_categories(struct index *ix, struct db *db, bool *structural,
                                    struct problem *pb);

/** Links the category tree after its rows changed: parents, children,
 *  depths, ancestor chains, depth-first intervals, cat_at_pre. */
void index_cats_link(struct index *ix);

/** Loads every published product into a fresh index (categories first). */
enum shop_err index_load_all(struct index *ix, struct db *db, struct text_stemmers *sp,
                             struct problem *pb);

/** Reads one product (`src->exists` false when there is no such row).
 *  Strings are copies in `*owned` (free it). */
enum shop_err index_read_product(struct db *db, int64_t id, struct doc_src *src, char **owned,
                                 struct problem *pb);

enum index_change { INDEX_SAME, INDEX_SALES, INDEX_CHANGED, INDEX_NO_CATEGORY };

/** Inserts or replaces the product. INDEX_CHANGED when something shown
 *  changed; INDEX_SALES when only the sales count did (it orders, it is not
 *  shown); INDEX_SAME when nothing did; INDEX_NO_CATEGORY (and no change)
 *  when its category is unknown.
 *  `bulk` skips per-word trie upkeep (call lex_trie_finish after). */
enum index_change index_put(struct index *ix, struct text_stemmers *sp, const struct doc_src *src,
                            bool bulk);

/** Sorts the category orders after a bulk load (index_put with `bulk`) and
 *  trims the slack of arrays grown by doubling. */
void index_orders_finish(struct index *ix);

/** Removes the product; false when it was not indexed. */
bool index_remove(struct index *ix, int64_t product_id);

/** The category index of an id, or MAP_NONE. */
uint32_t index_cat(const struct index *ix, int64_t id);

/** A non-relevance sort's key of a document: two int64 compared ascending,
 *  (k1, k2), unique per document (k2 is ±id). `sort` is a search_sort other
 *  than relevance (index.h does not see search.h: 1 popularity, 2 price
 *  ascending, 3 price descending, 4 rating, 5 newest). */
static inline void doc_sort_key(int sort, const struct doc *d, int64_t *k1, int64_t *k2)
{
    *k2 = d->id;
    switch (sort) {
    case 1:
        *k1 = -d->sales;
        break;
    case 2:
        *k1 = d->price;
        break;
    case 3:
        *k1 = -d->price;
        break;
    case 4: {
        int64_t avg = d->rating_count ? (int64_t)d->rating_sum * 1000000 / d->rating_count : 0;
        int64_t cnt = d->rating_count < (1 << 20) ? d->rating_count : (1 << 20) - 1;
        *k1 = -(avg * (1 << 20) + cnt);
        break;
    }
    default:
        *k1 = -d->created_at;
        *k2 = -d->id;
        break;
    }
}

/** Recounts every category's in-stock counts (struct cat: sbrands …) from
 *  the documents: after a load, which does not keep them. */
void index_stock_counts_build(struct index *ix);

/** The position in `ord` (a category's order for `sort`, n long) of the
 *  first document whose key (doc_sort_key) is not less than (k1, k2). */
uint32_t index_ord_lower(const struct index *ix, const uint32_t *ord, uint32_t n, int sort,
                         int64_t k1, int64_t k2);

/* The inverse average length of each field over the live documents (0 for
 * a field no document has), as the text score normalises lengths. */
static inline void index_inv_avg(const struct index *ix, float ia[NFIELDS])
{
    for (int f = 0; f < NFIELDS; f++)
        ia[f] = ix->flen_sum[f] ? (float)ix->nlive / (float)ix->flen_sum[f] : 0;
}

/* The document's price from the price column (the row only when above it). */
static inline int64_t index_price(const struct index *ix, uint32_t slot)
{
    uint32_t p = ix->price[slot];
    return p != PRICE_COL_BIG ? (int64_t)p : ix->docs[slot].price;
}

static inline uint32_t price_col(int64_t price)
{
    return price >= 0 && price < PRICE_COL_BIG ? (uint32_t)price : PRICE_COL_BIG;
}

static inline bool key_less(int64_t a1, int64_t a2, int64_t b1, int64_t b2)
{
    return a1 < b1 || (a1 == b1 && a2 < b2);
}

/* ---- derived.c ---- */

/** Suggestion order: best sellers first, then most rated, then lowest id. */
static inline bool sugg_before(const struct doc *a, const struct doc *b)
{
    if (a->sales != b->sales)
        return a->sales > b->sales;
    if (a->rating_count != b->rating_count)
        return a->rating_count > b->rating_count;
    return a->id < b->id;
}

/** Rebuilds every derived structure (dense-term bitsets, title lists in
 *  suggestion order, frequent terms' facet counts) from the postings and
 *  the documents: called once after a bulk load, or after loading an index
 *  from elsewhere. */
void index_derived_build(struct index *ix);

/** A posting of `term` for `slot` was added (after the document's column
 *  is set). `bulk`: appended, index_derived_build follows. */
void derived_term_add(struct index *ix, uint32_t term, uint32_t slot, const uint8_t tf[NFIELDS],
                      bool bulk);

/** The posting of `term` for `slot` was removed; `title` when it had the
 *  term in the title. The document's row and column still hold what it was
 *  indexed with. */
void derived_term_del(struct index *ix, uint32_t term, uint32_t slot, bool title);

/** A live document's attributes changed in place (`old`, `oldc` before):
 *  called once per distinct term of the document. */
void derived_term_changed(struct index *ix, uint32_t term, uint32_t slot, const struct doc *old,
                          const struct dcol *oldc);

/** The slot arrays grew to ix->scap: bitsets and block bounds follow. */
void derived_slots_grown(struct index *ix);

/** After a change of the live documents: when an average field length
 *  moved from score_ia by more than BM_DRIFT (`exact`: at all), takes the
 *  new averages for scores and rebuilds every block bound. */
void derived_bounds_check(struct index *ix, bool exact);

/** Sets the inverse average lengths scores use, and their normalisations. */
void derived_score_ia(struct index *ix, const float ia[NFIELDS]);

/** `slot` now holds a live document (its column set). */
void derived_slot_placed(struct index *ix, uint32_t slot);

/** The packed score bounds of a document (4 bytes a slot, 4 MB at a
 *  million, where its 32-byte column is 31 MB): byte 0 a boost class
 *  (boost ≤ 1 + class × (DOC_BOOST_MAX − 1) / 255), bytes 1–3 the lengths
 *  of the title, the category field and the description (capped at 255). */
uint32_t derived_sb(const struct doc *d);

/** A term's bit for `slot` (dense terms only). */
static inline bool derived_has(const uint64_t *bits, uint32_t slot)
{
    return (bits[slot >> 6] >> (slot & 63)) & 1;
}

/** The position in a dense term's postings of `slot`, whose bit is set:
 *  the postings before its 64-bit word, plus the bits set before it there. */
static inline uint32_t derived_rank(const uint64_t *bits, const uint32_t *rank, uint32_t slot)
{
    uint64_t below = bits[slot >> 6] & ((1ull << (slot & 63)) - 1);
    return rank[slot >> 6] + (uint32_t)__builtin_popcountll(below);
}

/** Lists every live document under its brand (index.bdocs), in slot
 *  order (index_derived_build, after a bulk load or a snapshot's). */
void index_brand_docs_build(struct index *ix);

void derived_free(struct index *ix);
size_t derived_bytes(const struct index *ix);

/** Bytes held by the index (approximate; for the memory-per-product figure). */
size_t index_bytes(const struct index *ix);

#endif
