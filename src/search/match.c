/* match.c — from the text of a query to the documents it matches and their
 * text scores (query.h). Steps 1–3 of a query; query.c has the overview.
 *
 * Words. The query is tokenized and stemmed (text.c) outside the lock.
 *
 * Terms. Each distinct word that is not a stop word becomes a set of
 * alternatives: its own stem if any live document has it; else, for the
 * last word still being typed, the most frequent words it begins ("headph"
 * → headphones); else the best word within one edit (3–6 characters) or two
 * (7 and more), which also goes into `corrected_query`. Model numbers
 * (words with digits) are never corrected.
 *
 * Matching works on slots only, reading posting lists front to back and
 * never touching a document: the rarest word's slots (the union of its
 * alternatives) are filtered by each other word's bit when it is dense,
 * else by galloping through its postings. When no document has every word
 * of a query of two or more, the documents with all but one are taken
 * instead: one merge of the words' postings when every word has one
 * alternative (or none), noting where each match is in each list like the
 * matching above, so that the same scoring, prefetching and block bounds
 * serve them (a block's bound is then the best sum without one word). Single-word,
 * single-alternative queries skip all this: they walk the one posting list, or, for a frequent word
 * ranked by relevance, its blocks best bound first (oneword.c: rank_blocks, rank_filtered), looking
 * only at what may enter the page.
 *
 * Scoring is lazy: each matching document goes to query.c as soon as it is
 * found, which asks for its text score only after it passed the filters —
 * a filtered-out document costs no BM25F, and every document is read once.
 * When every word has one alternative, matching notes where each match is
 * in each word's postings (by rank when the word is dense, else where its
 * cursor stopped), so scoring seeks nothing and what a match reads is asked
 * of memory 16 matches ahead; otherwise a word's posting is found by rank
 * when the word is dense, else by its cursor. A word scores
 * w × (idf × ((saturated BM25F tf + 0.5 if the word is in the title) ×
 * boost)) with the best of its alternatives — w is 1 for the word itself
 * or a correction, 0.9 for a completion —, and a document's text score is
 * the sum over the words. The arithmetic is bm25.h's, shared with every
 * bound of it.
 *
 * Multi-word pages by relevance whose words are all frequent: every match
 * is filtered and counted (the total and the facets are exact), but only
 * the matches of a block of slots whose bound — the sum of the words'
 * block bounds, derived.c: bmax — may still enter the page are scored.
 * The bound is exact (the score's own arithmetic on each word's block
 * best), so a block of documents tied at the top score is skipped unless
 * it holds an id lower than the page's worst. At a million products,
 * "board game" scores a few hundred of its 13,016 matches. Words that
 * always come together ("fiction novel") have their bests in different
 * documents of a block, and every block is scored as before.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/bm25.h"
#include "search/query.h"
#include "util/arena.h"

/* A word's score in a document: w × (idf × (saturated BM25F × boost)),
 * in that order everywhere — a block's bound (derived.c: bmax) is the same
 * arithmetic on the largest saturated BM25F × boost of the block, so that a
 * bound equals the score it bounds, and a query's bound is the sum of its
 * words' bounds as its score is the sum of their scores. */
static inline float word_score(const struct qctx *q, const struct qalt *x,
                               const uint16_t flen[NFIELDS], const uint8_t tf[NFIELDS], float boost)
{
    return x->w * (x->idf * (bm25_sat(q->ix, flen, tf) * boost));
}

/* ---- words and terms ------------------------------------------------------------------ */

int match_words(struct search *s, const char *text, struct qword *w)
{
    struct text_iter it;
    int n = 0;
    text_iter_init(&it, text, strlen(text));
    while (n < QWORDS) {
        struct qword *x = &w[n];
        memset(x, 0, sizeof *x);
        x->len = text_next(&it, x->tok, &x->partial);
        if (!x->len)
            break;
        x->stop = text_is_stopword(x->tok, x->len);
        if (!x->stop)
            x->slen = text_stem(s->stem, x->tok, x->len, x->stem);
        n++;
    }
    return n;
}

static void add_alt(const struct index *ix, struct qterm *qt, uint32_t term, float w)
{
    for (int i = 0; i < qt->nalt; i++)
        if (qt->ids[i] == term)
            return;
    if (qt->nalt == QALT)
        return;
    const struct term *t = &ix->lx.terms[term];
    double n = ix->nlive, df = t->n;
    qt->ids[qt->nalt] = term;
    qt->alt[qt->nalt] = (struct qalt){.t = t,
                                      .bits = term < ix->tdcap ? ix->td[term].bits : NULL,
                                      .rank = term < ix->tdcap ? ix->td[term].rank : NULL,
                                      .w = w,
                                      .idf = (float)log(1.0 + (n - df + 0.5) / (df + 0.5))};
    qt->est += t->n;
    qt->nalt++;
}

/* A word's alternatives (see the top of the file). */
static void resolve(const struct index *ix, struct qword *w, bool last, struct qterm *qt,
                    struct arena *a, bool *corrected)
{
    const struct lexicon *lx = &ix->lx;
    memset(qt, 0, sizeof *qt);
    uint32_t t = lex_term_find(lx, w->stem, w->slen);
    if (t != MAP_NONE && lx->terms[t].n > 0) {
        add_alt(ix, qt, t, 1.0f);
        return;
    }
    if (last && w->partial && w->len >= 2) {
        uint32_t ws[QALT];
        int n = lex_prefix(lx, w->tok, w->len, ws, QALT);
        for (int i = 0; i < n; i++)
            if (lx->terms[lx->words[ws[i]].term].n > 0)
                add_alt(ix, qt, lx->words[ws[i]].term, 0.9f);
        if (qt->nalt)
            return;
    }
    size_t cp = text_codepoints(w->tok, w->len);
    if (cp >= 3 && !text_has_digit(w->tok, w->len)) {
        int dist;
        uint32_t best = lex_correct(lx, w->tok, w->len, cp >= 7 ? 2 : 1, &dist);
        if (best != MAP_NONE && lx->terms[lx->words[best].term].n > 0) {
            add_alt(ix, qt, lx->words[best].term, 1.0f);
            w->shown = arena_strdup(a, intern_str(&lx->word_ix, best, NULL));
            *corrected = true;
        }
    }
}

int match_terms(const struct index *ix, struct qword *w, int nwords, struct qterm *qt,
                struct arena *a, const char **corrected)
{
    int m = 0, last = -1;
    bool fixed = false;
    for (int i = 0; i < nwords; i++)
        if (!w[i].stop)
            last = i;
    for (int i = 0; i < nwords && m < SEARCH_QUERY_TERMS; i++) {
        if (w[i].stop)
            continue;
        bool dup = false;
        for (int j = 0; j < i && !dup; j++)
            dup = !w[j].stop && w[j].slen == w[i].slen && !memcmp(w[j].stem, w[i].stem, w[i].slen);
        if (!dup)
            resolve(ix, &w[i], i == last, &qt[m++], a, &fixed);
    }
    *corrected = NULL;
    if (fixed) {
        size_t len = 0;
        for (int i = 0; i < nwords; i++)
            len += (w[i].shown ? strlen(w[i].shown) : w[i].len) + 1;
        char *cq = arena_alloc(a, len + 1), *p = cq;
        for (int i = 0; i < nwords; i++) {
            const char *wd = w[i].shown ? w[i].shown : w[i].tok;
            size_t l = strlen(wd);
            if (p != cq)
                *p++ = ' ';
            memcpy(p, wd, l);
            p += l;
        }
        *p = '\0';
        *corrected = cq;
    }
    return m;
}

/* ---- matching ------------------------------------------------------------------------- */

static void rewind_all(struct qterm *qt, int m)
{
    for (int i = 0; i < m; i++)
        for (int a = 0; a < qt[i].nalt; a++)
            qt[i].alt[a].pos = 0;
}

/* Whether some alternative of `qt` has `slot` (cursors only move forward). */
static bool term_has(struct qterm *qt, uint32_t slot)
{
    for (int a = 0; a < qt->nalt; a++) {
        struct qalt *x = &qt->alt[a];
        x->pos = lex_posting_seek(x->t, x->pos, slot);
        if (x->pos < x->t->n && x->t->p[x->pos].slot == slot)
            return true;
    }
    return false;
}

/* Whether the single-alternative term `x` has `slot`: its bit when dense,
 * else its cursor moved forward — a few steps by hand (the lists of two
 * words of similar frequency interleave closely), then by galloping. */
static inline bool alt_has(struct qalt *x, uint32_t slot)
{
    if (x->bits)
        return derived_has(x->bits, slot);
    const struct posting *p = x->t->p;
    uint32_t i = x->pos, n = x->t->n;
    for (int k = 0; k < 8 && i < n; k++, i++)
        if (p[i].slot >= slot) {
            x->pos = i;
            return p[i].slot == slot;
        }
    x->pos = i = lex_posting_seek(x->t, i, slot);
    return i < n && p[i].slot == slot;
}

/* The posting of `slot` in the alternative `x`, or NULL: by rank when the
 * term is dense, else by its cursor moved forward (galloping). */
static inline const struct posting *alt_find(struct qalt *x, uint32_t slot)
{
    if (x->rank) {
        if (!derived_has(x->bits, slot))
            return NULL;
        x->pos = derived_rank(x->bits, x->rank, slot);
        return &x->t->p[x->pos];
    }
    x->pos = lex_posting_seek(x->t, x->pos, slot);
    return x->pos < x->t->n && x->t->p[x->pos].slot == slot ? &x->t->p[x->pos] : NULL;
}

/* The smallest slot at any cursor of the first `m` terms, or UINT32_MAX. */
static uint32_t next_slot(const struct qterm *qt, int m)
{
    uint32_t min = UINT32_MAX;
    for (int i = 0; i < m; i++)
        for (int a = 0; a < qt[i].nalt; a++) {
            const struct qalt *x = &qt[i].alt[a];
            if (x->pos < x->t->n && x->t->p[x->pos].slot < min)
                min = x->t->p[x->pos].slot;
        }
    return min;
}

/* How many of the `m` terms have `slot` at their cursors. */
static int count_at(const struct qterm *qt, int m, uint32_t slot)
{
    int hits = 0;
    for (int i = 0; i < m; i++)
        for (int a = 0; a < qt[i].nalt; a++) {
            const struct qalt *x = &qt[i].alt[a];
            if (x->pos < x->t->n && x->t->p[x->pos].slot == slot) {
                hits++;
                break;
            }
        }
    return hits;
}

/* Moves every cursor of the first `m` terms that is at `slot` past it. */
static void step_past(struct qterm *qt, int m, uint32_t slot)
{
    for (int i = 0; i < m; i++)
        for (int a = 0; a < qt[i].nalt; a++) {
            struct qalt *x = &qt[i].alt[a];
            if (x->pos < x->t->n && x->t->p[x->pos].slot == slot)
                x->pos++;
        }
}

static int qterm_cmp(const void *a, const void *b)
{
    const struct qterm *x = a, *y = b;
    if (x->est != y->est)
        return x->est < y->est ? -1 : 1;
    return x->ids[0] < y->ids[0] ? -1 : x->ids[0] > y->ids[0];
}

/* What considering a match reads, asked of memory ahead of it: its column,
 * its price when a filter or the sort needs it, its row for a rating
 * filter or a sort key other than price and relevance. At a million
 * products each is a cache miss, and one at a time they were most of a
 * multi-word query's time. */
struct reads {
    bool price, row;
};

static struct reads reads_of(const struct qctx *q)
{
    bool price =
        q->by_price ||
        (q->keys && (q->sort == SEARCH_SORT_PRICE_ASC || q->sort == SEARCH_SORT_PRICE_DESC));
    return (struct reads){
        .price = price,
        .row = (!q->score && !price && q->keys) || query_rating_reads_rows(q),
    };
}

/* Inlined early on purpose: gcc takes a function of prefetches alone for
 * one without effects and drops its calls. */
static inline __attribute__((always_inline)) void prefetch_match(const struct qctx *q,
                                                                 struct reads r, uint32_t slot)
{
    __builtin_prefetch(&q->ix->col[slot]);
    if (r.price)
        __builtin_prefetch(&q->ix->price[slot]);
    if (r.row)
        __builtin_prefetch(&q->ix->docs[slot]);
}

/* The postings of a match (`at`: one position per word), asked ahead. */
static inline __attribute__((always_inline)) void prefetch_postings(const struct qctx *q,
                                                                    const uint32_t *at)
{
    for (int k = 0; k < q->nterms; k++)
        if (at[k] != AT_NONE)
            __builtin_prefetch(&q->terms[k].alt[0].t->p[at[k]]);
}

/* The block bounds of a multi-word query's words, when it can use them:
 * sorted by relevance, every word of one alternative and frequent (with
 * block bounds, derived.c: bmax) or of none (a word no document has:
 * NULL, 0 everywhere), and the postings of each match noted by matching.
 * Else false. */
static bool word_bounds(const struct qctx *q, const uint32_t *at,
                        const float *bmax[SEARCH_QUERY_TERMS])
{
    if (!at || !q->score || q->reference)
        return false;
    for (int i = 0; i < q->nterms; i++) {
        const struct qterm *t = &q->terms[i];
        bmax[i] = NULL;
        if (t->nalt == 0)
            continue;
        if (t->nalt != 1 || t->ids[0] >= q->ix->tdcap || !q->ix->td[t->ids[0]].bmax)
            return false;
        bmax[i] = q->ix->td[t->ids[0]].bmax;
    }
    return true;
}

/* A word's part of a block's bound: w × (idf × its block bound). */
static inline float word_bound(const struct qctx *q, const float *const bmax[SEARCH_QUERY_TERMS],
                               int i, uint32_t b)
{
    const struct qalt *x = &q->terms[i].alt[0];
    return bmax[i] ? x->w * (x->idf * bmax[i][b]) : 0.0f;
}

/* The bound of every match in block `b`: the sum over the words of
 * w × (idf × the word's block bound), in the words' order (for matches of
 * all words but one, the best such sum without one word). A match's score
 * is the same sum of its own words' scores (word_score), each at most the
 * word's block bound: the bound is at least the score, exactly, and equal
 * to it when one document holds every word's best of the block, as the
 * documents tied at the top of a query often do. */
static float block_bound(const struct qctx *q, const float *const bmax[SEARCH_QUERY_TERMS],
                         uint32_t b)
{
    float ub = 0;
    if (!q->partial) {
        for (int i = 0; i < q->nterms; i++)
            ub += word_bound(q, bmax, i, b);
        return ub;
    }
    /* Every match lacks one word (no document has them all): the best sum
     * without one word, each sum in the score's order with 0 for the word
     * left out, as the score adds 0 for the word its document lacks. */
    for (int out = 0; out < q->nterms; out++) {
        float s = 0;
        for (int i = 0; i < q->nterms; i++)
            s += i == out ? 0.0f : word_bound(q, bmax, i, b);
        if (s > ub)
            ub = s;
    }
    return ub;
}

/* Whether nothing of block `b`, bounded by `ub`, can enter a full page: the
 * bound is under the page's worst score, or equal to it (a tie, which the
 * lower id wins) with no id in the block under the worst's. */
static bool block_out(const struct qctx *q, float ub, uint32_t b)
{
    const struct hit *worst = &q->sc->heap[0];
    return q->nheap == q->limit &&
           (ub < worst->score || (ub == worst->score && q->ix->bminid[b] >= worst->k2));
}

/* The matches of every word to query_consider, in slot order, with where
 * each is in each word's postings when `at` has it (else NULL); what each
 * reads asked of memory 16 matches ahead. With block bounds (word_bounds),
 * a match of a block that cannot enter the page is only filtered and
 * counted — it is after the page's worst, so after the cursor — and its
 * postings are not read. */
static void consider_matches(struct qctx *q, const uint32_t *match, size_t nm, const uint32_t *at)
{
    if (q->reference) {
        for (size_t i = 0; i < nm; i++)
            query_consider(q, match[i], NULL);
        return;
    }
    size_t m = (size_t)q->nterms;
    struct reads r = reads_of(q);
    const float *bmax[SEARCH_QUERY_TERMS];
    bool bounded = word_bounds(q, at, bmax);
    uint32_t block = UINT32_MAX;
    float ub = 0;
    for (size_t i = 0; i < nm; i++) {
        if (i + 16 < nm) {
            prefetch_match(q, r, match[i + 16]);
            if (at)
                prefetch_postings(q, &at[(i + 16) * m]);
        }
        if (bounded) {
            if (match[i] >> BM_SHIFT != block) {
                block = match[i] >> BM_SHIFT;
                ub = block_bound(q, bmax, block);
            }
            if (block_out(q, ub, block)) {
                if (query_count(q, match[i]))
                    q->after++;
                continue;
            }
        }
        q->at = at ? &at[i * m] : NULL;
        query_consider(q, match[i], NULL);
    }
    q->at = NULL;
}

/* The documents with every word but one at most, when no document has
 * them all and every word has one alternative or none: one pass over the
 * words' postings in slot order, the matches into scratch.match and, with
 * `with_at`, where each is in each word's postings (AT_NONE for the word it
 * lacks) into scratch.at, for consider_matches. Returns how many. */
static size_t all_but_one(struct qctx *q, bool with_at)
{
    const struct qterm *qt = q->terms;
    struct scratch *sc = q->sc;
    int m = q->nterms;
    const struct posting *p[SEARCH_QUERY_TERMS];
    uint32_t n[SEARCH_QUERY_TERMS], pos[SEARCH_QUERY_TERMS];
    for (int i = 0; i < m; i++) {
        p[i] = qt[i].nalt ? qt[i].alt[0].t->p : NULL;
        n[i] = qt[i].nalt ? qt[i].alt[0].t->n : 0;
        pos[i] = 0;
    }
    size_t nm = 0;
    for (;;) {
        uint32_t s = UINT32_MAX;
        int hits = 0;
        for (int i = 0; i < m; i++)
            if (pos[i] < n[i] && p[i][pos[i]].slot <= s) {
                hits = p[i][pos[i]].slot == s ? hits + 1 : 1;
                s = p[i][pos[i]].slot;
            }
        if (s == UINT32_MAX)
            return nm;
        if (hits >= m - 1) {
            if (nm == sc->matchcap)
                scratch_reserve((void **)&sc->match, &sc->matchcap, nm + 1, sizeof *sc->match);
            if (with_at && (nm + 1) * (size_t)m > sc->atcap)
                scratch_reserve((void **)&sc->at, &sc->atcap, (nm + 1) * (size_t)m, sizeof *sc->at);
            for (int i = 0; i < m && with_at; i++)
                sc->at[nm * (size_t)m + (size_t)i] =
                    pos[i] < n[i] && p[i][pos[i]].slot == s ? pos[i] : AT_NONE;
            sc->match[nm++] = s;
        }
        for (int i = 0; i < m; i++)
            if (pos[i] < n[i] && p[i][pos[i]].slot == s)
                pos[i]++;
    }
}

/* Each matching document goes to query_consider as soon as it is found,
 * with every cursor at (or just before) it, so scoring it seeks nothing. */
void match_run(struct qctx *q)
{
    struct qterm *qt = q->terms;
    int m = q->nterms;
    bool unmatched = false;
    for (int i = 0; i < m; i++)
        unmatched |= qt[i].nalt == 0;
    if (m == 0)
        return;
    rewind_all(qt, m); /* a query may run twice (query.c: rank_kept) */
    if (m == 1 && qt[0].nalt == 1) {
        const struct term *t = qt[0].alt[0].t;
        uint32_t id = qt[0].ids[0];
        if (!q->reference && id < q->ix->tdcap && q->ix->td[id].agg &&
            (q->counted || query_counts(q, q->ix->td[id].agg, t->n))) {
            if (q->score) /* a frequent term has its block bounds with its counts */
                rank_blocks(q, t, q->ix->td[id].bmax);
            else if (q->keys)
                for (uint32_t i = 0; i < t->n; i++)
                    query_consider(q, t->p[i].slot, &t->p[i]);
            return;
        }
        const float *bmax = id < q->ix->tdcap ? q->ix->td[id].bmax : NULL;
        if (!q->reference && q->score && bmax) {
            rank_filtered(q, t, bmax);
            return;
        }
        for (uint32_t i = 0; i < t->n; i++) {
            if (i + 16 < t->n && !q->reference)
                __builtin_prefetch(&q->ix->col[t->p[i + 16].slot]);
            query_consider(q, t->p[i].slot, &t->p[i]);
        }
        return;
    }
    bool found = false;
    if (!unmatched) {
        /* Every word: the rarest word's slots, kept when every other has them.
         * The matches are collected first and considered after: prefetching
         * the column of every candidate of the rarest word (most of which
         * another word rejects) saturated the memory bus with useless loads,
         * and it was most of a two-word query's time. */
        qsort(qt, (size_t)m, sizeof *qt, qterm_cmp);
        struct scratch *sc = q->sc;
        size_t nm = 0;
        bool dense = m >= 2 && !q->reference, single = qt[0].nalt == 1 && !q->reference;
        bool one_alt = !q->reference;
        for (int i = 0; i < m; i++) {
            dense &= qt[i].nalt == 1 && qt[i].alt[0].bits;
            one_alt &= qt[i].nalt == 1;
        }
        /* With every word of one alternative, matching notes where each
         * match is in each word's postings (`at`, m a match), for scoring. */
        uint32_t *at = NULL;
        if (one_alt && q->score && (dense || single)) {
            scratch_reserve((void **)&sc->at, &sc->atcap, ((size_t)qt[0].alt[0].t->n + 1) * m,
                            sizeof *sc->at);
            at = sc->at;
        }
        if (dense) {
            /* Every word dense: AND the bitsets, 64 slots at a time. */
            const struct index *ix = q->ix;
            uint32_t nw = (ix->nslots + 63) / 64;
            scratch_reserve((void **)&sc->match, &sc->matchcap, qt[0].alt[0].t->n + 1,
                            sizeof *sc->match);
            for (uint32_t w = 0; w < nw; w++) {
                uint64_t x = qt[0].alt[0].bits[w];
                for (int i = 1; i < m && x; i++)
                    x &= qt[i].alt[0].bits[w];
                for (; x; x &= x - 1) {
                    uint32_t s = w * 64 + (uint32_t)__builtin_ctzll(x);
                    if (at)
                        for (int i = 0; i < m; i++)
                            *at++ = derived_rank(qt[i].alt[0].bits, qt[i].alt[0].rank, s);
                    sc->match[nm++] = s;
                }
            }
        } else if (single) {
            /* The rarest word's postings; a dense word answers by its bit. */
            const struct term *t = qt[0].alt[0].t;
            scratch_reserve((void **)&sc->match, &sc->matchcap, t->n + 1, sizeof *sc->match);
            for (uint32_t k = 0; k < t->n; k++) {
                uint32_t s = t->p[k].slot;
                bool all = true;
                for (int i = 1; i < m && all; i++)
                    all = qt[i].nalt == 1 ? alt_has(&qt[i].alt[0], s) : term_has(&qt[i], s);
                if (!all)
                    continue;
                if (at) {
                    *at++ = k;
                    for (int i = 1; i < m; i++) {
                        const struct qalt *x = &qt[i].alt[0];
                        *at++ = x->bits ? derived_rank(x->bits, x->rank, s) : x->pos;
                    }
                }
                sc->match[nm++] = s;
            }
        } else {
            for (uint32_t s = next_slot(qt, 1); s != UINT32_MAX; s = next_slot(qt, 1)) {
                bool all = true;
                for (int i = 1; i < m && all; i++)
                    all = term_has(&qt[i], s);
                if (all) {
                    scratch_reserve((void **)&sc->match, &sc->matchcap, nm + 1, sizeof *sc->match);
                    sc->match[nm++] = s;
                }
                step_past(qt, 1, s);
            }
        }
        rewind_all(qt, m);
        consider_matches(q, sc->match, nm, at ? sc->at : NULL);
        found = nm > 0;
    }
    if (!found && m >= 2) {
        /* All but one word. */
        q->partial = true;
        rewind_all(qt, m);
        bool simple = !q->reference;
        for (int i = 0; i < m; i++)
            simple &= qt[i].nalt <= 1;
        if (simple) {
            size_t nm = all_but_one(q, q->score);
            consider_matches(q, q->sc->match, nm, q->score ? q->sc->at : NULL);
            return;
        }
        for (uint32_t s = next_slot(qt, m); s != UINT32_MAX; s = next_slot(qt, m)) {
            if (count_at(qt, m, s) >= m - 1)
                query_consider(q, s, NULL);
            step_past(qt, m, s);
        }
    }
}

float match_score(struct qctx *q, uint32_t slot, const uint16_t flen[NFIELDS],
                  const struct posting *single, float boost)
{
    if (single)
        return word_score(q, &q->terms[0].alt[0], flen, single->tf, boost);
    float s = 0;
    for (int i = 0; i < q->nterms; i++) {
        float best = 0;
        for (int a = 0; a < q->terms[i].nalt; a++) {
            struct qalt *x = &q->terms[i].alt[a];
            x->pos = lex_posting_seek(x->t, x->pos, slot);
            if (x->pos < x->t->n && x->t->p[x->pos].slot == slot) {
                float v = word_score(q, x, flen, x->t->p[x->pos].tf, boost);
                if (v > best)
                    best = v;
            }
        }
        s += best;
    }
    return s;
}

bool match_score_over(struct qctx *q, uint32_t slot, const struct posting *single,
                      const uint16_t flen[NFIELDS], float boost, float floor, float *score)
{
    if (single) {
        const struct qalt *x = &q->terms[0].alt[0];
        if (x->w * x->idf * (1.0f + (single->tf[F_TITLE] ? TITLE_BONUS : 0.0f)) * 1.0001f * boost <
            floor)
            return false;
        *score = match_score(q, slot, flen, single, boost);
        return true;
    }
    /* One lookup per alternative serves the bound and the score (none when
     * matching noted the postings: q->at). */
    const struct posting *at[SEARCH_QUERY_TERMS][QALT];
    float bound = 0;
    for (int i = 0; i < q->nterms; i++) {
        float best = 0;
        for (int a = 0; a < q->terms[i].nalt; a++) {
            struct qalt *x = &q->terms[i].alt[a];
            at[i][a] = !q->at ? alt_find(x, slot) : q->at[i] == AT_NONE ? NULL : &x->t->p[q->at[i]];
            if (at[i][a]) {
                float v = x->w * x->idf * (1.0f + (at[i][a]->tf[F_TITLE] ? TITLE_BONUS : 0.0f));
                if (v > best)
                    best = v;
            }
        }
        bound += best;
    }
    if (bound * 1.0001f * boost < floor)
        return false;
    /* match_score's arithmetic, on the postings found */
    float s = 0;
    for (int i = 0; i < q->nterms; i++) {
        float best = 0;
        for (int a = 0; a < q->terms[i].nalt; a++)
            if (at[i][a]) {
                float v = word_score(q, &q->terms[i].alt[a], flen, at[i][a]->tf, boost);
                if (v > best)
                    best = v;
            }
        s += best;
    }
    *score = s;
    return true;
}
