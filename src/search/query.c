/* query.c — browse and search over the index (search.h: search_query).
 *
 * One query is four steps, all but the first under the index's read lock:
 *
 *  1. Words: tokenized and stemmed (match.c).
 *  2. Terms: each word's alternatives — itself, completions of an
 *     unfinished last word, or a typo correction (match.c).
 *  3. Candidates: with text, the documents matching every word (else all
 *     but one), found on posting lists alone (match.c); without text
 *     (browse), the documents of the category subtree, or all of them.
 *  4. One pass over the candidates (query_consider) applies the filters,
 *     counts the total and the facets (over every match, not just the page),
 *     asks for the text score of what passed, computes the sort key and
 *     keeps the best `limit` after the cursor in a heap.
 *
 * Sort keys are two int64 compared ascending — (−score, id) for relevance,
 * (price, id) for price_asc, (−created, −id) for newest … — and a cursor is
 * the last key of a page, so the next page is "keys after this one": stable
 * for a fixed catalog, whatever the page size, with no duplicates or skips.
 */
#include <stdlib.h>
#include <string.h>

#include "search/query.h"
#include "util/arena.h"

#define price_edges index_price_edges
_Static_assert(PRICE_BUCKETS == SEARCH_PRICE_BUCKETS, "one set of price buckets");
_Static_assert(SEARCH_SORT_POPULARITY == 1 && SEARCH_SORT_NEWEST == NORDERS,
               "index orders are numbered like the sorts");

/* ---- sort keys ---------------------------------------------------------------- */

static inline void sort_key_relevance(float score, int64_t *k1)
{
    /* A non-negative float's bits order like the float: exact and cheap. */
    uint32_t bits;
    memcpy(&bits, &score, sizeof bits);
    *k1 = -(int64_t)bits;
}

static inline void sort_key(const struct qctx *q, const struct doc *d, float score, int64_t *k1,
                            int64_t *k2)
{
    if (q->sort == SEARCH_SORT_RELEVANCE) {
        sort_key_relevance(score, k1);
        *k2 = d->id;
        return;
    }
    doc_sort_key((int)q->sort, d, k1, k2);
}

/* ---- the top-k heap: the worst kept hit at the root ------------------------------------ */

static void heap_offer(struct qctx *q, int64_t k1, int64_t k2, uint32_t slot, float score)
{
    struct hit *h = q->sc->heap;
    int n = q->nheap;
    if (n == q->limit) {
        if (!key_less(k1, k2, h[0].k1, h[0].k2))
            return;
        /* Replace the root and sift down. */
        int i = 0;
        for (;;) {
            int c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && key_less(h[c].k1, h[c].k2, h[c + 1].k1, h[c + 1].k2))
                c++;
            if (!key_less(k1, k2, h[c].k1, h[c].k2))
                break;
            h[i] = h[c];
            i = c;
        }
        h[i] = (struct hit){k1, k2, slot, score};
        return;
    }
    int i = q->nheap++;
    while (i > 0 && key_less(h[(i - 1) / 2].k1, h[(i - 1) / 2].k2, k1, k2)) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = (struct hit){k1, k2, slot, score};
}

static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (key_less(x->k1, x->k2, y->k1, y->k2))
        return -1;
    return key_less(y->k1, y->k2, x->k1, x->k2) ? 1 : 0;
}

/* ---- filters, facets, ranking: one candidate ----------------------------------------------- */

/* The reference filters and facets read the document row; the fast ones
 * read the column (index.h: struct dcol) and the row only for price and
 * rating filters. They must agree (tests/unit/test_search_diff.c). */
static inline bool passes(const struct qctx *q, const struct doc *d)
{
    const struct search_params *p = q->p;
    if (q->by_cat) {
        uint32_t pre = q->ix->cats[d->cat].pre;
        if (pre < q->cat_lo || pre >= q->cat_hi)
            return false;
    }
    if (q->by_brand && d->brand != q->brand)
        return false;
    if (d->price < q->min_price || d->price > q->max_price)
        return false;
    if (p->min_rating_milli > 0 &&
        (d->rating_count == 0 ||
         (int64_t)d->rating_sum * 1000 < (int64_t)p->min_rating_milli * d->rating_count))
        return false;
    if (p->in_stock >= 0 && d->in_stock != (p->in_stock != 0))
        return false;
    return true;
}

/* A rating filter by the column's star level where it decides — the
 * average is at least `stars`, and under stars + 1 when stars < 4 —, which
 * is always for whole stars below 5; else by the row. */
static inline bool rating_passes(const struct qctx *q, uint32_t slot, const struct dcol *c)
{
    int64_t r = q->p->min_rating_milli, s = c->stars;
    if (s >= 1 && r <= 1000 * s)
        return true;
    if (s < 4 && r >= 1000 * (s + 1))
        return false;
    const struct doc *d = &q->ix->docs[slot];
    return d->rating_count > 0 && (int64_t)d->rating_sum * 1000 >= r * d->rating_count;
}

static inline bool passes_col(const struct qctx *q, uint32_t slot, const struct dcol *c)
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
    return q->p->min_rating_milli <= 0 || rating_passes(q, slot, c);
}

static inline void count_facets(struct qctx *q, const struct doc *d)
{
    struct scratch *sc = q->sc;
    if (sc->brand_count[d->brand]++ == 0)
        sc->touched_b[q->ntb++] = d->brand;
    const struct cat *c = &q->ix->cats[d->cat];
    if (c->nchain > q->facet_depth) {
        uint32_t fc = c->chain[q->facet_depth];
        if (sc->cat_count[fc]++ == 0)
            sc->touched_c[q->ntc++] = fc;
    }
    int b = SEARCH_PRICE_BUCKETS - 1;
    while (b > 0 && d->price < price_edges[b])
        b--;
    q->prices[b]++;
    if (d->rating_count > 0)
        for (int k = 0; k < SEARCH_RATING_BUCKETS; k++)
            if ((int64_t)d->rating_sum >= (int64_t)(SEARCH_RATING_BUCKETS - k) * d->rating_count)
                q->ratings[k]++;
}

static inline void count_facets_col(struct qctx *q, const struct dcol *d)
{
    struct scratch *sc = q->sc;
    if (sc->brand_count[d->brand]++ == 0)
        sc->touched_b[q->ntb++] = d->brand;
    const struct cat *c = &q->ix->cats[d->cat];
    if (c->nchain > q->facet_depth) {
        uint32_t fc = c->chain[q->facet_depth];
        if (sc->cat_count[fc]++ == 0)
            sc->touched_c[q->ntc++] = fc;
    }
    q->prices[d->pbucket]++;
    /* ratings[k] counts averages of at least 4 - k stars */
    q->stars[d->stars]++;
}

bool query_counts(struct qctx *q, const struct tagg *g, uint32_t n)
{
    if (q->reference || q->by_cat || q->by_brand || q->row_filters || q->p->in_stock >= 0)
        return false;
    q->counted = true;
    q->total = n;
    if (!q->p->facets)
        return true;
    struct scratch *sc = q->sc;
    for (uint32_t i = 0; i < g->nbrands; i++)
        if (g->brands[i].n) {
            sc->brand_count[g->brands[i].brand] = g->brands[i].n;
            sc->touched_b[q->ntb++] = g->brands[i].brand;
        }
    for (uint32_t i = 0; i < g->nroots; i++) /* facet_depth is 0 without a category filter */
        if (g->roots[i].n) {
            sc->cat_count[g->roots[i].brand] = g->roots[i].n;
            sc->touched_c[q->ntc++] = g->roots[i].brand;
        }
    for (int b = 0; b < PRICE_BUCKETS; b++)
        q->prices[b] = g->prices[b];
    for (int k = 0; k < STAR_LEVELS; k++)
        q->stars[k] = g->stars[k];
    return true;
}

void query_consider(struct qctx *q, uint32_t slot, const struct posting *single)
{
    if (q->reference) {
        const struct doc *d = &q->ix->docs[slot];
        if (!passes(q, d))
            return;
        q->total++;
        if (q->p->facets)
            count_facets(q, d);
        int64_t k1 = 0, k2 = 0;
        float score = q->score ? match_score(q, slot, d->flen, single, d->boost) : 0;
        sort_key(q, d, score, &k1, &k2);
        if (q->has_cursor && !key_less(q->c1, q->c2, k1, k2))
            return;
        q->after++;
        heap_offer(q, k1, k2, slot, score);
        return;
    }
    if (!query_count(q, slot))
        return;
    if (!q->keys) { /* the page comes from the category orders (browse, search) */
        if (q->keep) {
            struct scratch *sc = q->sc;
            if (q->nkept == sc->keptcap)
                scratch_reserve((void **)&sc->kept, &sc->keptcap, q->nkept + 1, sizeof *sc->kept);
            sc->kept[q->nkept++] = slot;
        }
        return;
    }
    query_rank(q, slot, single);
}

bool query_count(struct qctx *q, uint32_t slot)
{
    if (q->counted)
        return true;
    const struct dcol *c = &q->ix->col[slot];
    if (!passes_col(q, slot, c))
        return false;
    q->total++;
    if (q->p->facets)
        count_facets_col(q, c);
    return true;
}

void query_rank(struct qctx *q, uint32_t slot, const struct posting *single)
{
    const struct dcol *c = &q->ix->col[slot];
    float score = 0;
    if (q->score) {
        /* The root of a full heap is after the cursor: a document scoring
         * below it is after the cursor and out of the page — counted
         * without reading its row (nor, under the bound, scoring it). */
        float floor = q->nheap == q->limit ? q->sc->heap[0].score * (1.0f - 1e-5f) : 0.0f;
        if (!match_score_over(q, slot, single, c->flen, c->boost, floor, &score)) {
            q->after++;
            return;
        }
        int64_t k1;
        sort_key_relevance(score, &k1);
        if (q->has_cursor && !key_less(q->c1, q->c2, k1, c->id))
            return;
        q->after++;
        heap_offer(q, k1, c->id, slot, score);
        return;
    }
    int64_t k1 = 0, k2 = 0;
    if (q->sort == SEARCH_SORT_PRICE_ASC || q->sort == SEARCH_SORT_PRICE_DESC) {
        /* doc_sort_key's keys, from the columns */
        int64_t price = index_price(q->ix, slot);
        k1 = q->sort == SEARCH_SORT_PRICE_ASC ? price : -price;
        k2 = c->id;
    } else {
        sort_key(q, &q->ix->docs[slot], score, &k1, &k2);
    }
    if (q->has_cursor && !key_less(q->c1, q->c2, k1, k2))
        return;
    q->after++;
    heap_offer(q, k1, k2, slot, score);
}

/* ---- results -------------------------------------------------------------------------------- */

static int vc_cmp(const void *a, const void *b)
{
    const struct search_value_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return strcmp(x->value, y->value);
}

static void facets_out(struct qctx *q, struct arena *a, struct search_result *out)
{
    struct scratch *sc = q->sc;
    const struct index *ix = q->ix;
    out->has_facets = true;
    struct search_value_count *v = arena_alloc(a, (q->ntb + 1) * sizeof *v);
    for (size_t i = 0; i < q->ntb; i++) {
        uint32_t b = sc->touched_b[i];
        v[i] = (struct search_value_count){.value = ix->brand_name[b], .count = sc->brand_count[b]};
        sc->brand_count[b] = 0;
    }
    qsort(v, q->ntb, sizeof *v, vc_cmp);
    out->nbrands = q->ntb < SEARCH_FACET_BRANDS ? (int)q->ntb : SEARCH_FACET_BRANDS;
    for (int i = 0; i < out->nbrands; i++)
        v[i].value = arena_strdup(a, v[i].value);
    out->brands = v;

    v = arena_alloc(a, (q->ntc + 1) * sizeof *v);
    for (size_t i = 0; i < q->ntc; i++) {
        uint32_t c = sc->touched_c[i];
        v[i] = (struct search_value_count){
            .value = ix->cats[c].name, .id = ix->cats[c].id, .count = sc->cat_count[c]};
        sc->cat_count[c] = 0;
    }
    qsort(v, q->ntc, sizeof *v, vc_cmp);
    out->ncategories = q->ntc < SEARCH_FACET_CATEGORIES ? (int)q->ntc : SEARCH_FACET_CATEGORIES;
    for (int i = 0; i < out->ncategories; i++)
        v[i].value = arena_strdup(a, v[i].value);
    out->categories = v;

    for (int b = 0; b < SEARCH_PRICE_BUCKETS; b++)
        if (q->prices[b])
            out->prices[out->nprices++] = (struct search_price_bucket){
                .from_cents = price_edges[b],
                .to_cents = b + 1 < SEARCH_PRICE_BUCKETS ? price_edges[b + 1] : -1,
                .count = q->prices[b]};
    for (int k = 0; k < SEARCH_RATING_BUCKETS; k++) {
        out->rating_min[k] = SEARCH_RATING_BUCKETS - k;
        out->rating_count[k] = q->ratings[k];
    }
}

static void items_out(struct qctx *q, struct arena *a, struct search_result *out)
{
    struct hit *h = q->sc->heap;
    qsort(h, (size_t)q->nheap, sizeof *h, hit_cmp);
    out->items = arena_alloc(a, ((size_t)q->nheap + 1) * sizeof *out->items);
    out->nitems = q->nheap;
    for (int i = 0; i < q->nheap; i++) {
        const struct doc *d = &q->ix->docs[h[i].slot];
        const struct doc_text *t = &q->ix->text[h[i].slot];
        const struct cat *c = &q->ix->cats[d->cat];
        out->items[i] = (struct search_item){
            .id = d->id,
            .title = arena_strdup(a, doc_title(t)),
            .brand = arena_strdup(a, doc_brand(t)),
            .currency = arena_strdup(a, doc_currency(t)),
            .image = doc_image(t) ? arena_strdup(a, doc_image(t)) : NULL,
            .category_id = c->id,
            .category_name = arena_strdup(a, c->name),
            .price_cents = d->price,
            .max_price_cents = t->max_price,
            .rating_sum = d->rating_sum,
            .rating_count = d->rating_count,
            .in_stock = d->in_stock,
            .created_at = d->created_at,
        };
    }
    if (q->after > q->limit && q->nheap > 0)
        out->next_cursor = cursor_encode(a, q->sort, h[q->nheap - 1].k1, h[q->nheap - 1].k2);
}

/* ---- the query ---------------------------------------------------------------------------- */

/* Step 3 without text, the reference: every document of the category
 * subtree (or every live one) through query_consider. */
static void browse_reference(struct qctx *q)
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
        if ((!words || has_words(q, slot)) && (!filtered || passes_col(q, slot, &ix->col[slot]))) {
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
 * from its slices, 6 from the whole catalog). */
#define SCATTERED 8

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
        for (uint32_t slot = 0; slot < ix->nslots; slot++)
            if (ix->col[slot].live)
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
static void rank_kept(struct qctx *q)
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
static bool kept_page_from_orders(struct qctx *q, bool words)
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
static void browse(struct qctx *q)
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
static bool words_by_orders(const struct qctx *q)
{
    if (q->reference || q->score || q->nterms == 0)
        return false;
    for (int i = 0; i < q->nterms; i++)
        if (q->terms[i].nalt != 1 || !q->terms[i].alt[0].bits)
            return false;
    return true;
}

enum shop_err search_query(struct search *s, const struct search_params *p, struct arena *a,
                           struct search_result *out, struct problem *pb)
{
    memset(out, 0, sizeof *out);
    struct qctx q = {.p = p,
                     .sort = p->sort,
                     .min_price = INT64_MIN,
                     .max_price = INT64_MAX,
                     .reference = s->reference,
                     .keys = true};
    q.limit = p->limit < 1 ? 1 : p->limit > SEARCH_LIMIT_MAX ? SEARCH_LIMIT_MAX : p->limit;
    if (p->min_price >= 0)
        q.min_price = p->min_price;
    if (p->max_price >= 0)
        q.max_price = p->max_price;
    q.by_price = p->min_price >= 0 || p->max_price >= 0;
    q.row_filters = q.by_price || p->min_rating_milli > 0;
    bool text = p->q && *p->q;
    if (!text && q.sort == SEARCH_SORT_RELEVANCE)
        q.sort = SEARCH_SORT_POPULARITY;
    q.score = text && q.sort == SEARCH_SORT_RELEVANCE;
    if (p->cursor && *p->cursor) {
        if (!cursor_decode(p->cursor, q.sort, &q.c1, &q.c2))
            return problem_field(pb, SHOP_INVALID, "cursor",
                                 "is not a next_cursor of this listing and sort");
        q.has_cursor = true;
    }
    struct qword words[QWORDS];
    int nwords = text ? match_words(s, p->q, words) : 0;
    if (text && nwords == 0)
        nwords = -1; /* text without a word: matches nothing */
    char brand[4 * SEARCH_BRAND_MAX + 8];
    size_t blen = p->brand ? text_fold(p->brand, strlen(p->brand), brand, sizeof brand) : 0;

    struct scratch *sc = scratch_get(s);
    q.sc = sc;
    pthread_rwlock_rdlock(&s->lock);
    const struct index *ix = s->ix;
    q.ix = ix;
    out->version = atomic_load(&s->version);
    if (p->category_id) {
        uint32_t c = index_cat(ix, p->category_id);
        if (c == MAP_NONE) {
            pthread_rwlock_unlock(&s->lock);
            scratch_put(s, sc);
            return problem_field(pb, SHOP_INVALID, "category", "there is no category %lld",
                                 (long long)p->category_id);
        }
        q.by_cat = true;
        q.cat_lo = ix->cats[c].pre;
        q.cat_hi = ix->cats[c].post;
        q.facet_depth = ix->cats[c].depth + 1;
    }
    if (p->brand) {
        q.by_brand = true;
        q.brand = intern_find(&ix->brand_ix, brand, blen); /* MAP_NONE matches nothing */
    }
    scratch_reserve((void **)&sc->heap, &sc->hcap, (size_t)q.limit + 1, sizeof *sc->heap);
    if (p->facets) {
        scratch_reserve((void **)&sc->brand_count, &sc->bccap, ix->brand_ix.n + 1,
                        sizeof(uint32_t));
        scratch_reserve((void **)&sc->touched_b, &sc->tbcap, ix->brand_ix.n + 1, sizeof(uint32_t));
        scratch_reserve((void **)&sc->cat_count, &sc->cccap, ix->ncats + 1, sizeof(uint32_t));
        scratch_reserve((void **)&sc->touched_c, &sc->tccap, ix->ncats + 1, sizeof(uint32_t));
    }
    struct qterm terms[SEARCH_QUERY_TERMS];
    if (nwords > 0) {
        q.terms = terms;
        q.nterms = match_terms(ix, words, nwords, terms, a, &out->corrected_query);
        if (words_by_orders(&q)) {
            q.keys = false; /* count, keep what passed */
            q.keep = true;
            match_run(&q);
            q.keys = true;
            if (!kept_page_from_orders(&q, true))
                rank_kept(&q);
        } else {
            match_run(&q);
        }
    } else if (nwords == 0) {
        if (q.reference)
            browse_reference(&q);
        else
            browse(&q);
    }
    if (!q.reference)
        for (int k = 0; k < SEARCH_RATING_BUCKETS; k++)
            for (int st = SEARCH_RATING_BUCKETS - k; st < STAR_LEVELS; st++)
                q.ratings[k] += q.stars[st];
    out->total = q.total;
    if (p->facets)
        facets_out(&q, a, out);
    items_out(&q, a, out);
    pthread_rwlock_unlock(&s->lock);
    scratch_put(s, sc);
    atomic_fetch_add_explicit(&s->nqueries, 1, memory_order_relaxed);
    return SHOP_OK;
}
