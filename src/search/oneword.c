/* oneword.c — the page of a one-word query ranked by relevance, from its
 * word's block bounds (derived.c: bmax), for match.c (query.h). Match.c's
 * opening essay has the rule; this file holds the walk:
 *
 *   rank_blocks    without filters (the total and the facets come from the
 *                  word's counts): the word's blocks, best bound first,
 *                  until one cannot enter the page;
 *   rank_filtered  with filters: every posting filtered and counted — or,
 *                  for a dense word and a small category subtree or brand,
 *                  every document of it tested by the word's bit — then the
 *                  blocks of what passed, best bound first.
 *
 * A tie at the page's worst score visits only the blocks holding a lower
 * id (index.bminid): the bounds are exact, the score's own arithmetic.
 */
#include <string.h>

#include "search/bm25.h"
#include "search/query.h"

/* An upper bound of a one-word query's score for the posting `p` from the
 * document's packed bounds (index.h: derived_sb) instead of its column. */
static inline float sb_bound(const struct qctx *q, const struct qalt *x, const struct posting *p,
                             uint32_t sb)
{
    return x->w * x->idf * bm25_sb_core(q->ix, p->tf, sb) * 1.0001f;
}

/* The first posting of `t` at or after `slot`: postings spread over the
 * slots about evenly, so the search starts where the slot's share of the
 * list points and gallops from there (a handful of steps, where a search
 * from the front takes two dozen cache misses). */
static uint32_t posting_near(const struct term *t, uint32_t slot, uint32_t nslots)
{
    uint32_t n = t->n;
    if (n == 0)
        return 0;
    uint32_t g = nslots ? (uint32_t)((uint64_t)n * slot / nslots) : 0;
    if (g >= n)
        g = n - 1;
    if (t->p[g].slot < slot)
        return lex_posting_seek(t, g, slot);
    for (uint32_t step = 1, hi = g; hi > 0; step *= 2) {
        uint32_t lo = hi > step ? hi - step : 0;
        if (t->p[lo].slot < slot)
            return lex_posting_seek(t, lo, slot);
        hi = lo;
    }
    return 0;
}

/* A unit of the best-first walk over a frequent word's blocks (derived.c:
 * bmax): a block of slots, with the bound w × (idf × bmax) of every score
 * in it, and for a filtered query the range [lo, hi) of its postings that
 * passed the filters (in scratch.match). A posting's score is
 * w × (idf × core), its core at most its block's bmax: the bound is
 * computed like the core, so w × (idf × bmax) is at least the score
 * exactly, both products only rounding. */
struct brun {
    float ub;
    uint32_t block, lo, hi;
};

/* Unit `a` comes before `b`: a higher bound, or the same and a lower
 * block (the order is the same on every run). */
static inline bool run_before(const struct brun *r, uint32_t a, uint32_t b)
{
    return r[a].ub > r[b].ub || (r[a].ub == r[b].ub && a < b);
}

static void run_down(const struct brun *r, uint32_t *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && run_before(r, h[c + 1], h[c]))
            c++;
        if (!run_before(r, h[c], h[i]))
            return;
        uint32_t t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* A posting of a one-word query's page. Once the page is full, one whose
 * bound from its document's packed bounds (4 bytes, where its column is
 * 32) is under the page's worst is after it, and after the cursor: only
 * counted. Only what may enter reads its column and is scored. */
static inline void rank_posting(struct qctx *q, const struct posting *p)
{
    const struct qalt *x = &q->terms[0].alt[0];
    if (q->nheap == q->limit &&
        sb_bound(q, x, p, q->ix->sb[p->slot]) < q->sc->heap[0].score * (1.0f - 1e-5f)) {
        q->after++; /* below the page's worst, which is after the cursor */
        return;
    }
    query_rank(q, p->slot, p);
}

/* A unit's postings: every one in its block (unfiltered), or those that
 * passed the filters. Returns how many. */
static uint32_t rank_unit(struct qctx *q, const struct term *t, const struct brun *u, bool filtered)
{
    if (filtered) {
        const uint32_t *kept = q->sc->match;
        for (uint32_t j = u->lo; j < u->hi; j++)
            rank_posting(q, &t->p[kept[j]]);
        return u->hi - u->lo;
    }
    uint32_t lo = posting_near(t, u->block << BM_SHIFT, q->ix->nslots);
    uint32_t hi = lex_posting_seek(t, lo, (u->block + 1) << BM_SHIFT);
    for (uint32_t i = lo; i < hi; i++)
        rank_posting(q, &t->p[i]);
    return hi - lo;
}

/* Visits the units best bound first while the page is not full or the
 * best remaining bound is above the page's worst score. A bound under it
 * ends the walk. A bound equal to it is a tie at the top, which lower ids
 * win: of the units left (none above the worst), only those with an id
 * under the worst's in their block (index.bminid) and a bound equal to it
 * can enter, and one pass over them visits those. Returns how many
 * postings were looked at; the others score below the page's worst (or
 * tie it with a higher id). */
static uint32_t walk_units(struct qctx *q, const struct term *t, const struct brun *r, uint32_t n,
                           bool filtered)
{
    scratch_reserve((void **)&q->sc->blocks, &q->sc->blockcap, n + 1, sizeof *q->sc->blocks);
    uint32_t *h = q->sc->blocks, nh = n, seen = 0;
    for (uint32_t i = 0; i < n; i++)
        h[i] = i;
    for (uint32_t i = nh / 2; i-- > 0;)
        run_down(r, h, nh, i);
    const struct hit *worst = &q->sc->heap[0];
    bool ties = false;
    while (nh) {
        if (q->nheap == q->limit) {
            if (r[h[0]].ub < worst->score)
                break;
            if (r[h[0]].ub == worst->score) {
                ties = true;
                break;
            }
        }
        uint32_t i = h[0];
        h[0] = h[--nh];
        run_down(r, h, nh, 0);
        seen += rank_unit(q, t, &r[i], filtered);
    }
    if (ties) /* worst->score stays while ties replace it: only its id falls */
        for (uint32_t i = 0; i < nh; i++)
            if (r[h[i]].ub == worst->score && q->ix->bminid[r[h[i]].block] < worst->k2)
                seen += rank_unit(q, t, &r[h[i]], filtered);
    return seen;
}

/* The page of a one-word query without filters (its total and facets
 * counted already): the word's blocks, walked best first. */
void rank_blocks(struct qctx *q, const struct term *t, const float *bmax)
{
    const struct qalt *x = &q->terms[0].alt[0];
    struct scratch *sc = q->sc;
    uint32_t nb = bm_nblocks(q->ix->nslots), n = 0;
    scratch_reserve((void **)&sc->runs, &sc->runcap, nb + 1, sizeof *sc->runs);
    for (uint32_t b = 0; b < nb; b++)
        if (bmax[b] > 0)
            sc->runs[n++] = (struct brun){x->w * (x->idf * bmax[b]), b, 0, 0};
    q->after += t->n - walk_units(q, t, sc->runs, n, false);
}

/* For a dense word with a category or brand filter: the documents of the
 * smaller of the category subtree and the brand that have the word's bit,
 * filtered and counted, their positions in the word's postings (by rank)
 * into scratch.match, grouped by block of slots (a brand and each of the
 * subtree's categories list theirs in slot order, and a counting sort by
 * block puts a subtree's together: the walk needs no more order than
 * that). Returns how many, or -1 when walking the word's postings (and
 * testing the filters) is the cheaper way — most of the word's postings
 * are in the subset — which was measured at about five times the cost per
 * candidate of the bit test per document of the subset, and twice the
 * cost per posting. Nothing is counted then. */
static int64_t subset_candidates(struct qctx *q, const struct qalt *x)
{
    static const struct brand_docs no_docs;
    const struct index *ix = q->ix;
    struct scratch *sc = q->sc;
    uint32_t *m = sc->match, k = 0;
    uint64_t docs = UINT64_MAX;
    const struct brand_docs *brand = NULL;
    if (q->by_brand) { /* an unknown brand (MAP_NONE) has no documents */
        brand = q->brand < ix->nbdocs ? &ix->bdocs[q->brand] : &no_docs;
        docs = brand->n;
    }
    if (q->by_cat) {
        uint64_t in_cat = 0;
        for (uint32_t pos = q->cat_lo; pos < q->cat_hi && in_cat < docs && in_cat < x->t->n; pos++)
            in_cat += ix->cats[ix->cat_at_pre[pos]].ndocs;
        if (in_cat < docs) {
            docs = in_cat;
            brand = NULL;
        }
    }
    if (docs >= x->t->n)
        return -1;
    if (brand) {
        for (uint32_t i = 0; i < brand->n; i++)
            if (derived_has(x->bits, brand->docs[i]))
                m[k++] = brand->docs[i];
    } else {
        for (uint32_t pos = q->cat_lo; pos < q->cat_hi; pos++) {
            const struct cat *c = &ix->cats[ix->cat_at_pre[pos]];
            for (uint32_t i = 0; i < c->ndocs; i++)
                if (derived_has(x->bits, c->docs[i]))
                    m[k++] = c->docs[i];
        }
    }
    if (docs + 5 * (uint64_t)k >= 2 * (uint64_t)x->t->n)
        return -1;
    uint32_t kept = 0;
    for (uint32_t j = 0; j < k; j++)
        if (query_count(q, m[j]))
            m[kept++] = derived_rank(x->bits, x->rank, m[j]);
    if (brand || q->cat_hi - q->cat_lo == 1)
        return kept; /* one list: in slot order already */
    /* A counting sort by block (a posting's position orders like its slot). */
    const struct posting *p = x->t->p;
    uint32_t nb = bm_nblocks(ix->nslots);
    scratch_reserve((void **)&sc->blocks, &sc->blockcap, nb + 1, sizeof *sc->blocks);
    scratch_reserve((void **)&sc->sorted, &sc->sortcap, kept + 1, sizeof *sc->sorted);
    uint32_t *at = sc->blocks;
    memset(at, 0, (nb + 1) * sizeof *at);
    for (uint32_t j = 0; j < kept; j++)
        at[(p[m[j]].slot >> BM_SHIFT) + 1]++;
    for (uint32_t b = 0; b < nb; b++)
        at[b + 1] += at[b];
    for (uint32_t j = 0; j < kept; j++)
        sc->sorted[at[p[m[j]].slot >> BM_SHIFT]++] = m[j];
    memcpy(m, sc->sorted, kept * sizeof *m);
    return kept;
}

/* A one-word query with filters: every posting filtered and counted
 * (total, facets), those that pass kept — or, for a dense word and a small
 * category subtree or brand, every document of it with the word's bit —;
 * then the page from their runs by block, walked best first. */
void rank_filtered(struct qctx *q, const struct term *t, const float *bmax)
{
    const struct qalt *x = &q->terms[0].alt[0];
    const struct posting *p = t->p;
    const struct dcol *col = q->ix->col;
    struct scratch *sc = q->sc;
    scratch_reserve((void **)&sc->match, &sc->matchcap, t->n + 1, sizeof *sc->match);
    uint32_t k = 0, n = 0;
    int64_t from_subset = x->rank && (q->by_cat || q->by_brand) ? subset_candidates(q, x) : -1;
    if (from_subset >= 0) {
        k = (uint32_t)from_subset;
    } else {
        for (uint32_t i = 0; i < t->n; i++) {
            if (i + 16 < t->n)
                __builtin_prefetch(&col[p[i + 16].slot]);
            if (query_count(q, p[i].slot))
                sc->match[k++] = i;
        }
    }
    for (uint32_t j = 0; j < k; j++) {
        uint32_t b = p[sc->match[j]].slot >> BM_SHIFT;
        if (n && sc->runs[n - 1].block == b) {
            sc->runs[n - 1].hi++;
            continue;
        }
        scratch_reserve((void **)&sc->runs, &sc->runcap, n + 1, sizeof *sc->runs);
        sc->runs[n++] = (struct brun){x->w * (x->idf * bmax[b]), b, j, j + 1};
    }
    q->after += k - walk_units(q, t, sc->runs, n, true);
}
