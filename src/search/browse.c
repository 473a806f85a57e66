/* browse.c — pages from the category orders (query.h: browse_listing and
 * what search_query shares with it). Steps 3 and 4 of a query without
 * text, and the paging of a text query sorted other than by relevance;
 * query.c has the overview and the per-document steps.
 *
 * Every category keeps its live documents in the order of each browse sort
 * (index.c: ord), so a page sorted by price, rating, date or popularity is
 * a merge of the subtree's orders, entered after the cursor by binary
 * search and left as soon as the page is full — no sort per request.
 *
 * The total and the facets:
 *  - unfiltered, or filtered by stock alone: the sums of the categories'
 *    counts (each category also counts its in-stock documents);
 *  - otherwise one pass over the cheapest source that holds every
 *    candidate — the brand's document list, each category's slice of its
 *    price order (a price range) or prefix of its rating order (a minimum
 *    rating), the subtree, or the whole catalog front to back — counting
 *    what passes; the page then comes from the orders when they yield it
 *    within a few steps, else from the orders or from ranking what the
 *    count kept, whichever is cheaper (a filter few documents pass would
 *    walk most of the catalog to fill a page).
 *
 * browse_reference is the exhaustive path the differential test holds
 * these to (tests/unit/test_search_diff.c).
 */
#include <stdlib.h>
#include <string.h>

#include "search/query.h"

/* Step 3 without text, the reference: every document of the category
 * subtree (or every live one) through query_consider. */
void browse_reference(struct qctx *q)
{
    const struct index *ix = q->ix;
    if (q->by_cat) {
        for (uint32_t pos = q->cat_lo; pos < q->cat_hi; pos++) {
            const struct cat *c = &ix->cats[ix->cat_at_pre[pos]];
            for (uint32_t i = 0; i < c->ndocs; i++)
                query_consider(q, c->docs[i], NULL);
        }
    } else {
        for (uint32_t slot = 0; slot < ix->nslots; slot++)
            if (ix->docs[slot].live)
                query_consider(q, slot, NULL);
    }
}

/* A cursor into one category's order, keyed by the document it is at. */
struct mcur {
    int64_t k1, k2;
    uint32_t cat, pos;
};

static bool mcur_less(const struct mcur *a, const struct mcur *b)
{
    return key_less(a->k1, a->k2, b->k1, b->k2);
}

static void mcur_down(struct mcur *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && mcur_less(&h[c + 1], &h[c]))
            c++;
        if (!mcur_less(&h[c], &h[i]))
            return;
        struct mcur t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* Sets `m` at its category's first document at or after position `pos`; false at the end. */
static bool mcur_at(const struct qctx *q, struct mcur *m, uint32_t pos)
{
    const struct cat *c = &q->ix->cats[m->cat];
    if (pos >= c->ndocs)
        return false;
    m->pos = pos;
    doc_sort_key((int)q->sort, &q->ix->docs[c->ord[q->sort - 1][pos]], &m->k1, &m->k2);
    return true;
}

/* Whether a document has every word of the query (their bitsets: see
 * search_query, which takes this path only when every word is dense). */
static inline bool has_words(const struct qctx *q, uint32_t slot)
{
    for (int i = 0; i < q->nterms; i++)
        if (!derived_has(q->terms[i].alt[0].bits, slot))
            return false;
    return true;
}

/* A page in the order of a sort other than relevance: a merge of the
 * category orders of pre-order positions [lo, hi) (each already sorted by
 * the sort's key), entered after the cursor by binary search and left as
 * soon as `limit` + 1 documents passed the filters (`filtered`: those the
 * category range does not express) and, with `words`, have every word of
 * the query. False, and the page left empty, when that took more than
 * `budget` documents. */
static bool page_from_orders(struct qctx *q, uint32_t lo, uint32_t hi, bool filtered, bool words,
                             uint64_t budget)
{
    const struct index *ix = q->ix;
    struct scratch *sc = q->sc;
    uint64_t steps = 0;
    scratch_reserve((void **)&sc->merge, &sc->mcap, hi - lo + 1, sizeof *sc->merge);
    struct mcur *h = sc->merge;
    uint32_t nh = 0;
    int o = q->sort - 1;
    for (uint32_t p = lo; p < hi; p++) {
        uint32_t ci = ix->cat_at_pre[p];
        const struct cat *c = &ix->cats[ci];
        if (!c->ndocs)
            continue;
        uint32_t start = 0;
        if (q->has_cursor) {
            /* first key after the cursor */
            uint32_t l = 0, r = c->ndocs;
            while (l < r) {
                uint32_t mid = l + (r - l) / 2;
                int64_t k1, k2;
                doc_sort_key((int)q->sort, &ix->docs[c->ord[o][mid]], &k1, &k2);
                if (key_less(q->c1, q->c2, k1, k2))
                    r = mid;
                else
                    l = mid + 1;
            }
            start = l;
        }
        h[nh].cat = ci;
        if (mcur_at(q, &h[nh], start))
            nh++;
    }
    for (uint32_t i = nh / 2; i-- > 0;)
        mcur_down(h, nh, i);
    struct hit *page = sc->heap;
    while (nh && q->after <= q->limit) {
        const struct cat *c = &ix->cats[h[0].cat];
        uint32_t slot = c->ord[o][h[0].pos];
        if (++steps > budget) {
            q->nheap = 0;
            q->after = 0;
            return false;
        }
        if ((!words || has_words(q, slot)) &&
            (!filtered || query_passes_col(q, slot, &ix->col[slot]))) {
            if (q->nheap < q->limit)
                page[q->nheap++] = (struct hit){h[0].k1, h[0].k2, slot, 0};
            q->after++;
        }
        if (!mcur_at(q, &h[0], h[0].pos + 1))
            h[0] = h[--nh];
        mcur_down(h, nh, 0);
    }
    return true;
}

/* The documents in the category orders of pre-order positions [lo, hi). */
static uint64_t docs_in(const struct index *ix, uint32_t lo, uint32_t hi)
{
    uint64_t n = 0;
    for (uint32_t pos = lo; pos < hi; pos++)
        n += ix->cats[ix->cat_at_pre[pos]].ndocs;
    return n;
}

static bool filtered(const struct qctx *q)
{
    return q->by_brand || q->row_filters || q->p->in_stock >= 0;
}

/* A listing's candidates may come from one order per category: the
 * documents of a price range are a slice of each category's price order,
 * those rated at least r a prefix of its rating order (a rating key sorts
 * by the average in millionths of a star, index.h: doc_sort_key). */
struct order_range {
    int order;      /* index of the category orders (sort − 1) */
    int64_t lo, hi; /* first keys (k1) in [lo, hi] */
};

static bool price_range(const struct qctx *q, struct order_range *r)
{
    *r = (struct order_range){SEARCH_SORT_PRICE_ASC - 1, q->min_price, q->max_price};
    return q->by_price;
}

static bool rating_range(const struct qctx *q, struct order_range *r)
{
    int64_t micro = (int64_t)q->p->min_rating_milli * 1000;
    *r = (struct order_range){SEARCH_SORT_RATING - 1, INT64_MIN, -(micro << 20)};
    return q->p->min_rating_milli > 0;
}

/* Each category's part of the orders that `r` names, for the categories of
 * pre-order positions [lo, hi), as [from, to) pairs into scratch.slices.
 * Returns how many documents they hold. */
static uint64_t order_slices(struct qctx *q, uint32_t lo, uint32_t hi, const struct order_range *r)
{
    const struct index *ix = q->ix;
    struct scratch *sc = q->sc;
    scratch_reserve((void **)&sc->slices, &sc->slicecap, 2 * (size_t)(hi - lo) + 2,
                    sizeof *sc->slices);
    uint64_t n = 0;
    for (uint32_t p = lo; p < hi; p++) {
        const struct cat *c = &ix->cats[ix->cat_at_pre[p]];
        const uint32_t *ord = c->ord[r->order];
        int sort = r->order + 1;
        uint32_t from = index_ord_lower(ix, ord, c->ndocs, sort, r->lo, INT64_MIN);
        uint32_t to = r->hi == INT64_MAX
                          ? c->ndocs
                          : index_ord_lower(ix, ord, c->ndocs, sort, r->hi + 1, INT64_MIN);
        if (to < from)
            to = from;
        sc->slices[2 * (p - lo)] = from;
        sc->slices[2 * (p - lo) + 1] = to;
        n += to - from;
    }
    return n;
}

/* A filtered listing's candidates through query_consider, from the
 * cheapest source that holds every document that can pass: the whole
 * catalog in slot order (the column read front to back, as memory streams
 * it best), every document of the category range, the brand's list, or the
 * slices of a price range or a minimum rating (order_slices). A candidate
 * read out of slot order costs about eight read in order (at a million
 * products, 50 ns against 6: a price range matching 290,000 took 15 ms
 * from its slices, 6 from the whole catalog; a quarter less once its
 * pass read the price column before the wide one). */
#define SCATTERED 8

/* Whether a price column value is outside the listing's price range
 * (PRICE_COL_BIG: not known from the column, so not outside). */
static inline bool price_outside(const struct qctx *q, uint32_t p)
{
    return p != PRICE_COL_BIG && ((int64_t)p < q->min_price || (int64_t)p > q->max_price);
}

static void browse_candidates(struct qctx *q, uint32_t lo, uint32_t hi, uint64_t in_range)
{
    static const struct brand_docs no_docs;
    const struct index *ix = q->ix;
    enum { WHOLE, RANGE, BRAND, SLICES } how = q->by_cat ? RANGE : WHOLE;
    uint64_t cost = q->by_cat ? SCATTERED * in_range : in_range;
    const struct brand_docs *b = NULL;
    if (q->by_brand) { /* an unknown brand (MAP_NONE) has no documents */
        b = q->brand < ix->nbdocs ? &ix->bdocs[q->brand] : &no_docs;
        if (SCATTERED * (uint64_t)b->n < cost)
            how = BRAND, cost = SCATTERED * (uint64_t)b->n;
    }
    struct order_range ranges[2], best = {0};
    bool have[2] = {price_range(q, &ranges[0]), rating_range(q, &ranges[1])};
    for (int k = 0; k < 2; k++)
        if (have[k] && cost > 0) {
            uint64_t n = order_slices(q, lo, hi, &ranges[k]);
            if (SCATTERED * n < cost)
                how = SLICES, cost = SCATTERED * n, best = ranges[k];
        }
    switch (how) {
    case WHOLE:
        /* A price range is decided from the 4-byte price column first: the
         * 32-byte column is read only for the documents inside it. */
        for (uint32_t slot = 0; slot < ix->nslots; slot++)
            if (!(q->by_price && price_outside(q, ix->price[slot])) && ix->col[slot].live)
                query_consider(q, slot, NULL);
        return;
    case BRAND:
        for (uint32_t i = 0; i < b->n; i++) {
            if (i + 16 < b->n)
                __builtin_prefetch(&ix->col[b->docs[i + 16]]);
            query_consider(q, b->docs[i], NULL);
        }
        return;
    case SLICES:
        order_slices(q, lo, hi, &best); /* the slices of the one chosen */
        for (uint32_t p = lo; p < hi; p++) {
            const uint32_t *ord = ix->cats[ix->cat_at_pre[p]].ord[best.order];
            uint32_t from = q->sc->slices[2 * (p - lo)], to = q->sc->slices[2 * (p - lo) + 1];
            for (uint32_t i = from; i < to; i++) {
                if (i + 16 < to)
                    __builtin_prefetch(&ix->col[ord[i + 16]]);
                query_consider(q, ord[i], NULL);
            }
        }
        return;
    case RANGE:
        for (uint32_t p = lo; p < hi; p++) {
            const struct cat *c = &ix->cats[ix->cat_at_pre[p]];
            for (uint32_t i = 0; i < c->ndocs; i++) {
                if (i + 16 < c->ndocs)
                    __builtin_prefetch(&ix->col[c->docs[i + 16]]);
                query_consider(q, c->docs[i], NULL);
            }
        }
        return;
    }
}

/* The page of a counting pass (search_query, browse) by ranking what
 * passed the filters: the matches it kept, or, when it counted none of
 * them (a word's counts: query_counts), the word's postings again. */
void rank_kept(struct qctx *q)
{
    q->keys = true;
    q->nheap = 0;
    q->after = 0;
    if (q->counted) {
        match_run(q);
        return;
    }
    const uint32_t *kept = q->sc->kept;
    bool price = q->sort == SEARCH_SORT_PRICE_ASC || q->sort == SEARCH_SORT_PRICE_DESC;
    for (size_t i = 0; i < q->nkept; i++) {
        if (i + 16 < q->nkept) {
            if (price)
                __builtin_prefetch(&q->ix->price[kept[i + 16]]);
            else
                __builtin_prefetch(&q->ix->docs[kept[i + 16]]);
            __builtin_prefetch(&q->ix->col[kept[i + 16]]);
        }
        query_rank(q, kept[i], NULL);
    }
}

/* After a pass that counted what passed the filters (q->total) and kept
 * it: the page from the category orders when that is cheaper than ranking
 * what was kept — the merge finds the page after some (limit + 1) ×
 * documents / total steps, a few dozen for a filter most documents pass,
 * but would walk most of the catalog for one that few pass. False (the
 * page left empty) when ranking is the cheaper way, or when no document has
 * every word (the matches kept are those with all words but one). With
 * `words`, a document of the orders must also have every word of the
 * query (words_by_orders). */
bool kept_page_from_orders(struct qctx *q, bool words)
{
    const struct index *ix = q->ix;
    if (q->partial)
        return false;
    if (q->total == 0)
        return true; /* nothing passed: an empty page */
    uint32_t lo = q->by_cat ? q->cat_lo : 0, hi = q->by_cat ? q->cat_hi : ix->ncats;
    uint64_t t = (uint64_t)q->total, steps = ((uint64_t)q->limit + 1) * docs_in(ix, lo, hi) / t;
    /* a step (a cursor of the merge, a row's sort key) costs about four
     * times what ranking one kept document does */
    if (steps * 4 > t)
        return false;
    return page_from_orders(q, lo, hi, filtered(q), words, 4 * steps + 64);
}

/* Adds category `c`'s counts to the total and the facets: of all its
 * documents (`stock` < 0), of its in-stock ones (1), or of the others (0:
 * what the in-stock counts leave of the whole). */
static void add_counts(struct qctx *q, const struct cat *c, int stock)
{
    struct scratch *sc = q->sc;
    q->total += stock < 0 ? c->ndocs : stock ? c->nstocked : c->ndocs - c->nstocked;
    if (!q->p->facets)
        return;
    const struct bcount *sb = c->sbrands;
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->nbrands; i++) {
        uint32_t b = c->brands[i].brand, n = c->brands[i].n, in_stock = 0;
        if (stock >= 0) { /* both lists ascend by brand */
            while (k < c->nsbrands && sb[k].brand < b)
                k++;
            in_stock = k < c->nsbrands && sb[k].brand == b ? sb[k].n : 0;
            n = stock ? in_stock : n - in_stock;
        }
        if (!n)
            continue;
        if (sc->brand_count[b] == 0)
            sc->touched_b[q->ntb++] = b;
        sc->brand_count[b] += n;
    }
    uint32_t docs = stock < 0 ? c->ndocs : stock ? c->nstocked : c->ndocs - c->nstocked;
    if (docs && c->nchain > q->facet_depth) {
        uint32_t fc = c->chain[q->facet_depth];
        if (sc->cat_count[fc] == 0)
            sc->touched_c[q->ntc++] = fc;
        sc->cat_count[fc] += docs;
    }
    for (int b = 0; b < PRICE_BUCKETS; b++)
        q->prices[b] += stock < 0 ? c->prices[b]
                        : stock   ? c->sprices[b]
                                  : c->prices[b] - c->sprices[b];
    for (int s = 0; s < STAR_LEVELS; s++)
        q->stars[s] += stock < 0 ? c->stars[s] : stock ? c->sstars[s] : c->stars[s] - c->sstars[s];
}

/* Step 3 and 4 without text. Unfiltered, or filtered by stock alone: the
 * page from the subtree's category orders (page_from_orders), the total
 * and the facets the sums of the categories' counts (of their in-stock
 * documents, or of the others) — unless so few documents pass the stock
 * filter that the orders would be walked far to fill the page. Otherwise
 * one pass over the candidates counts what passes (total, facets); the page
 * comes from the orders when they yield it within a few steps, else from
 * the orders or from ranking what the count kept, whichever is cheaper. */
void browse_listing(struct qctx *q)
{
    const struct index *ix = q->ix;
    uint32_t lo = q->by_cat ? q->cat_lo : 0, hi = q->by_cat ? q->cat_hi : ix->ncats;
    int stock = q->p->in_stock;
    bool counted = !q->by_brand && !q->row_filters;
    if (counted && stock >= 0) { /* filtered by stock alone */
        uint64_t docs = 0, pass = 0;
        for (uint32_t p = lo; p < hi; p++) {
            const struct cat *c = &ix->cats[ix->cat_at_pre[p]];
            docs += c->ndocs;
            pass += stock ? c->nstocked : c->ndocs - c->nstocked;
        }
        counted =
            pass == 0 || ((uint64_t)q->limit + 1) * docs / pass <= 64 * ((uint64_t)q->limit + 1);
    }
    if (!counted) {
        /* A filter most documents pass: the page from the orders within a
         * few steps, then a pass that only counts. Else the count keeps
         * what passed and the page comes the cheaper way. */
        bool paged = page_from_orders(q, lo, hi, true, false, 64 * ((uint64_t)q->limit + 1));
        q->keys = false;
        q->keep = !paged;
        browse_candidates(q, lo, hi, docs_in(ix, lo, hi));
        q->keep = false;
        q->keys = true;
        if (!paged && !kept_page_from_orders(q, false))
            rank_kept(q);
        return;
    }
    for (uint32_t p = lo; p < hi; p++)
        add_counts(q, &ix->cats[ix->cat_at_pre[p]], stock);
    if (q->total)
        page_from_orders(q, lo, hi, stock >= 0, false, UINT64_MAX);
}

/* Whether a text query sorted other than by relevance may take its page
 * from the category orders: every word one dense term (a bit per slot
 * tells whether a document has it). */
bool words_by_orders(const struct qctx *q)
{
    if (q->reference || q->score || q->nterms == 0)
        return false;
    for (int i = 0; i < q->nterms; i++)
        if (q->terms[i].nalt != 1 || !q->terms[i].alt[0].bits)
            return false;
    return true;
}
