/* query.c — browse and search over the index (search.h: search_query).
 *
 * One query is four steps, all but the first under the index's read lock:
 *
 *  1. Words: tokenized and stemmed (match.c).
 *  2. Terms: each word's alternatives — itself, completions of an
 *     unfinished last word, or a typo correction (match.c).
 *  3. Candidates: with text, the documents matching every word (else all
 *     but one), found on posting lists alone (match.c); without text
 *     (browse.c), the page from the category orders and the counts from
 *     the categories', or the candidates of the filters.
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
    if (!query_passes_col(q, slot, c))
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
            browse_listing(&q);
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
