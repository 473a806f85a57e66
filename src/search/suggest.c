/* suggest.c — completions for what someone is typing (search.h:
 * search_suggest).
 *
 * Three sources, in this order:
 *  - popular queries that start with the normalised prefix (qlog.c: only
 *    queries that found something, run at least min_count times — so one
 *    person's query is never shown to others);
 *  - when the prefix is one unfinished word and few popular queries match,
 *    the most frequent words it begins ("wirel" → wireless), at most two;
 *  - product titles that contain every complete word of the prefix and a
 *    word beginning with the last, unfinished one ("wireless headph" →
 *    titles with "wireless" and a word starting "headph"), best sellers
 *    first.
 * Duplicates (ignoring case and accents) are dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "search/engine.h"
#include "search/qlog.h"
#include "search/text.h"
#include "util/arena.h"

#define PREFIX_WORDS     16 /* completions of the unfinished word that are tried */
#define MAX_TOKENS       8
#define WORD_COMPLETIONS 2 /* words completing a one-word prefix */

struct ranked {
    uint32_t slot;
    int64_t sales;
    int32_t ratings;
    int64_t id;
};

static bool ranked_before(const struct ranked *a, const struct ranked *b)
{
    if (a->sales != b->sales)
        return a->sales > b->sales;
    if (a->ratings != b->ratings)
        return a->ratings > b->ratings;
    return a->id < b->id;
}

/* Keeps the best `k` in `top` (sorted), ignoring a slot already there. */
static void offer(struct ranked *top, int *n, int k, const struct doc *d, uint32_t slot)
{
    struct ranked r = {slot, d->sales, d->rating_count, d->id};
    if (*n == k && !ranked_before(&r, &top[k - 1]))
        return;
    for (int i = 0; i < *n; i++)
        if (top[i].slot == slot)
            return;
    int at = *n < k ? (*n)++ : k - 1;
    while (at > 0 && ranked_before(&r, &top[at - 1])) {
        top[at] = top[at - 1];
        at--;
    }
    top[at] = r;
}

static bool in_title(const struct term *t, uint32_t *pos, uint32_t slot)
{
    *pos = lex_posting_seek(t, *pos, slot);
    return *pos < t->n && t->p[*pos].slot == slot && t->p[*pos].tf[F_TITLE] > 0;
}

/* Whether `slot` has `t` in its title: its bit first when the term is dense
 * (most candidates of a rare combination fail there), then its posting. */
static bool title_has(const struct index *ix, const struct term *t, uint32_t slot)
{
    uint32_t id = (uint32_t)(t - ix->lx.terms);
    if (id < ix->tdcap && ix->td[id].bits && !derived_has(ix->td[id].bits, slot))
        return false;
    uint32_t pos = 0;
    return in_title(t, &pos, slot);
}

static const uint32_t *tord_of(const struct index *ix, const struct term *t, uint32_t *n)
{
    uint32_t id = (uint32_t)(t - ix->lx.terms);
    const uint32_t *l = id < ix->tdcap ? ix->td[id].tord : NULL;
    *n = l ? ix->td[id].ntitle : 0;
    return l;
}

/* Whether the term's title documents are all in its title list (a term in
 * few titles has none; derived.c). */
static bool tracked(const struct index *ix, const struct term *t)
{
    uint32_t id = (uint32_t)(t - ix->lx.terms);
    return id >= ix->tdcap || ix->td[id].tord || ix->td[id].ntitle == 0;
}

#define WALK_BUDGET 4096 /* candidates looked at in order before walking postings instead */

/* The title lists (derived.c) of the `nb` terms in `base`, merged in
 * suggestion order; a document is kept when its title also has every term
 * of `need` and, with `any`, one of the `nany` terms there. Stops after `k`
 * titles; returns -1 after WALK_BUDGET candidates (the caller walks the
 * postings instead). */
static int titles_ordered(const struct index *ix, const struct term *const *base, int nb,
                          const struct term *const *need, int nneed, const struct term *const *any,
                          int nany, struct ranked *top, int k)
{
    const uint32_t *list[PREFIX_WORDS];
    uint32_t len[PREFIX_WORDS], pos[PREFIX_WORDS] = {0};
    for (int b = 0; b < nb; b++)
        list[b] = tord_of(ix, base[b], &len[b]);
    int ntop = 0, budget = WALK_BUDGET;
    while (ntop < k) {
        int best = -1;
        for (int b = 0; b < nb; b++)
            if (pos[b] < len[b] && (best < 0 || sugg_before(&ix->docs[list[b][pos[b]]],
                                                            &ix->docs[list[best][pos[best]]])))
                best = b;
        if (best < 0)
            break;
        uint32_t slot = list[best][pos[best]];
        for (int b = 0; b < nb; b++) /* the same document in another completion's list */
            if (pos[b] < len[b] && list[b][pos[b]] == slot)
                pos[b]++;
        if (budget-- == 0)
            return -1;
        bool ok = true;
        for (int j = 0; j < nneed && ok; j++)
            ok = title_has(ix, need[j], slot);
        if (ok && nany) {
            ok = false;
            for (int j = 0; j < nany && !ok; j++)
                ok = title_has(ix, any[j], slot);
        }
        if (ok) {
            const struct doc *d = &ix->docs[slot];
            top[ntop++] = (struct ranked){slot, d->sales, d->rating_count, d->id};
        }
    }
    return ntop;
}

/* Titles for the prefix, under the read lock. Returns how many in `top`.
 * `reference`: always the exhaustive walk of the postings (tests). */
static int titles(const struct index *ix, char stems[][TEXT_TOKEN_MAX + 1], const size_t *slen,
                  int ncomplete, const char *partial, size_t plen, struct ranked *top, int k,
                  bool reference)
{
    const struct lexicon *lx = &ix->lx;
    const struct term *need[MAX_TOKENS];
    int nneed = 0;
    for (int i = 0; i < ncomplete; i++) {
        uint32_t t = lex_term_find(lx, stems[i], slen[i]);
        if (t == MAP_NONE || lx->terms[t].n == 0)
            return 0;
        need[nneed++] = &lx->terms[t];
    }
    const struct term *base[PREFIX_WORDS];
    int nbase = 0;
    if (plen) {
        uint32_t ws[PREFIX_WORDS];
        int n = lex_prefix(lx, partial, plen, ws, PREFIX_WORDS);
        for (int i = 0; i < n; i++) {
            const struct term *t = &lx->terms[lx->words[ws[i]].term];
            bool dup = false;
            for (int j = 0; j < nbase && !dup; j++)
                dup = base[j] == t;
            if (!dup)
                base[nbase++] = t;
        }
    } else if (nneed) {
        /* No unfinished word: walk the rarest complete word. */
        int r = 0;
        for (int i = 1; i < nneed; i++)
            if (need[i]->n < need[r]->n)
                r = i;
        base[nbase++] = need[r];
    }
    bool all_tracked = true;
    for (int b = 0; b < nbase; b++)
        all_tracked &= tracked(ix, base[b]);
    if (!reference && nbase && all_tracked) {
        /* In suggestion order the first k titles that qualify are the
         * answer. When a complete word's title list is much shorter than
         * the completions' together, it drives and "a completion in the
         * title" becomes one more check. */
        uint32_t nb_titles = 0, n, best = UINT32_MAX;
        for (int b = 0; b < nbase; b++) {
            tord_of(ix, base[b], &n);
            nb_titles += n;
        }
        int r = -1;
        for (int i = 0; i < nneed; i++) {
            if (!tracked(ix, need[i]))
                continue;
            tord_of(ix, need[i], &n);
            if (n < best) {
                best = n;
                r = i;
            }
        }
        int ntop;
        if (plen && r >= 0 && best < nb_titles / 4) {
            const struct term *drv[1] = {need[r]}, *rest[MAX_TOKENS];
            int nrest = 0;
            for (int i = 0; i < nneed; i++)
                if (i != r)
                    rest[nrest++] = need[i];
            ntop = titles_ordered(ix, drv, 1, rest, nrest, base, nbase, top, k);
        } else {
            ntop = titles_ordered(ix, base, nbase, need, nneed, NULL, 0, top, k);
        }
        if (ntop >= 0)
            return ntop;
    }
    int ntop = 0;
    for (int b = 0; b < nbase; b++) {
        uint32_t pos[MAX_TOKENS] = {0};
        for (uint32_t i = 0; i < base[b]->n; i++) {
            const struct posting *p = &base[b]->p[i];
            /* The walk is bound by loading rows at random: ask for them early. */
            if (i + 16 < base[b]->n && base[b]->p[i + 16].tf[F_TITLE])
                __builtin_prefetch(&ix->docs[base[b]->p[i + 16].slot]);
            if (!p->tf[F_TITLE])
                continue;
            bool ok = true;
            for (int j = 0; j < nneed && ok; j++)
                ok = in_title(need[j], &pos[j], p->slot);
            if (ok)
                offer(top, &ntop, k, &ix->docs[p->slot], p->slot);
        }
    }
    return ntop;
}

static bool seen_text(const struct search_suggestion *out, int n, const char *folded)
{
    for (int i = 0; i < n; i++) {
        char f[4 * 256];
        text_fold(out[i].text, strlen(out[i].text), f, sizeof f);
        if (!strcmp(f, folded))
            return true;
    }
    return false;
}

int search_suggest(struct search *s, const char *prefix, int limit, struct arena *a,
                   struct search_suggestion **out, uint64_t *version)
{
    if (limit < 1)
        limit = 1;
    if (limit > SEARCH_SUGGESTIONS)
        limit = SEARCH_SUGGESTIONS;
    struct search_suggestion *res = arena_alloc(a, (size_t)limit * sizeof *res);
    *out = res;

    /* Words: complete ones (stemmed, stop words skipped) and the unfinished last. */
    char toks[MAX_TOKENS][TEXT_TOKEN_MAX + 1], stems[MAX_TOKENS][TEXT_TOKEN_MAX + 1];
    size_t tlen[MAX_TOKENS], slen[MAX_TOKENS];
    int ntok = 0, ncomplete = 0;
    bool last_partial = false;
    char norm[4 * SEARCH_PREFIX_MAX + 8];
    size_t nl = 0;
    struct text_iter it;
    text_iter_init(&it, prefix, strlen(prefix));
    while (ntok < MAX_TOKENS) {
        bool partial;
        size_t n = text_next(&it, toks[ntok], &partial);
        if (!n)
            break;
        tlen[ntok] = n;
        last_partial = partial;
        if (nl + n + 2 < sizeof norm) {
            if (nl)
                norm[nl++] = ' ';
            memcpy(norm + nl, toks[ntok], n);
            nl += n;
        }
        ntok++;
    }
    if (ntok == 0)
        return 0;
    if (!last_partial && nl + 1 < sizeof norm)
        norm[nl++] = ' ';
    norm[nl] = '\0';
    const char *partial = last_partial ? toks[ntok - 1] : "";
    size_t plen = last_partial ? tlen[ntok - 1] : 0;
    for (int i = 0; i < ntok - (last_partial ? 1 : 0); i++) {
        if (text_is_stopword(toks[i], tlen[i]))
            continue;
        slen[ncomplete] = text_stem(s->stem, toks[i], tlen[i], stems[ncomplete]);
        ncomplete++;
    }

    /* Popular queries: up to half the list now, the rest if titles run short. */
    const char *qs[SEARCH_SUGGESTIONS];
    int nq = qlog_prefix(s->qlog, norm, nl, limit, a, qs), used_q = 0, n = 0;
    for (; used_q < nq && n < (limit + 1) / 2; used_q++)
        res[n++] = (struct search_suggestion){.text = qs[used_q]};

    struct ranked top[2 * SEARCH_SUGGESTIONS];
    pthread_rwlock_rdlock(&s->lock);
    *version = atomic_load(&s->version);
    if (ntok == 1 && plen && nq < 2) {
        uint32_t ws[WORD_COMPLETIONS];
        int nw = lex_prefix(&s->ix->lx, partial, plen, ws, WORD_COMPLETIONS);
        for (int i = 0; i < nw && n < limit; i++) {
            const char *w = intern_str(&s->ix->lx.word_ix, ws[i], NULL);
            if (strcmp(w, partial) && !seen_text(res, n, w))
                res[n++] = (struct search_suggestion){.text = arena_strdup(a, w)};
        }
    }
    int nt = titles(s->ix, stems, slen, ncomplete, partial, plen, top, 2 * limit, s->reference);
    for (int i = 0; i < nt && n < limit; i++) {
        const char *title = doc_title(&s->ix->text[top[i].slot]);
        char f[4 * 256];
        text_fold(title, strlen(title), f, sizeof f);
        if (seen_text(res, n, f))
            continue;
        res[n++] = (struct search_suggestion){.text = arena_strdup(a, title),
                                              .product_id = s->ix->docs[top[i].slot].id};
    }
    pthread_rwlock_unlock(&s->lock);
    for (; used_q < nq && n < limit; used_q++)
        res[n++] = (struct search_suggestion){.text = qs[used_q]};
    return n;
}
