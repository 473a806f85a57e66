/* lexicon.c — terms, postings, words and the word trie (lexicon.h). */
#include "search/lexicon.h"

#include <stdlib.h>
#include <string.h>

#include "search/text.h"
#include "util/xalloc.h"

void lex_init(struct lexicon *lx)
{
    memset(lx, 0, sizeof *lx);
    intern_init(&lx->term_ix);
    intern_init(&lx->word_ix);
    lx->ncap = 1024;
    lx->nodes = xcalloc(lx->ncap, sizeof *lx->nodes);
    lx->nnodes = 1; /* the root */
}

void lex_free(struct lexicon *lx)
{
    for (uint32_t i = 0; i < lx->term_ix.n; i++)
        free(lx->terms[i].p);
    free(lx->terms);
    free(lx->words);
    free(lx->nodes);
    intern_free(&lx->term_ix);
    intern_free(&lx->word_ix);
    memset(lx, 0, sizeof *lx);
}

/* ---- trie ------------------------------------------------------------------ */

static uint32_t trie_child(const struct lexicon *lx, uint32_t node, unsigned char ch)
{
    for (uint32_t c = lx->nodes[node].child; c; c = lx->nodes[c].sibling)
        if (lx->nodes[c].ch == ch)
            return c;
    return 0;
}

static void trie_insert(struct lexicon *lx, const char *tok, size_t len, uint32_t word)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)tok[i];
        uint32_t c = trie_child(lx, node, ch);
        if (!c) {
            if (lx->nnodes == lx->ncap) {
                lx->ncap *= 2;
                lx->nodes = xrealloc(lx->nodes, lx->ncap * sizeof *lx->nodes);
            }
            c = lx->nnodes++;
            lx->nodes[c] = (struct tnode){.sibling = lx->nodes[node].child, .ch = ch};
            lx->nodes[node].child = c;
        }
        node = c;
    }
    lx->nodes[node].word = word + 1;
}

static uint32_t trie_find(const struct lexicon *lx, const char *s, size_t len)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len && node != UINT32_MAX; i++) {
        uint32_t c = trie_child(lx, node, (unsigned char)s[i]);
        node = c ? c : UINT32_MAX;
    }
    return node;
}

void lex_postings_trim(struct lexicon *lx)
{
    for (uint32_t i = 0; i < lx->term_ix.n; i++) {
        struct term *t = &lx->terms[i];
        if (t->cap > t->n && t->n > 0) {
            t->p = xrealloc(t->p, t->n * sizeof *t->p);
            t->cap = t->n;
        }
    }
}

void lex_trie_finish(struct lexicon *lx)
{
    /* Children always have larger indexes than their parent, so one pass
     * from the back sees every subtree before its root. */
    for (uint32_t n = lx->nnodes; n-- > 0;) {
        struct tnode *t = &lx->nodes[n];
        uint32_t m = t->word ? lx->words[t->word - 1].freq : 0;
        for (uint32_t c = t->child; c; c = lx->nodes[c].sibling)
            if (lx->nodes[c].maxf > m)
                m = lx->nodes[c].maxf;
        t->maxf = m;
    }
}

/* ---- words and terms -------------------------------------------------------- */

uint32_t lex_word_find(const struct lexicon *lx, const char *tok, size_t len)
{
    return intern_find(&lx->word_ix, tok, len);
}

uint32_t lex_term_find(const struct lexicon *lx, const char *stem, size_t len)
{
    return intern_find(&lx->term_ix, stem, len);
}

uint32_t lex_word_add(struct lexicon *lx, struct text_stemmers *sp, const char *tok, size_t len)
{
    int added;
    uint32_t w = intern_add(&lx->word_ix, tok, len, &added);
    if (!added)
        return w;
    if (w >= lx->wcap) {
        lx->wcap = lx->wcap ? lx->wcap * 2 : 1024;
        lx->words = xrealloc(lx->words, lx->wcap * sizeof *lx->words);
    }
    char stem[TEXT_TOKEN_MAX + 1];
    size_t sl = text_stem(sp, tok, len, stem);
    uint32_t t = intern_add(&lx->term_ix, stem, sl, &added);
    if (added) {
        if (t >= lx->tcap) {
            lx->tcap = lx->tcap ? lx->tcap * 2 : 1024;
            lx->terms = xrealloc(lx->terms, lx->tcap * sizeof *lx->terms);
        }
        lx->terms[t] = (struct term){0};
    }
    lx->words[w] = (struct word){.term = t, .freq = 0, .stop = text_is_stopword(tok, len)};
    trie_insert(lx, tok, len, w);
    return w;
}

void lex_word_count(struct lexicon *lx, uint32_t w, int delta, bool trie)
{
    struct word *wd = &lx->words[w];
    uint32_t f = wd->freq;
    f = delta < 0 && f < (uint32_t)-delta ? 0 : f + (uint32_t)delta;
    wd->freq = f > 0x7FFFFFFF ? 0x7FFFFFFF : f;
    if (!trie || delta <= 0)
        return;
    size_t len;
    const char *s = intern_str(&lx->word_ix, w, &len);
    uint32_t node = 0;
    if (lx->nodes[0].maxf < wd->freq)
        lx->nodes[0].maxf = wd->freq;
    for (size_t i = 0; i < len && node != UINT32_MAX; i++) {
        node = trie_child(lx, node, (unsigned char)s[i]);
        if (!node)
            return;
        if (lx->nodes[node].maxf < wd->freq)
            lx->nodes[node].maxf = wd->freq;
    }
}

/* ---- postings ---------------------------------------------------------------- */

uint32_t lex_posting_seek(const struct term *t, uint32_t from, uint32_t slot)
{
    uint32_t n = t->n;
    if (from >= n || t->p[from].slot >= slot)
        return from;
    /* Gallop: p[lo].slot < slot; find hi with p[hi].slot >= slot or hi = n. */
    uint32_t lo = from, step = 1, hi;
    for (;;) {
        hi = lo + step;
        if (hi >= n) {
            hi = n;
            break;
        }
        if (t->p[hi].slot >= slot)
            break;
        lo = hi;
        step *= 2;
    }
    while (lo + 1 < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->p[mid].slot < slot)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

void lex_posting_add(struct term *t, uint32_t slot, const uint8_t tf[NFIELDS])
{
    if (t->n == t->cap) {
        t->cap = t->cap < 4 ? 4 : t->cap + t->cap / 2;
        t->p = xrealloc(t->p, t->cap * sizeof *t->p);
    }
    uint32_t at = t->n;
    if (t->n && t->p[t->n - 1].slot > slot) {
        at = lex_posting_seek(t, 0, slot);
        memmove(&t->p[at + 1], &t->p[at], (t->n - at) * sizeof *t->p);
    }
    t->p[at].slot = slot;
    memcpy(t->p[at].tf, tf, NFIELDS);
    t->n++;
}

void lex_posting_del(struct term *t, uint32_t slot)
{
    uint32_t at = lex_posting_seek(t, 0, slot);
    if (at == t->n || t->p[at].slot != slot)
        return;
    memmove(&t->p[at], &t->p[at + 1], (t->n - at - 1) * sizeof *t->p);
    t->n--;
}

/* ---- prefix completion -------------------------------------------------------- */

#define PREFIX_HEAP 1024

struct pq {
    uint32_t key, node;
    bool is_word;
};

static bool pq_before(const struct pq *a, const struct pq *b)
{
    if (a->key != b->key)
        return a->key > b->key;
    if (a->is_word != b->is_word)
        return a->is_word; /* a word beats a subtree with the same bound */
    return a->node < b->node;
}

static void pq_push(struct pq *h, int *n, struct pq e)
{
    if (*n == PREFIX_HEAP)
        return; /* bounded: a huge fan-out loses its least promising tail */
    int i = (*n)++;
    while (i > 0 && pq_before(&e, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static struct pq pq_pop(struct pq *h, int *n)
{
    struct pq top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && pq_before(&h[c + 1], &h[c]))
            c++;
        if (!pq_before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

int lex_prefix(const struct lexicon *lx, const char *prefix, size_t len, uint32_t *out, int max)
{
    uint32_t start = trie_find(lx, prefix, len);
    if (start == UINT32_MAX || max <= 0)
        return 0;
    struct pq heap[PREFIX_HEAP];
    int nh = 0, found = 0;
    pq_push(heap, &nh, (struct pq){lx->nodes[start].maxf, start, false});
    while (nh > 0 && found < max) {
        struct pq e = pq_pop(heap, &nh);
        if (e.key == 0)
            break;
        if (e.is_word) {
            out[found++] = lx->nodes[e.node].word - 1;
            continue;
        }
        const struct tnode *t = &lx->nodes[e.node];
        if (t->word && lx->words[t->word - 1].freq > 0)
            pq_push(heap, &nh, (struct pq){lx->words[t->word - 1].freq, e.node, true});
        for (uint32_t c = t->child; c; c = lx->nodes[c].sibling)
            if (lx->nodes[c].maxf > 0)
                pq_push(heap, &nh, (struct pq){lx->nodes[c].maxf, c, false});
    }
    return found;
}

/* ---- typo correction ----------------------------------------------------------- */

#define ROW (TEXT_TOKEN_MAX + 1)

struct typo {
    const struct lexicon *lx;
    const unsigned char *q;
    int qlen, maxd;
    uint32_t best;
    int best_dist;
    uint32_t best_freq;
};

static void typo_consider(struct typo *t, uint32_t w, int dist)
{
    uint32_t f = t->lx->words[w].freq;
    if (f == 0)
        return;
    if (t->best != MAP_NONE) {
        if (dist > t->best_dist)
            return;
        if (dist == t->best_dist) {
            if (f < t->best_freq)
                return;
            if (f == t->best_freq) {
                size_t la, lb;
                const char *a = intern_str(&t->lx->word_ix, w, &la);
                const char *b = intern_str(&t->lx->word_ix, t->best, &lb);
                if (strcmp(a, b) >= 0)
                    return;
            }
        }
    }
    t->best = w;
    t->best_dist = dist;
    t->best_freq = f;
}

/* Rows of the edit-distance table along one trie path: `prev` is the row of
 * the node's string, `prev2` its parent's, `pch` the node's own byte. */
static void typo_walk(struct typo *t, uint32_t node, int depth, const int *prev2, const int *prev,
                      int pch)
{
    const struct lexicon *lx = t->lx;
    for (uint32_t c = lx->nodes[node].child; c; c = lx->nodes[c].sibling) {
        const struct tnode *n = &lx->nodes[c];
        if (n->maxf == 0)
            continue;
        int row[ROW];
        int i = depth + 1, best = row[0] = i;
        for (int j = 1; j <= t->qlen; j++) {
            int cost = t->q[j - 1] == n->ch ? 0 : 1;
            int v = prev[j] + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && t->q[j - 1] == pch && t->q[j - 2] == n->ch &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            row[j] = v;
            if (v < best)
                best = v;
        }
        if (n->word && row[t->qlen] <= t->maxd)
            typo_consider(t, n->word - 1, row[t->qlen]);
        int bound = t->best != MAP_NONE && t->best_dist < t->maxd ? t->best_dist : t->maxd;
        if (best <= bound && depth + 1 < TEXT_TOKEN_MAX)
            typo_walk(t, c, depth + 1, prev, row, n->ch);
    }
}

uint32_t lex_correct(const struct lexicon *lx, const char *tok, size_t len, int maxd, int *dist)
{
    if (len == 0 || len > TEXT_TOKEN_MAX || maxd <= 0)
        return MAP_NONE;
    struct typo t = {.lx = lx,
                     .q = (const unsigned char *)tok,
                     .qlen = (int)len,
                     .maxd = maxd,
                     .best = MAP_NONE};
    int row0[ROW];
    for (int j = 0; j <= t.qlen; j++)
        row0[j] = j;
    typo_walk(&t, 0, 0, row0, row0, -1);
    if (t.best != MAP_NONE && dist)
        *dist = t.best_dist;
    return t.best;
}

size_t lex_bytes(const struct lexicon *lx)
{
    size_t b = intern_bytes(&lx->term_ix) + intern_bytes(&lx->word_ix);
    b += lx->tcap * sizeof *lx->terms + lx->wcap * sizeof *lx->words;
    b += lx->ncap * sizeof *lx->nodes;
    for (uint32_t i = 0; i < lx->term_ix.n; i++)
        b += lx->terms[i].cap * sizeof(struct posting);
    return b;
}
