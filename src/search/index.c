/* index.c — documents in slots: insert, replace, remove; the category tree
 * and brands (index.h). The SQL that feeds it is in load.c.
 */
#include "search/index.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/text.h"
#include "util/xalloc.h"

struct index *index_new(void)
{
    struct index *ix = xcalloc(1, sizeof *ix);
    lex_init(&ix->lx);
    idmap_init(&ix->by_id);
    idmap_init(&ix->cat_by_id);
    intern_init(&ix->brand_ix);
    derived_score_ia(ix, ix->score_ia);
    return ix;
}

void index_free(struct index *ix)
{
    if (!ix)
        return;
    for (uint32_t i = 0; i < ix->nslots; i++) {
        free(ix->text[i].strings);
        free(ix->text[i].words);
    }
    free(ix->docs);
    free(ix->col);
    free(ix->sb);
    free(ix->price);
    for (uint32_t i = 0; i < ix->nbdocs; i++)
        free(ix->bdocs[i].docs);
    free(ix->bdocs);
    free(ix->text);
    free(ix->free_slots);
    idmap_free(&ix->by_id);
    for (uint32_t i = 0; i < ix->ncats; i++) {
        free(ix->cats[i].name);
        free(ix->cats[i].docs);
        for (int o = 0; o < NORDERS; o++)
            free(ix->cats[i].ord[o]);
        free(ix->cats[i].brands);
        free(ix->cats[i].sbrands);
    }
    free(ix->cats);
    free(ix->cat_at_pre);
    idmap_free(&ix->cat_by_id);
    for (uint32_t i = 0; i < ix->brand_ix.n; i++)
        free(ix->brand_name[i]);
    free(ix->brand_name);
    intern_free(&ix->brand_ix);
    free(ix->wstamp);
    free(ix->wpos);
    free(ix->tstamp);
    free(ix->tpos);
    derived_free(ix);
    free(ix->dw);
    free(ix->dt);
    lex_free(&ix->lx);
    free(ix);
}

uint32_t index_cat(const struct index *ix, int64_t id)
{
    return idmap_get(&ix->cat_by_id, id);
}

/* ---- small sorted sets of slots (category members) ---------------------------- */

static uint32_t slots_lower(const uint32_t *a, uint32_t n, uint32_t v)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const int64_t index_price_edges[PRICE_BUCKETS] = {0,     1000,  2500,   5000,  10000,
                                                  25000, 50000, 100000, 250000};

static uint8_t price_bucket(int64_t price)
{
    int b = PRICE_BUCKETS - 1;
    while (b > 0 && price < index_price_edges[b])
        b--;
    return (uint8_t)b;
}

static uint8_t star_level(const struct doc *d)
{
    if (d->rating_count <= 0)
        return 0;
    uint8_t s = 4;
    while (s > 0 && (int64_t)d->rating_sum < (int64_t)s * d->rating_count)
        s--;
    return s;
}

uint32_t index_ord_lower(const struct index *ix, const uint32_t *ord, uint32_t n, int sort,
                         int64_t k1, int64_t k2)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t m1, m2;
        doc_sort_key(sort, &ix->docs[ord[mid]], &m1, &m2);
        if (key_less(m1, m2, k1, k2))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ord_insert(const struct index *ix, struct cat *c, int o, uint32_t slot)
{
    int64_t k1, k2;
    doc_sort_key(o + 1, &ix->docs[slot], &k1, &k2);
    uint32_t *ord = c->ord[o], n = c->ndocs - 1; /* ndocs already counts the new one */
    uint32_t at = index_ord_lower(ix, ord, n, o + 1, k1, k2);
    memmove(&ord[at + 1], &ord[at], (n - at) * sizeof *ord);
    ord[at] = slot;
}

/* Removes `slot`, whose key is (k1, k2), from order `o` (n entries). */
static void ord_remove(const struct index *ix, struct cat *c, int o, uint32_t n, uint32_t slot,
                       int64_t k1, int64_t k2)
{
    uint32_t *ord = c->ord[o];
    uint32_t at = index_ord_lower(ix, ord, n, o + 1, k1, k2);
    if (at >= n || ord[at] != slot) { /* not where its key says: search (never expected) */
        for (at = 0; at < n && ord[at] != slot; at++)
            ;
        if (at == n)
            return;
    }
    memmove(&ord[at], &ord[at + 1], (n - at - 1) * sizeof *ord);
}

/* Adds `delta` to `brand`'s count in a list sorted by brand. */
static void brand_account(struct bcount **list, uint32_t *n, uint32_t *cap, uint32_t brand,
                          int delta)
{
    struct bcount *b = *list;
    uint32_t lo = 0, hi = *n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b[mid].brand < brand)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && b[lo].brand == brand) {
        b[lo].n += (uint32_t)delta;
        return;
    }
    if (delta < 0)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *list = b = xrealloc(b, *cap * sizeof *b);
    }
    memmove(&b[lo + 1], &b[lo], (*n - lo) * sizeof *b);
    b[lo] = (struct bcount){brand, (uint32_t)delta};
    (*n)++;
}

static void stock_account(struct cat *c, const struct doc *d, int delta)
{
    brand_account(&c->sbrands, &c->nsbrands, &c->sbcap, d->brand, delta);
    c->sprices[price_bucket(d->price)] += (uint32_t)delta;
    c->sstars[star_level(d)] += (uint32_t)delta;
    c->nstocked += (uint32_t)delta;
}

/* Adds (+1) or takes away (-1) a document's facet counts in its category. */
static void facet_account(struct cat *c, const struct doc *d, int delta)
{
    brand_account(&c->brands, &c->nbrands, &c->bcap, d->brand, delta);
    c->prices[price_bucket(d->price)] += (uint32_t)delta;
    c->stars[star_level(d)] += (uint32_t)delta;
    if (d->in_stock)
        stock_account(c, d, delta);
}

void index_stock_counts_build(struct index *ix)
{
    for (uint32_t i = 0; i < ix->ncats; i++) {
        struct cat *c = &ix->cats[i];
        c->nsbrands = c->nstocked = 0;
        memset(c->sprices, 0, sizeof c->sprices);
        memset(c->sstars, 0, sizeof c->sstars);
    }
    for (uint32_t s = 0; s < ix->nslots; s++) {
        const struct doc *d = &ix->docs[s];
        if (d->live && d->in_stock)
            stock_account(&ix->cats[d->cat], d, +1);
    }
}

/* Recomputes the column of `slot` from its document. */
static void col_sync(struct index *ix, uint32_t slot)
{
    const struct doc *d = &ix->docs[slot];
    ix->col[slot] = (struct dcol){.id = d->id,
                                  .cat = d->cat,
                                  .brand = d->brand,
                                  .boost = d->boost,
                                  .flen = {d->flen[0], d->flen[1], d->flen[2], d->flen[3]},
                                  .pbucket = price_bucket(d->price),
                                  .stars = star_level(d),
                                  .in_stock = d->in_stock,
                                  .live = d->live};
    ix->sb[slot] = derived_sb(d);
    ix->price[slot] = price_col(d->price);
}

/* A live document enters its brand's list (slots ascending). */
static void brand_doc_add(struct index *ix, uint32_t slot, uint32_t brand)
{
    if (brand >= ix->nbdocs) {
        uint32_t n = ix->nbdocs ? ix->nbdocs : 64;
        while (n <= brand)
            n *= 2;
        ix->bdocs = xrealloc(ix->bdocs, n * sizeof *ix->bdocs);
        memset(ix->bdocs + ix->nbdocs, 0, (n - ix->nbdocs) * sizeof *ix->bdocs);
        ix->nbdocs = n;
    }
    struct brand_docs *b = &ix->bdocs[brand];
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->docs = xrealloc(b->docs, b->cap * sizeof *b->docs);
    }
    uint32_t at = b->n && b->docs[b->n - 1] > slot ? slots_lower(b->docs, b->n, slot) : b->n;
    memmove(&b->docs[at + 1], &b->docs[at], (b->n - at) * sizeof *b->docs);
    b->docs[at] = slot;
    b->n++;
}

static void brand_doc_del(struct index *ix, uint32_t slot, uint32_t brand)
{
    if (brand >= ix->nbdocs)
        return;
    struct brand_docs *b = &ix->bdocs[brand];
    uint32_t at = slots_lower(b->docs, b->n, slot);
    if (at >= b->n || b->docs[at] != slot)
        return;
    memmove(&b->docs[at], &b->docs[at + 1], (b->n - at - 1) * sizeof *b->docs);
    b->n--;
}

void index_brand_docs_build(struct index *ix)
{
    for (uint32_t i = 0; i < ix->nbdocs; i++)
        ix->bdocs[i].n = 0;
    for (uint32_t s = 0; s < ix->nslots; s++)
        if (ix->docs[s].live)
            brand_doc_add(ix, s, ix->docs[s].brand);
}

/* A live document enters its category: members, orders, facet counts.
 * `bulk` appends to the orders (index_orders_finish sorts them). */
static void cat_doc_add(struct index *ix, uint32_t slot, bool bulk)
{
    const struct doc *d = &ix->docs[slot];
    struct cat *c = &ix->cats[d->cat];
    if (c->ndocs == c->dcap) {
        c->dcap = c->dcap ? c->dcap * 2 : 16;
        c->docs = xrealloc(c->docs, c->dcap * sizeof *c->docs);
        for (int o = 0; o < NORDERS; o++)
            c->ord[o] = xrealloc(c->ord[o], c->dcap * sizeof *c->ord[o]);
    }
    uint32_t at =
        c->ndocs && c->docs[c->ndocs - 1] > slot ? slots_lower(c->docs, c->ndocs, slot) : c->ndocs;
    memmove(&c->docs[at + 1], &c->docs[at], (c->ndocs - at) * sizeof *c->docs);
    c->docs[at] = slot;
    c->ndocs++;
    for (int o = 0; o < NORDERS; o++) {
        if (bulk)
            c->ord[o][c->ndocs - 1] = slot;
        else
            ord_insert(ix, c, o, slot);
    }
    facet_account(c, d, +1);
    if (!bulk) /* a bulk load lists brands at the end (index_derived_build) */
        brand_doc_add(ix, slot, d->brand);
}

struct keyed {
    int64_t k1, k2;
    uint32_t slot;
};

static int keyed_cmp(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    return key_less(x->k1, x->k2, y->k1, y->k2) ? -1 : key_less(y->k1, y->k2, x->k1, x->k2);
}

void index_orders_finish(struct index *ix)
{
    /* Arrays grown by doubling give back their slack. */
    if (ix->nslots && ix->scap > ix->nslots) {
        ix->scap = ix->nslots;
        ix->docs = xrealloc(ix->docs, ix->scap * sizeof *ix->docs);
        ix->col = xrealloc(ix->col, ix->scap * sizeof *ix->col);
        ix->sb = xrealloc(ix->sb, ix->scap * sizeof *ix->sb);
        ix->price = xrealloc(ix->price, ix->scap * sizeof *ix->price);
        ix->text = xrealloc(ix->text, ix->scap * sizeof *ix->text);
    }
    struct keyed *tmp = NULL;
    uint32_t cap = 0;
    for (uint32_t i = 0; i < ix->ncats; i++) {
        struct cat *c = &ix->cats[i];
        if (c->ndocs && c->dcap > c->ndocs) {
            c->dcap = c->ndocs;
            c->docs = xrealloc(c->docs, c->dcap * sizeof *c->docs);
            for (int o = 0; o < NORDERS; o++)
                c->ord[o] = xrealloc(c->ord[o], c->dcap * sizeof *c->ord[o]);
        }
        if (c->ndocs < 2)
            continue;
        if (c->ndocs > cap) {
            cap = c->ndocs;
            tmp = xrealloc(tmp, cap * sizeof *tmp);
        }
        for (int o = 0; o < NORDERS; o++) {
            for (uint32_t j = 0; j < c->ndocs; j++) {
                tmp[j].slot = c->docs[j];
                doc_sort_key(o + 1, &ix->docs[c->docs[j]], &tmp[j].k1, &tmp[j].k2);
            }
            qsort(tmp, c->ndocs, sizeof *tmp, keyed_cmp);
            for (uint32_t j = 0; j < c->ndocs; j++)
                c->ord[o][j] = tmp[j].slot;
        }
    }
    free(tmp);
}

/* A document leaves its category; `d` holds the attributes it entered with. */
static void cat_doc_del(struct index *ix, uint32_t slot, const struct doc *d)
{
    struct cat *c = &ix->cats[d->cat];
    uint32_t at = slots_lower(c->docs, c->ndocs, slot);
    if (at >= c->ndocs || c->docs[at] != slot)
        return;
    memmove(&c->docs[at], &c->docs[at + 1], (c->ndocs - at - 1) * sizeof *c->docs);
    for (int o = 0; o < NORDERS; o++) {
        int64_t k1, k2;
        doc_sort_key(o + 1, d, &k1, &k2);
        ord_remove(ix, c, o, c->ndocs, slot, k1, k2);
    }
    c->ndocs--;
    facet_account(c, d, -1);
    brand_doc_del(ix, slot, d->brand);
}

/* A live document's attributes changed in place (`old` before): moves it in
 * the orders whose key changed and fixes the facet counts. */
static void cat_doc_update(struct index *ix, uint32_t slot, const struct doc *old)
{
    const struct doc *d = &ix->docs[slot];
    struct cat *c = &ix->cats[d->cat];
    for (int o = 0; o < NORDERS; o++) {
        int64_t a1, a2, b1, b2;
        doc_sort_key(o + 1, old, &a1, &a2);
        doc_sort_key(o + 1, d, &b1, &b2);
        if (a1 == b1 && a2 == b2)
            continue;
        ord_remove(ix, c, o, c->ndocs, slot, a1, a2);
        ord_insert(ix, c, o, slot);
    }
    if (old->brand != d->brand || price_bucket(old->price) != price_bucket(d->price) ||
        star_level(old) != star_level(d) || old->in_stock != d->in_stock) {
        facet_account(c, old, -1);
        facet_account(c, d, +1);
    }
}

/* ---- brands ----------------------------------------------------------------- */

static uint32_t brand_id(struct index *ix, const char *brand)
{
    char key[256];
    size_t n = text_fold(brand, strlen(brand), key, sizeof key);
    int added;
    uint32_t b = intern_add(&ix->brand_ix, key, n, &added);
    if (added) {
        if (b >= ix->bcap) {
            ix->bcap = ix->bcap ? ix->bcap * 2 : 64;
            ix->brand_name = xrealloc(ix->brand_name, ix->bcap * sizeof *ix->brand_name);
        }
        ix->brand_name[b] = xstrdup(brand);
    }
    return b;
}

/* ---- slots --------------------------------------------------------------------- */

static uint32_t slot_alloc(struct index *ix)
{
    if (ix->nfree)
        return ix->free_slots[--ix->nfree];
    if (ix->nslots == ix->scap) {
        ix->scap = ix->scap ? ix->scap * 2 : 1024;
        ix->docs = xrealloc(ix->docs, ix->scap * sizeof *ix->docs);
        ix->col = xrealloc(ix->col, ix->scap * sizeof *ix->col);
        ix->sb = xrealloc(ix->sb, ix->scap * sizeof *ix->sb);
        ix->price = xrealloc(ix->price, ix->scap * sizeof *ix->price);
        ix->text = xrealloc(ix->text, ix->scap * sizeof *ix->text);
        derived_slots_grown(ix);
    }
    uint32_t s = ix->nslots++;
    memset(&ix->docs[s], 0, sizeof ix->docs[s]);
    memset(&ix->col[s], 0, sizeof ix->col[s]);
    memset(&ix->text[s], 0, sizeof ix->text[s]);
    return s;
}

static void slot_release(struct index *ix, uint32_t s)
{
    if (ix->nfree == ix->fcap) {
        ix->fcap = ix->fcap ? ix->fcap * 2 : 64;
        ix->free_slots = xrealloc(ix->free_slots, ix->fcap * sizeof *ix->free_slots);
    }
    ix->free_slots[ix->nfree++] = s;
}

/* ---- documents ------------------------------------------------------------------ */

/* The relevance multiplier of a document: being in stock, a good rating
 * from enough reviews, and sales (log-scaled, saturating at 10,000). */
static float doc_boost(const struct doc *d)
{
    double b = 1.0;
    if (d->in_stock)
        b += 0.12;
    if (d->rating_count >= 3) {
        double avg = (double)d->rating_sum / d->rating_count;
        double r = (avg - 2.5) / 2.5;
        b += 0.08 * (r < 0 ? 0 : r > 1 ? 1 : r);
    }
    if (d->sales > 0) {
        double p = log1p((double)d->sales) / log1p(10000.0);
        b += 0.08 * (p > 1 ? 1 : p);
    }
    return (float)b;
}

static uint64_t text_hash(const struct doc_src *src)
{
    uint64_t h = hash_bytes(src->title, strlen(src->title));
    h = h * 31 + hash_bytes(src->brand, strlen(src->brand));
    h = h * 31 + hash_bytes(src->description, strlen(src->description));
    return h * 31 + (uint64_t)src->category_id;
}

/* The first URL of the images JSON array, or NULL. */
static char *first_image(const char *images)
{
    json_error_t e;
    json_t *a = json_loads(images ? images : "[]", JSON_REJECT_DUPLICATES, &e);
    char *url = NULL;
    if (json_is_array(a) && json_is_string(json_array_get(a, 0)))
        url = xstrdup(json_string_value(json_array_get(a, 0)));
    json_decref(a);
    return url;
}

/* The length of `s` cut to at most `max` bytes at a UTF-8 character boundary. */
static size_t text_cut_utf8(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* Fills the display strings of `t` in one block; true when they differ from
 * what `t` held. */
static bool text_set_strings(struct doc_text *t, const struct doc_src *src)
{
    char *img = first_image(src->images);
    /* Offsets are 16 bits: a title and a brand within the catalog's limits
     * are far shorter; anything longer is cut at a character boundary. */
    size_t lt = text_cut_utf8(src->title, 30000) + 1, lb = text_cut_utf8(src->brand, 30000) + 1,
           lc = text_cut_utf8(src->currency, 16) + 1, li = img ? strlen(img) + 1 : 0;
    char *blk = xmalloc(lt + lb + lc + li);
    memcpy(blk, src->title, lt - 1);
    blk[lt - 1] = '\0';
    memcpy(blk + lt, src->brand, lb - 1);
    blk[lt + lb - 1] = '\0';
    memcpy(blk + lt + lb, src->currency, lc - 1);
    blk[lt + lb + lc - 1] = '\0';
    if (img)
        memcpy(blk + lt + lb + lc, img, li);
    free(img);
    bool same = t->strings && !strcmp(doc_title(t), blk) && !strcmp(doc_brand(t), blk + lt) &&
                !strcmp(doc_currency(t), blk + lt + lb) &&
                (img ? doc_image(t) && !strcmp(doc_image(t), blk + lt + lb + lc) : !doc_image(t));
    if (same) {
        free(blk);
        return false;
    }
    free(t->strings);
    t->strings = blk;
    t->obrand = (uint16_t)lt;
    t->ocurrency = (uint16_t)(lt + lb);
    t->oimage = li ? (uint16_t)(lt + lb + lc) : 0;
    return true;
}

/* Sets the attributes; INDEX_CHANGED when a shown one differs, INDEX_SALES
 * when only the sales count does, INDEX_SAME otherwise. */
static enum index_change doc_set_attrs(struct doc *d, const struct doc_src *src)
{
    struct doc old = *d;
    d->id = src->id;
    d->price = src->price;
    d->created_at = src->created_at;
    d->sales = src->sales;
    d->rating_sum = src->rating_sum;
    d->rating_count = src->rating_count;
    d->in_stock = src->in_stock;
    d->boost = doc_boost(d);
    if (old.price != d->price || old.created_at != d->created_at ||
        old.rating_sum != d->rating_sum || old.rating_count != d->rating_count ||
        old.in_stock != d->in_stock || old.id != d->id)
        return INDEX_CHANGED;
    return old.sales != d->sales ? INDEX_SALES : INDEX_SAME;
}

static void stamps_reserve(uint32_t **stamp, uint32_t **pos, uint32_t *cap, uint32_t n)
{
    if (n <= *cap)
        return;
    uint32_t c = *cap ? *cap : 1024;
    while (c < n)
        c *= 2;
    *stamp = xrealloc(*stamp, c * sizeof **stamp);
    *pos = xrealloc(*pos, c * sizeof **pos);
    memset(*stamp + *cap, 0, (c - *cap) * sizeof **stamp);
    *cap = c;
}

static void next_seq(struct index *ix)
{
    if (++ix->seq == 0) {
        memset(ix->wstamp, 0, ix->wscap * sizeof *ix->wstamp);
        memset(ix->tstamp, 0, ix->tscap * sizeof *ix->tstamp);
        ix->seq = 1;
    }
}

/* Adds the tokens of `s` in field `f` to the document's word list. */
static uint32_t tokens_add(struct index *ix, struct text_stemmers *sp, const char *s, int f,
                           uint32_t count)
{
    struct text_iter it;
    char tok[TEXT_TOKEN_MAX + 1];
    size_t n;
    text_iter_init(&it, s, strlen(s));
    while (count < FIELD_MAX_TOKENS && (n = text_next(&it, tok, NULL)) > 0) {
        uint32_t w = lex_word_add(&ix->lx, sp, tok, n);
        if (ix->lx.words[w].stop)
            continue;
        stamps_reserve(&ix->wstamp, &ix->wpos, &ix->wscap, w + 1);
        if (ix->wstamp[w] != ix->seq) {
            if (ix->ndw == ix->dwcap) {
                ix->dwcap = ix->dwcap ? ix->dwcap * 2 : 256;
                ix->dw = xrealloc(ix->dw, ix->dwcap * sizeof *ix->dw);
            }
            ix->wstamp[w] = ix->seq;
            ix->wpos[w] = ix->ndw;
            ix->dw[ix->ndw].id = w;
            memset(ix->dw[ix->ndw].tf, 0, NFIELDS);
            ix->ndw++;
        }
        uint8_t *tf = &ix->dw[ix->wpos[w]].tf[f];
        if (*tf < 255)
            (*tf)++;
        count++;
    }
    return count;
}

/* Indexes the text of `src` into `slot` (which holds no postings). */
static void doc_post(struct index *ix, struct text_stemmers *sp, uint32_t slot,
                     const struct doc_src *src, uint32_t cat, bool bulk)
{
    struct doc *d = &ix->docs[slot];
    next_seq(ix);
    ix->ndw = 0;
    d->flen[F_TITLE] = (uint16_t)tokens_add(ix, sp, src->title, F_TITLE, 0);
    d->flen[F_BRAND] = (uint16_t)tokens_add(ix, sp, src->brand, F_BRAND, 0);
    uint32_t n = 0;
    const struct cat *c = &ix->cats[cat];
    for (uint32_t i = 0; i < c->nchain; i++)
        n = tokens_add(ix, sp, ix->cats[c->chain[i]].name, F_CATEGORY, n);
    d->flen[F_CATEGORY] = (uint16_t)n;
    d->flen[F_DESC] = (uint16_t)tokens_add(ix, sp, src->description, F_DESC, 0);

    /* Words → terms: "headphone" and "headphones" share one posting. */
    ix->ndt = 0;
    stamps_reserve(&ix->tstamp, &ix->tpos, &ix->tscap, ix->lx.term_ix.n);
    if (ix->dtcap < ix->ndw) {
        ix->dtcap = ix->ndw;
        ix->dt = xrealloc(ix->dt, ix->dtcap * sizeof *ix->dt);
    }
    for (uint32_t i = 0; i < ix->ndw; i++) {
        uint32_t t = ix->lx.words[ix->dw[i].id].term;
        if (ix->tstamp[t] != ix->seq) {
            ix->tstamp[t] = ix->seq;
            ix->tpos[t] = ix->ndt;
            ix->dt[ix->ndt].id = t;
            memset(ix->dt[ix->ndt].tf, 0, NFIELDS);
            ix->ndt++;
        }
        uint8_t *tf = ix->dt[ix->tpos[t]].tf;
        for (int f = 0; f < NFIELDS; f++) {
            unsigned v = (unsigned)tf[f] + ix->dw[i].tf[f];
            tf[f] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
    for (uint32_t i = 0; i < ix->ndt; i++)
        lex_posting_add(&ix->lx.terms[ix->dt[i].id], slot, ix->dt[i].tf);
    struct doc_text *t = &ix->text[slot];
    t->words = xmalloc((ix->ndw ? ix->ndw : 1) * sizeof *t->words);
    t->nwords = (uint16_t)ix->ndw;
    for (uint32_t i = 0; i < ix->ndw; i++) {
        t->words[i] = ix->dw[i].id;
        lex_word_count(&ix->lx, ix->dw[i].id, +1, !bulk);
    }
    d->cat = cat;
    d->live = 1;
    cat_doc_add(ix, slot, bulk);
    col_sync(ix, slot);
    derived_slot_placed(ix, slot);
    for (uint32_t i = 0; i < ix->ndt; i++)
        derived_term_add(ix, ix->dt[i].id, slot, ix->dt[i].tf, bulk);
    for (int f = 0; f < NFIELDS; f++)
        ix->flen_sum[f] += d->flen[f];
    ix->nlive++;
}

/* A live document's attributes changed in place: its terms' derived
 * structures follow (suggestion order, facet counts, block bounds). */
static void doc_terms_changed(struct index *ix, uint32_t slot, const struct doc *old,
                              const struct dcol *oldc)
{
    const struct doc *d = &ix->docs[slot];
    const struct dcol *c = &ix->col[slot];
    if (old->sales == d->sales && old->rating_count == d->rating_count && old->id == d->id &&
        oldc->pbucket == c->pbucket && oldc->stars == c->stars && oldc->boost == c->boost)
        return;
    const struct doc_text *t = &ix->text[slot];
    next_seq(ix);
    stamps_reserve(&ix->tstamp, &ix->tpos, &ix->tscap, ix->lx.term_ix.n);
    for (uint32_t i = 0; i < t->nwords; i++) {
        uint32_t term = ix->lx.words[t->words[i]].term;
        if (ix->tstamp[term] != ix->seq) {
            ix->tstamp[term] = ix->seq;
            derived_term_changed(ix, term, slot, old, oldc);
        }
    }
}

/* Takes the document in `slot` out of postings, counts and its category. */
static void doc_unpost(struct index *ix, uint32_t slot)
{
    struct doc *d = &ix->docs[slot];
    struct doc_text *t = &ix->text[slot];
    next_seq(ix);
    stamps_reserve(&ix->tstamp, &ix->tpos, &ix->tscap, ix->lx.term_ix.n);
    for (uint32_t i = 0; i < t->nwords; i++) {
        uint32_t w = t->words[i], term = ix->lx.words[w].term;
        lex_word_count(&ix->lx, w, -1, false);
        if (ix->tstamp[term] != ix->seq) {
            ix->tstamp[term] = ix->seq;
            struct term *tm = &ix->lx.terms[term];
            uint32_t at = lex_posting_seek(tm, 0, slot);
            bool title = at < tm->n && tm->p[at].slot == slot && tm->p[at].tf[F_TITLE];
            lex_posting_del(tm, slot);
            derived_term_del(ix, term, slot, title);
        }
    }
    free(t->words);
    t->words = NULL;
    t->nwords = 0;
    cat_doc_del(ix, slot, d);
    for (int f = 0; f < NFIELDS; f++)
        ix->flen_sum[f] -= d->flen[f];
    ix->nlive--;
    d->live = 0;
    ix->col[slot].live = 0;
}

enum index_change index_put(struct index *ix, struct text_stemmers *sp, const struct doc_src *src,
                            bool bulk)
{
    uint32_t cat = idmap_get(&ix->cat_by_id, src->category_id);
    if (cat == MAP_NONE)
        return INDEX_NO_CATEGORY;
    uint64_t th = text_hash(src);
    uint32_t slot = idmap_get(&ix->by_id, src->id);
    if (slot != MAP_NONE && ix->text[slot].text_hash == th) {
        /* Same words: only attributes and display strings may differ. */
        struct doc old = ix->docs[slot];
        struct dcol oldc = ix->col[slot];
        enum index_change ch = doc_set_attrs(&ix->docs[slot], src);
        if (ch != INDEX_SAME) {
            cat_doc_update(ix, slot, &old);
            col_sync(ix, slot);
            doc_terms_changed(ix, slot, &old, &oldc);
        }
        if (text_set_strings(&ix->text[slot], src) || ix->text[slot].max_price != src->max_price)
            ch = INDEX_CHANGED;
        ix->text[slot].max_price = src->max_price;
        return ch;
    }
    if (slot != MAP_NONE) {
        doc_unpost(ix, slot);
    } else {
        slot = slot_alloc(ix);
        idmap_put(&ix->by_id, src->id, slot);
    }
    struct doc *d = &ix->docs[slot];
    doc_set_attrs(d, src);
    d->brand = brand_id(ix, src->brand);
    text_set_strings(&ix->text[slot], src);
    ix->text[slot].max_price = src->max_price;
    ix->text[slot].text_hash = th;
    doc_post(ix, sp, slot, src, cat, bulk);
    if (!bulk)
        derived_bounds_check(ix, false);
    return INDEX_CHANGED;
}

bool index_remove(struct index *ix, int64_t product_id)
{
    uint32_t slot = idmap_get(&ix->by_id, product_id);
    if (slot == MAP_NONE)
        return false;
    doc_unpost(ix, slot);
    free(ix->text[slot].strings);
    memset(&ix->text[slot], 0, sizeof ix->text[slot]);
    memset(&ix->docs[slot], 0, sizeof ix->docs[slot]);
    memset(&ix->col[slot], 0, sizeof ix->col[slot]);
    idmap_del(&ix->by_id, product_id);
    slot_release(ix, slot);
    derived_bounds_check(ix, false);
    return true;
}

size_t index_bytes(const struct index *ix)
{
    size_t b = sizeof *ix + lex_bytes(&ix->lx);
    b += ix->scap * (sizeof *ix->docs + sizeof *ix->col + sizeof *ix->text + sizeof *ix->sb +
                     sizeof *ix->price) +
         idmap_bytes(&ix->by_id);
    for (uint32_t i = 0; i < ix->nslots; i++) {
        const struct doc_text *t = &ix->text[i];
        if (!t->strings)
            continue;
        b += strlen(doc_title(t)) + strlen(doc_brand(t)) + strlen(doc_currency(t)) + 3;
        b += doc_image(t) ? strlen(doc_image(t)) + 1 : 0;
        b += t->nwords * sizeof *t->words;
    }
    for (uint32_t i = 0; i < ix->ncats; i++)
        b += sizeof ix->cats[i] + ix->cats[i].dcap * (1 + NORDERS) * sizeof(uint32_t) +
             (ix->cats[i].bcap + ix->cats[i].sbcap) * sizeof(struct bcount);
    b += intern_bytes(&ix->brand_ix) + idmap_bytes(&ix->cat_by_id);
    b += ix->nbdocs * sizeof *ix->bdocs;
    for (uint32_t i = 0; i < ix->nbdocs; i++)
        b += ix->bdocs[i].cap * sizeof *ix->bdocs[i].docs;
    b += ix->wscap * 8 + ix->tscap * 8;
    return b + derived_bytes(ix);
}
