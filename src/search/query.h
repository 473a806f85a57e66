/* query.h — one query's state, shared by query.c (filters, facets, ranking,
 * results), browse.c (pages from the category orders), cursor.c (cursors) and
 * match.c (words, terms, matching, text scores).
 * Internal to src/search.
 */
#ifndef SHOP_SEARCH_QUERY_H
#define SHOP_SEARCH_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "search/engine.h"
#include "search/text.h"

#define QALT   8  /* alternatives per query word (prefix completions) */
#define QWORDS 32 /* words of a query looked at (stop words included) */

struct arena;

struct qword {
    char tok[TEXT_TOKEN_MAX + 1];
    char stem[TEXT_TOKEN_MAX + 1];
    size_t len, slen;
    bool stop, partial;
    const char *shown; /* the correction, when there is one */
};

/* One alternative of a query word: a term, its weight and idf, and a
 * cursor into its postings (scoring walks documents in ascending order). */
struct qalt {
    const struct term *t;
    const uint64_t *bits; /* a dense term's bitset over the slots, or NULL */
    const uint32_t *rank; /* and its postings before each 64-bit word (derived_rank) */
    float w, idf;
    uint32_t pos;
};

struct qterm {
    int nalt;
    struct qalt alt[QALT];
    uint32_t ids[QALT]; /* term ids, to drop duplicates */
    uint64_t est;       /* postings of all alternatives: the cost of walking it */
};

#define AT_NONE UINT32_MAX

struct qctx {
    const struct index *ix;
    struct scratch *sc;
    const struct search_params *p;
    enum search_sort sort;
    bool score;       /* relevance needs text scores; other sorts skip them */
    bool reference;   /* the exhaustive reference path (search.reference) */
    bool row_filters; /* a price or rating filter: no precounted totals apply */
    bool by_price;    /* a price filter (the price column; a rating filter reads the row) */
    bool keys;        /* query_consider ranks (false: it only filters and counts) */
    bool counted;     /* total and facets are known already (query_counts): only rank */
    bool partial;     /* no document has every word: matches lack one (match_run) */
    bool keep;        /* a counting pass (!keys) notes what passed in scratch.kept */
    size_t nkept;
    struct qterm *terms;
    int nterms;
    /* the current match's posting in each term's list (terms of one
     * alternative; AT_NONE: the match lacks the word), found while
     * matching; NULL: scoring looks them up */
    const uint32_t *at;
    /* filters */
    bool by_cat, by_brand;
    uint32_t cat_lo, cat_hi, brand;
    int64_t min_price, max_price;
    /* cursor */
    bool has_cursor;
    int64_t c1, c2;
    /* results */
    int64_t total, after;
    int nheap, limit;
    uint32_t facet_depth;
    size_t ntb, ntc;
    int64_t prices[SEARCH_PRICE_BUCKETS];
    int64_t ratings[SEARCH_RATING_BUCKETS];
    int64_t stars[STAR_LEVELS]; /* column path: documents per star level */
};

/* ---- match.c ------------------------------------------------------------------------ */

/** Step 1, outside the lock: the folded, stemmed words of `text`. */
int match_words(struct search *s, const char *text, struct qword *w);

/** Step 2: each distinct non-stop word's alternatives into `qt` (at most
 *  SEARCH_QUERY_TERMS); the corrected query (in `a`) when a word was
 *  corrected. Returns how many terms. */
int match_terms(const struct index *ix, struct qword *w, int nwords, struct qterm *qt,
                struct arena *a, const char **corrected);

/** Step 3: calls query_consider for every document matching the terms of
 *  `q` (every word; else, for two words or more, all but one), in
 *  ascending slot order. */
void match_run(struct qctx *q);

/** The text score of a document: the sum over the query's words of the best
 *  alternative's BM25F times `boost` (only words present count). `single`
 *  is the posting when the query is one single-alternative word (no lookup
 *  needed). */
float match_score(struct qctx *q, uint32_t slot, const uint16_t flen[NFIELDS],
                  const struct posting *single, float boost);

/** The score of a document that passed the filters, as match_score, into
 *  `*score`, unless a bound of it from the postings at the cursors (each
 *  present word's idf × weight × (1 + title bonus), since saturated BM25F
 *  is below 1, times `boost`) is under `floor`: then false, and nothing is
 *  scored. Cursors only move forward. */
bool match_score_over(struct qctx *q, uint32_t slot, const struct posting *single,
                      const uint16_t flen[NFIELDS], float boost, float floor, float *score);

/* ---- oneword.c --------------------------------------------------------------------- */

/** The page of a one-word query ranked by relevance without filters (its
 *  total and facets counted already, query_counts): the word's blocks,
 *  best bound first (`bmax`: the word's block bounds). */
void rank_blocks(struct qctx *q, const struct term *t, const float *bmax);

/** The same with filters: every posting (or document of a small category
 *  subtree or brand) filtered and counted, then the blocks of what passed. */
void rank_filtered(struct qctx *q, const struct term *t, const float *bmax);

/* ---- cursor.c ----------------------------------------------------------------------- */

/** The cursor after a page whose last hit has the sort key (k1, k2). */
char *cursor_encode(struct arena *a, enum search_sort sort, int64_t k1, int64_t k2);

/** Decodes a cursor of `sort` into its key; false when malformed or from
 *  another sort. */
bool cursor_decode(const char *c, enum search_sort sort, int64_t *k1, int64_t *k2);

/* A rating filter by the column's star level where it decides — the
 * average is at least `stars`, and under stars + 1 when stars < 4 —, which
 * is always for whole stars below 5; else by the row. */
static inline bool query_rating_passes(const struct qctx *q, uint32_t slot, const struct dcol *c)
{
    int64_t r = q->p->min_rating_milli, s = c->stars;
    if (s >= 1 && r <= 1000 * s)
        return true;
    if (s < 4 && r >= 1000 * (s + 1))
        return false;
    const struct doc *d = &q->ix->docs[slot];
    return d->rating_count > 0 && (int64_t)d->rating_sum * 1000 >= r * d->rating_count;
}

/** The filters, from the column (index.h: struct dcol), the price column,
 *  and the row only for a rating filter the star level does not decide. */
static inline bool query_passes_col(const struct qctx *q, uint32_t slot, const struct dcol *c)
{
    if (q->by_cat) {
        uint32_t pre = q->ix->cats[c->cat].pre;
        if (pre < q->cat_lo || pre >= q->cat_hi)
            return false;
    }
    if (q->by_brand && c->brand != q->brand)
        return false;
    if (q->p->in_stock >= 0 && c->in_stock != (q->p->in_stock != 0))
        return false;
    if (q->by_price) {
        int64_t price = index_price(q->ix, slot);
        if (price < q->min_price || price > q->max_price)
            return false;
    }
    return q->p->min_rating_milli <= 0 || query_rating_passes(q, slot, c);
}

/* ---- browse.c ----------------------------------------------------------------------- */

/** Steps 3 and 4 without text: the page, the total and the facets of a
 *  listing, from the category orders and counts (see browse.c). */
void browse_listing(struct qctx *q);

/** The same, exhaustively: every document of the category subtree (or
 *  every live one) through query_consider. */
void browse_reference(struct qctx *q);

/** Whether a text query sorted other than by relevance may take its page
 *  from the category orders: every word one dense term. */
bool words_by_orders(const struct qctx *q);

/** After a pass that counted what passed (q->total) and kept it: the page
 *  from the category orders (with `words`, of documents having every word)
 *  when that is cheaper than ranking what was kept; false, the page left
 *  empty, when ranking is the cheaper way. */
bool kept_page_from_orders(struct qctx *q, bool words);

/** The page of a counting pass by ranking what passed the filters: the
 *  matches it kept, or, when it counted none (query_counts), the word's
 *  postings again. */
void rank_kept(struct qctx *q);

/* ---- query.c ------------------------------------------------------------------------ */

/** Whether the rating filter reads documents' rows: only for a minimum that
 *  is not a whole number of stars below 5 (else the column's star level
 *  decides, query.c: rating_passes). */
static inline bool query_rating_reads_rows(const struct qctx *q)
{
    int32_t r = q->p->min_rating_milli;
    return r > 0 && (r % 1000 != 0 || r == 5000);
}

/** For a one-word query without filters: takes the total (`n`, the
 *  posting count) and the facets from the word's counts (derived.c), so
 *  matching only ranks. False (and nothing done) when filters apply. */
bool query_counts(struct qctx *q, const struct tagg *g, uint32_t n);

/** Step 4 for one matching document: filters, total, facets, score (only
 *  when it passes), sort key, the top-k heap. query_count, then query_rank. */
void query_consider(struct qctx *q, uint32_t slot, const struct posting *single);

/** The first half of query_consider (not the reference path): filters,
 *  total and facets. False when the document is filtered out. */
bool query_count(struct qctx *q, uint32_t slot);

/** The second half of query_consider, for a document that passed
 *  query_count: score, sort key, the top-k heap. */
void query_rank(struct qctx *q, uint32_t slot, const struct posting *single);

#endif
