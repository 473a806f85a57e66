/* derived.c — structures derived from the postings and the documents, kept
 * so that a query's cost follows the size of its answer (index.h: struct
 * tderiv). Four, per term:
 *
 *   bits   a dense term (in at least 1/32 of the slots, 8,192 documents or
 *          more) also has a bitset over the slots: intersecting a rare word
 *          with a dense one tests a bit per candidate instead of galloping
 *          through the dense word's postings, and two dense words AND their
 *          bitsets 64 slots at a time; beside the bitset, the count of
 *          its postings before each 64-bit word (4 bytes per 64 slots)
 *          gives a slot's posting by rank, so scoring a match reads its
 *          frequencies without galloping through the list. 1 bit per slot per dense term (the
 *          seed has about a hundred). Freed
 *          when the term falls under 1/64 of the slots (hysteresis).
 *   tord   the slots whose title has the term, in suggestion order (best
 *          sellers, then most rated, then lowest id): suggest merges the
 *          lists of the completions of the unfinished word and stops after
 *          the first k titles instead of walking every posting. 4 bytes per
 *          title posting, about 19 bytes per product: only terms in 16
 *          titles or more have one (dropped under 8) — a rarer word's
 *          postings are a short walk, and model numbers, one per title,
 *          would cost 4 bytes a product for nothing. A change of sales or
 *          ratings moves the document in the lists of its title terms
 *          (binary search and memmove, like the category orders).
 *   agg    a frequent term (2,048 documents or more; freed under 1,024) keeps
 *          the facet counts of its documents — brands, root categories,
 *          price buckets, star levels — so a one-word query without filters
 *          gets its total (the posting count) and its facets without
 *          counting its matches. About 1 KB per frequent term.
 *   bmax   a frequent term also keeps, for each block of BM_SLOTS (512)
 *          slots, the largest (saturated BM25F + title bonus) × boost of
 *          its postings there: a one-word page visits the blocks best first
 *          and stops at the first that cannot enter it (match.c:
 *          rank_blocks) instead of bounding every posting. The top scores
 *          of a frequent word are often exactly equal (same title length,
 *          same boost) and the lowest ids win the tie, so the bound is
 *          exact — computed like the score, from the column, at the
 *          averages scores use (index.score_ia) — and each block also
 *          knows the lowest id placed in it (index.bminid). 4 bytes per
 *          block, 8 KB per frequent term at a million products. A bound
 *          only rises (a posting added, a document's boost changed); a
 *          removed posting leaves it high, which is only looser; likewise
 *          the lowest id. When an average field length moves by more than
 *          BM_DRIFT (1 %), scores take the new averages and every bound
 *          is rebuilt (derived_bounds_check, 216 ms at a million products).
 *
 * Beside them, by slot, 4 packed bytes bound a document's text score
 * (derived_sb: boost class, field lengths) so that a one-word page reads
 * the 32-byte column only for documents that may enter it.
 *
 * Every change goes through derived_term_add / derived_term_del /
 * derived_term_changed (called by index.c under the write lock); a bulk load
 * skips them and calls index_derived_build once at the end, which is also
 * what a loader of a saved index calls (a few hundred ms at a million
 * products: linear passes over the postings and one sort of the slots).
 */
#include <stdlib.h>
#include <string.h>

#include "search/bm25.h"
#include "search/index.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define DENSE_MIN  8192u /* shorter lists intersect in tens of µs anyway */
#define DENSE_DIV  32u   /* dense from 1/32 of the slots … */
#define SPARSE_DIV 64u   /* … until under 1/64 */
#define TORD_MIN   16u   /* title documents for a title list (dropped under half) */
#define AGG_MIN    2048u
#define AGG_DROP   1024u

static bool dense_enough(const struct index *ix, uint32_t n)
{
    return n >= DENSE_MIN && (uint64_t)n * DENSE_DIV >= ix->nslots;
}

static bool too_sparse(const struct index *ix, uint32_t n)
{
    return n < DENSE_MIN / 2 || (uint64_t)n * SPARSE_DIV < ix->nslots;
}

static void td_reserve(struct index *ix, uint32_t term)
{
    if (term < ix->tdcap)
        return;
    uint32_t c = ix->tdcap ? ix->tdcap : 1024;
    while (c <= term)
        c *= 2;
    ix->td = xrealloc(ix->td, c * sizeof *ix->td);
    memset(ix->td + ix->tdcap, 0, (c - ix->tdcap) * sizeof *ix->td);
    ix->tdcap = c;
}

/* ---- score bounds by slot -------------------------------------------------------- */

uint32_t derived_sb(const struct doc *d)
{
    const float step = (DOC_BOOST_MAX - 1.0f) / 255.0f;
    unsigned cls = (unsigned)((d->boost - 1.0f) / step);
    if (cls > 255)
        cls = 255;
    while (cls < 255 && 1.0f + (float)cls * step < d->boost)
        cls++;
    unsigned tl = d->flen[F_TITLE] < 255 ? d->flen[F_TITLE] : 255;
    unsigned cl = d->flen[F_CATEGORY] < 255 ? d->flen[F_CATEGORY] : 255;
    unsigned dl = d->flen[F_DESC] < 255 ? d->flen[F_DESC] : 255;
    return cls | tl << 8 | cl << 16 | (uint32_t)dl << 24;
}

/* ---- bitsets ---------------------------------------------------------------------- */

/* Counts of set bits before each word, from word `from` on. */
static void rank_fill(struct tderiv *td, uint32_t from, uint32_t words)
{
    uint32_t n = from ? td->rank[from - 1] + (uint32_t)__builtin_popcountll(td->bits[from - 1]) : 0;
    for (uint32_t w = from; w < words; w++) {
        td->rank[w] = n;
        n += (uint32_t)__builtin_popcountll(td->bits[w]);
    }
}

static void bits_build(struct index *ix, uint32_t term)
{
    struct tderiv *td = &ix->td[term];
    const struct term *t = &ix->lx.terms[term];
    td->bits = xcalloc(ix->bwords ? ix->bwords : 1, sizeof *td->bits);
    for (uint32_t i = 0; i < t->n; i++)
        td->bits[t->p[i].slot >> 6] |= 1ull << (t->p[i].slot & 63);
    td->rank = xmalloc((ix->bwords ? ix->bwords : 1) * sizeof *td->rank);
    rank_fill(td, 0, ix->bwords);
}

static void bits_free(struct tderiv *td)
{
    free(td->bits);
    free(td->rank);
    td->bits = NULL;
    td->rank = NULL;
}

/* The bit of `slot` set (+1) or cleared (-1): the counts after its word follow. */
static void bit_flip(struct index *ix, struct tderiv *td, uint32_t slot, int delta)
{
    uint32_t w = slot >> 6;
    if (delta > 0)
        td->bits[w] |= 1ull << (slot & 63);
    else
        td->bits[w] &= ~(1ull << (slot & 63));
    for (uint32_t i = w + 1; i < ix->bwords; i++)
        td->rank[i] += (uint32_t)delta;
}

void derived_slots_grown(struct index *ix)
{
    uint32_t nb = bm_nblocks(ix->scap);
    if (nb > ix->bmblocks) {
        for (uint32_t i = 0; i < ix->tdcap; i++)
            if (ix->td[i].bmax) {
                ix->td[i].bmax = xrealloc(ix->td[i].bmax, nb * sizeof *ix->td[i].bmax);
                memset(ix->td[i].bmax + ix->bmblocks, 0,
                       (nb - ix->bmblocks) * sizeof *ix->td[i].bmax);
            }
        ix->bminid = xrealloc(ix->bminid, nb * sizeof *ix->bminid);
        for (uint32_t b = ix->bmblocks; b < nb; b++)
            ix->bminid[b] = INT64_MAX;
        ix->bmblocks = nb;
    }
    uint32_t w = (ix->scap + 63) / 64;
    if (w <= ix->bwords)
        return;
    for (uint32_t i = 0; i < ix->tdcap; i++)
        if (ix->td[i].bits) {
            ix->td[i].bits = xrealloc(ix->td[i].bits, w * sizeof *ix->td[i].bits);
            memset(ix->td[i].bits + ix->bwords, 0, (w - ix->bwords) * sizeof *ix->td[i].bits);
            ix->td[i].rank = xrealloc(ix->td[i].rank, w * sizeof *ix->td[i].rank);
            rank_fill(&ix->td[i], ix->bwords, w);
        }
    ix->bwords = w;
}

/* ---- block bounds ------------------------------------------------------------------------ */

/* How far an inverse average field length may move from score_ia before
 * scores take the new one and the block bounds are rebuilt: a pass over
 * every frequent word's postings, 216 ms at a million products, under the
 * index's write lock (queries wait). The bounds are exact whatever
 * score_ia is; only how current the normalising average is depends on
 * this, and BM25 ranks the same with an average 1 % off. At a million
 * products it takes some 10,000 new products with descriptions twice as
 * long as the others' to move an average by 1 %. */
#define BM_DRIFT 1.01f

/* The bound of one posting: the same arithmetic, on the same values, as
 * its score (match.c: match_score), so that the bound is exact. */
static void bmax_raise(const struct index *ix, float *bmax, uint32_t slot,
                       const uint8_t tf[NFIELDS])
{
    if (!bmax)
        return;
    const struct dcol *c = &ix->col[slot];
    float v = bm25_sat(ix, c->flen, tf) * c->boost;
    if (v > bmax[slot >> BM_SHIFT])
        bmax[slot >> BM_SHIFT] = v;
}

static void bmax_build(struct index *ix, uint32_t term)
{
    struct tderiv *td = &ix->td[term];
    const struct term *t = &ix->lx.terms[term];
    free(td->bmax);
    td->bmax = xcalloc(ix->bmblocks ? ix->bmblocks : 1, sizeof *td->bmax);
    for (uint32_t i = 0; i < t->n; i++)
        bmax_raise(ix, td->bmax, t->p[i].slot, t->p[i].tf);
}

/* The lowest ids by block, from the live documents. */
static void bminid_build(struct index *ix)
{
    free(ix->bminid);
    ix->bminid = xmalloc((ix->bmblocks ? ix->bmblocks : 1) * sizeof *ix->bminid);
    for (uint32_t b = 0; b < ix->bmblocks; b++)
        ix->bminid[b] = INT64_MAX;
    for (uint32_t s = 0; s < ix->nslots; s++)
        derived_slot_placed(ix, s);
}

void derived_slot_placed(struct index *ix, uint32_t slot)
{
    const struct dcol *c = &ix->col[slot];
    if (c->live && c->id < ix->bminid[slot >> BM_SHIFT])
        ix->bminid[slot >> BM_SHIFT] = c->id;
}

void derived_score_ia(struct index *ix, const float ia[NFIELDS])
{
    memmove(ix->score_ia, ia, sizeof ix->score_ia);
    for (int f = 0; f < NFIELDS; f++)
        for (uint32_t len = 0; len < NORM_LEN; len++)
            ix->norm[f][len] = bm25_norm_of(f, len, ix->score_ia[f]);
}

void derived_bounds_check(struct index *ix, bool exact)
{
    float ia[NFIELDS];
    index_inv_avg(ix, ia);
    bool moved = false;
    for (int f = 0; f < NFIELDS; f++)
        moved |= exact ? ia[f] != ix->score_ia[f]
                       : ia[f] * BM_DRIFT < ix->score_ia[f] || ia[f] > ix->score_ia[f] * BM_DRIFT;
    if (!moved)
        return;
    derived_score_ia(ix, ia);
    for (uint32_t i = 0; i < ix->tdcap; i++)
        if (ix->td[i].bmax)
            bmax_build(ix, i);
}

/* ---- facet counts ------------------------------------------------------------------- */

static void bc_account(struct bcount **a, uint32_t *n, uint32_t *cap, uint32_t key, int delta)
{
    uint32_t lo = 0, hi = *n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((*a)[mid].brand < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && (*a)[lo].brand == key) {
        (*a)[lo].n += (uint32_t)delta;
        return;
    }
    if (delta < 0)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *a = xrealloc(*a, *cap * sizeof **a);
    }
    memmove(&(*a)[lo + 1], &(*a)[lo], (*n - lo) * sizeof **a);
    (*a)[lo] = (struct bcount){key, (uint32_t)delta};
    (*n)++;
}

static uint32_t root_of(const struct index *ix, const struct dcol *c)
{
    return ix->cats[c->cat].chain[0];
}

static void agg_account(struct index *ix, struct tagg *g, const struct dcol *c, int delta)
{
    bc_account(&g->brands, &g->nbrands, &g->bcap, c->brand, delta);
    bc_account(&g->roots, &g->nroots, &g->rcap, root_of(ix, c), delta);
    g->prices[c->pbucket] += (uint32_t)delta;
    g->stars[c->stars] += (uint32_t)delta;
}

static void agg_free(struct tagg *g)
{
    if (!g)
        return;
    free(g->brands);
    free(g->roots);
    free(g);
}

/* Counts a term's documents from its postings, with dense scratch counters
 * (`bc` by brand, `rc` by category index; zero on entry and on return). */
static struct tagg *agg_count(struct index *ix, const struct term *t, uint32_t *bc, uint32_t *rc)
{
    struct tagg *g = xcalloc(1, sizeof *g);
    for (uint32_t i = 0; i < t->n; i++) {
        if (i + 16 < t->n)
            __builtin_prefetch(&ix->col[t->p[i + 16].slot]);
        const struct dcol *c = &ix->col[t->p[i].slot];
        bc[c->brand]++;
        rc[root_of(ix, c)]++;
        g->prices[c->pbucket]++;
        g->stars[c->stars]++;
    }
    /* Exact sizes (they grow by doubling on later changes). */
    for (uint32_t b = 0; b < ix->brand_ix.n; b++)
        g->bcap += bc[b] > 0;
    for (uint32_t r = 0; r < ix->ncats; r++)
        g->rcap += rc[r] > 0;
    g->brands = xmalloc((g->bcap ? g->bcap : 1) * sizeof *g->brands);
    g->roots = xmalloc((g->rcap ? g->rcap : 1) * sizeof *g->roots);
    for (uint32_t b = 0; b < ix->brand_ix.n; b++)
        if (bc[b]) {
            g->brands[g->nbrands++] = (struct bcount){b, bc[b]};
            bc[b] = 0;
        }
    for (uint32_t r = 0; r < ix->ncats; r++)
        if (rc[r]) {
            g->roots[g->nroots++] = (struct bcount){r, rc[r]};
            rc[r] = 0;
        }
    return g;
}

static struct tagg *agg_build(struct index *ix, const struct term *t)
{
    uint32_t *bc = xcalloc(ix->brand_ix.n + 1, sizeof *bc),
             *rc = xcalloc(ix->ncats + 1, sizeof *rc);
    struct tagg *g = agg_count(ix, t, bc, rc);
    free(bc);
    free(rc);
    return g;
}

struct skey {
    int64_t sales, id;
    int32_t ratings;
    uint32_t slot;
};

static int skey_cmp(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    if (x->sales != y->sales)
        return x->sales > y->sales ? -1 : 1;
    if (x->ratings != y->ratings)
        return x->ratings > y->ratings ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ---- title lists in suggestion order -------------------------------------------------- */

/* The first position of `tord` whose document is not before `d`, the key
 * of `self` (which may have changed in its row since it was placed). */
static uint32_t tord_lower(const struct index *ix, const uint32_t *tord, uint32_t n,
                           const struct doc *d, uint32_t self)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tord[mid] != self && sugg_before(&ix->docs[tord[mid]], d))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void tord_insert(struct index *ix, struct tderiv *td, uint32_t slot)
{
    if (td->ntitle == td->tocap) {
        td->tocap = td->tocap < 4 ? 4 : td->tocap + td->tocap / 2;
        td->tord = xrealloc(td->tord, td->tocap * sizeof *td->tord);
    }
    uint32_t at = tord_lower(ix, td->tord, td->ntitle, &ix->docs[slot], UINT32_MAX);
    memmove(&td->tord[at + 1], &td->tord[at], (td->ntitle - at) * sizeof *td->tord);
    td->tord[at] = slot;
    td->ntitle++;
}

/* A term reached TORD_MIN title documents: its list, from its postings. */
static void tord_build(struct index *ix, uint32_t term)
{
    struct tderiv *td = &ix->td[term];
    const struct term *t = &ix->lx.terms[term];
    struct skey *k = xmalloc((td->ntitle + 1) * sizeof *k);
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n && n < td->ntitle; i++)
        if (t->p[i].tf[F_TITLE]) {
            const struct doc *d = &ix->docs[t->p[i].slot];
            k[n++] = (struct skey){d->sales, d->id, d->rating_count, t->p[i].slot};
        }
    qsort(k, n, sizeof *k, skey_cmp);
    td->tord = xmalloc((n ? n : 1) * sizeof *td->tord);
    for (uint32_t i = 0; i < n; i++)
        td->tord[i] = k[i].slot;
    td->ntitle = td->tocap = n;
    free(k);
}

/* Removes `slot`, whose key was that of `d`. */
static void tord_remove(struct index *ix, struct tderiv *td, uint32_t slot, const struct doc *d)
{
    uint32_t at = tord_lower(ix, td->tord, td->ntitle, d, slot);
    if (at >= td->ntitle || td->tord[at] != slot) { /* not where its key says (never expected) */
        for (at = 0; at < td->ntitle && td->tord[at] != slot; at++)
            ;
        if (at == td->ntitle)
            return;
    }
    memmove(&td->tord[at], &td->tord[at + 1], (td->ntitle - at - 1) * sizeof *td->tord);
    td->ntitle--;
}

/* ---- updates ---------------------------------------------------------------------------- */

void derived_term_add(struct index *ix, uint32_t term, uint32_t slot, const uint8_t tf[NFIELDS],
                      bool bulk)
{
    if (bulk)
        return; /* index_derived_build follows */
    td_reserve(ix, term);
    struct tderiv *td = &ix->td[term];
    const struct term *t = &ix->lx.terms[term];
    if (tf[F_TITLE]) {
        if (td->tord)
            tord_insert(ix, td, slot);
        else if (++td->ntitle >= TORD_MIN)
            tord_build(ix, term);
    }
    if (td->bits)
        bit_flip(ix, td, slot, +1);
    else if (dense_enough(ix, t->n))
        bits_build(ix, term);
    if (td->agg) {
        agg_account(ix, td->agg, &ix->col[slot], +1);
        bmax_raise(ix, td->bmax, slot, tf);
    } else if (t->n >= AGG_MIN) {
        td->agg = agg_build(ix, t);
        bmax_build(ix, term);
    }
}

void derived_term_del(struct index *ix, uint32_t term, uint32_t slot, bool title)
{
    if (term >= ix->tdcap)
        return;
    struct tderiv *td = &ix->td[term];
    const struct term *t = &ix->lx.terms[term];
    if (title && td->tord) {
        tord_remove(ix, td, slot, &ix->docs[slot]);
        if (td->ntitle < TORD_MIN / 2) {
            free(td->tord);
            td->tord = NULL;
            td->tocap = 0;
        }
    } else if (title && td->ntitle) {
        td->ntitle--;
    }
    if (td->bits) {
        bit_flip(ix, td, slot, -1);
        if (too_sparse(ix, t->n))
            bits_free(td);
    }
    if (td->agg) {
        agg_account(ix, td->agg, &ix->col[slot], -1);
        if (t->n < AGG_DROP) {
            agg_free(td->agg);
            td->agg = NULL;
            free(td->bmax);
            td->bmax = NULL;
        }
    }
}

void derived_term_changed(struct index *ix, uint32_t term, uint32_t slot, const struct doc *old,
                          const struct dcol *oldc)
{
    if (term >= ix->tdcap)
        return;
    struct tderiv *td = &ix->td[term];
    const struct doc *d = &ix->docs[slot];
    const struct dcol *c = &ix->col[slot];
    if (td->agg && (oldc->pbucket != c->pbucket || oldc->stars != c->stars)) {
        td->agg->prices[oldc->pbucket]--;
        td->agg->prices[c->pbucket]++;
        td->agg->stars[oldc->stars]--;
        td->agg->stars[c->stars]++;
    }
    bool reorder = td->tord && (old->sales != d->sales || old->rating_count != d->rating_count ||
                                old->id != d->id);
    /* A lower boost leaves the block bound true (only looser). */
    bool raise = td->bmax && c->boost > oldc->boost;
    if (!reorder && !raise)
        return;
    const struct term *t = &ix->lx.terms[term];
    uint32_t at =
        td->rank ? (derived_has(td->bits, slot) ? derived_rank(td->bits, td->rank, slot) : t->n)
                 : lex_posting_seek(t, 0, slot);
    if (at == t->n || t->p[at].slot != slot)
        return;
    if (raise)
        bmax_raise(ix, td->bmax, slot, t->p[at].tf);
    if (reorder && t->p[at].tf[F_TITLE]) {
        tord_remove(ix, td, slot, old);
        tord_insert(ix, td, slot);
    }
}

/* ---- building ------------------------------------------------------------------------- */

void derived_free(struct index *ix)
{
    for (uint32_t i = 0; i < ix->tdcap; i++) {
        bits_free(&ix->td[i]);
        free(ix->td[i].tord);
        agg_free(ix->td[i].agg);
        free(ix->td[i].bmax);
    }
    free(ix->td);
    ix->td = NULL;
    ix->tdcap = 0;
    ix->bwords = 0;
    ix->bmblocks = 0;
    free(ix->bminid);
    ix->bminid = NULL;
}

void index_derived_build(struct index *ix)
{
    int64_t t0 = clock_mono_ns();
    derived_free(ix);
    uint32_t nterms = ix->lx.term_ix.n;
    ix->bwords = (ix->scap + 63) / 64;
    ix->bmblocks = bm_nblocks(ix->scap);
    float ia[NFIELDS];
    index_inv_avg(ix, ia);
    derived_score_ia(ix, ia);
    bminid_build(ix);
    index_brand_docs_build(ix);
    index_stock_counts_build(ix);
    if (nterms) { /* exact: terms added later grow it by doubling */
        ix->td = xcalloc(nterms, sizeof *ix->td);
        ix->tdcap = nterms;
    }
    for (uint32_t s = 0; s < ix->nslots; s++) {
        ix->sb[s] = derived_sb(&ix->docs[s]);
        ix->price[s] = price_col(ix->docs[s].price);
    }

    /* Every live slot in suggestion order: one sort of their keys (none
     * when already in order, as after a load by id with no sales yet). */
    struct skey *keys = xmalloc((ix->nlive + 1) * sizeof *keys);
    uint32_t n = 0;
    bool sorted = true;
    for (uint32_t s = 0; s < ix->nslots; s++) {
        const struct doc *d = &ix->docs[s];
        if (!d->live)
            continue;
        keys[n] = (struct skey){d->sales, d->id, d->rating_count, s};
        sorted = sorted && (n == 0 || skey_cmp(&keys[n - 1], &keys[n]) < 0);
        n++;
    }
    if (!sorted)
        qsort(keys, n, sizeof *keys, skey_cmp);
    uint32_t *order = xmalloc((n + 1) * sizeof *order);
    for (uint32_t i = 0; i < n; i++)
        order[i] = keys[i].slot;
    free(keys);

    /* One pass over each term's postings: its bitset when dense, its facet
     * counts when frequent, its title documents counted by slot. Then each
     * slot's title terms (a counting sort), and the title lists filled in
     * suggestion order. */
    uint32_t *start = xcalloc(ix->nslots + 2, sizeof *start);
    uint32_t *bc = xcalloc(ix->brand_ix.n + 1, sizeof *bc),
             *rc = xcalloc(ix->ncats + 1, sizeof *rc);
    size_t ntitle = 0;
    for (uint32_t t = 0; t < nterms; t++) {
        const struct term *tm = &ix->lx.terms[t];
        if (dense_enough(ix, tm->n))
            bits_build(ix, t);
        if (tm->n >= AGG_MIN) {
            ix->td[t].agg = agg_count(ix, tm, bc, rc);
            bmax_build(ix, t);
        }
        uint32_t nt = 0;
        for (uint32_t i = 0; i < tm->n; i++)
            nt += tm->p[i].tf[F_TITLE] > 0;
        ix->td[t].ntitle = nt;
        if (nt < TORD_MIN)
            continue;
        for (uint32_t i = 0; i < tm->n; i++)
            if (tm->p[i].tf[F_TITLE])
                start[tm->p[i].slot + 1]++;
        ntitle += nt;
        ix->td[t].tord = xmalloc(nt * sizeof *ix->td[t].tord);
        ix->td[t].tocap = nt;
        ix->td[t].ntitle = 0; /* counts again as the list fills */
    }
    free(bc);
    free(rc);
    for (uint32_t s = 0; s < ix->nslots; s++)
        start[s + 1] += start[s];
    uint32_t *terms_of = xmalloc((ntitle + 1) * sizeof *terms_of);
    uint32_t *fill = xmalloc((ix->nslots + 1) * sizeof *fill);
    memcpy(fill, start, (ix->nslots + 1) * sizeof *fill);
    for (uint32_t t = 0; t < nterms; t++) {
        const struct term *tm = &ix->lx.terms[t];
        if (!ix->td[t].tocap)
            continue;
        for (uint32_t i = 0; i < tm->n; i++)
            if (tm->p[i].tf[F_TITLE])
                terms_of[fill[tm->p[i].slot]++] = t;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = order[i];
        for (uint32_t j = start[s]; j < start[s + 1]; j++) {
            struct tderiv *td = &ix->td[terms_of[j]];
            td->tord[td->ntitle++] = s;
        }
    }
    free(terms_of);
    free(fill);
    free(start);
    free(order);
    ix->derived_ms = (uint32_t)((clock_mono_ns() - t0) / 1000000);
}

size_t derived_bytes(const struct index *ix)
{
    size_t b = ix->tdcap * sizeof *ix->td;
    for (uint32_t i = 0; i < ix->tdcap; i++) {
        const struct tderiv *td = &ix->td[i];
        if (td->bits)
            b += ix->bwords * (sizeof *td->bits + sizeof *td->rank);
        b += td->tocap * sizeof *td->tord;
        if (td->agg)
            b += sizeof *td->agg + (td->agg->bcap + td->agg->rcap) * sizeof(struct bcount);
        if (td->bmax)
            b += ix->bmblocks * sizeof *td->bmax;
    }
    b += ix->bmblocks * sizeof *ix->bminid;
    return b;
}
