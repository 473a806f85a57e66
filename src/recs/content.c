/* content.c — content neighbours: what the engine recommends for a product
 * nobody co-viewed yet (cold start) and what pads a personal list, from
 * the catalog alone — and at a cost that does not grow with the catalog.
 *
 * THE RULE
 *
 * A's content neighbours are products of A's category, scored by
 * recs_content_score (score.c: same category 1, same brand 1, price
 * closeness 0…1 on a log scale, Jaccard overlap of title terms — stems
 * cut by the search engine's analysis, search/text.h, so "Headphones" and
 * "headphone" agree), best first, ties to the lower slot. Until issue 18
 * every product of the category was scored on each request: tens of
 * thousands at a million products, 8 ms of CPU for one product page. Now
 * only a bounded candidate set is scored:
 *
 *   - of A's brand: the CONTENT_NEAR_BRAND (64) products of the category
 *     and brand nearest to A in price;
 *   - of other brands: the CONTENT_NEAR (32) products of the category
 *     nearest to A in price (a product of A's brand is a candidate through
 *     the first walk only).
 *
 * "Nearest in price" is |log(price_B / price_A)|, the distance the score
 * itself uses; an unpriced product (price 0) is nearest to other unpriced
 * ones and farthest from priced ones; on equal distance the cheaper comes
 * first. A walk skips what may not be answered (not live, bought by the
 * user being served, already in the list) and examines at most
 * CONTENT_SCAN (256) entries, so a category full of sold-out products
 * costs no more than one full of live ones. At most 96 products are
 * scored and 512 entries read, whatever the category's size.
 *
 * What the exhaustive scoring found and this does not: a product far from
 * A in price whose title matches A's better than those of the nearer
 * ones (price closeness is worth as much as the whole title overlap). The
 * brand's walk is the longer one because the same brand is worth a whole
 * point: the exhaustive top is nearly always of A's brand. Compared with
 * scoring the whole category, for 3,000 random products (top 6):
 *
 *   catalog (seeded)        same items   same list   mean score
 *   100,000 products         100.0 %      99.9 %     3.1796 = 3.1796
 *   1,000,000 products        98.0 %      90.7 %     3.3830 / 3.3839
 *
 * (1M: about 200 products of a brand per category; 32 of the brand kept
 * 85 % of the items, 96 kept 99.8 % at twice the cost.)
 *
 * THE INDEX
 *
 * Per category (struct catlist, engine.h) two arrays of product slots:
 * `by_price` in (price, slot) order and `by_brand` in (brand, price,
 * slot) order; a walk finds A's place by binary search and goes outward.
 * A product is in its category's arrays while it is loaded and live
 * (rprod.indexed says it was put there; the keys it was put there with
 * are its current category, price and brand, which change only in
 * recs_put_product, which takes it out first). 8 bytes a product, plus
 * the arrays' spare capacity (at most as much again).
 *
 * Kept sorted by insertion and removal in place (a binary search and a
 * memmove of the array: microseconds at 14,000 products a category).
 * Bulk changes — the first build, a reload after an import — would make
 * that quadratic, so after CONTENT_BULK changes to a category since it
 * was last sorted, its arrays stop being kept in order: entries are
 * appended, a removal only clears rprod.indexed, and the first reader
 * re-sorts them (under `content_mu`, dropping entries whose product left
 * the category or the index, and duplicates) before walking them. A
 * writer re-sorts at once when the arrays hold more than twice their
 * products. Readers hold the model's read lock: while they walk, nothing
 * changes the arrays but such a re-sort, which they wait for.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recs/engine.h"
#include "recs/score.h"
#include "search/text.h"
#include "util/cmp.h"
#include "util/xalloc.h"

/* ---- the index ------------------------------------------------------------------------ */

struct catlist *recs_cat_list(struct recs *r, int64_t cat, bool create)
{
    uint32_t i = idmap_get(&r->by_cat, cat);
    if (i != MAP_NONE)
        return &r->cl[i];
    if (!create)
        return NULL;
    if (r->ncl == r->capcl) {
        r->capcl = r->capcl ? r->capcl * 2 : 64;
        r->cl = xrealloc(r->cl, r->capcl * sizeof *r->cl);
    }
    i = r->ncl++;
    memset(&r->cl[i], 0, sizeof r->cl[i]);
    r->cl[i].category_id = cat;
    atomic_init(&r->cl[i].sorted, true);
    idmap_put(&r->by_cat, cat, i);
    return &r->cl[i];
}

/* Order of the arrays: (brand, price, slot), brand ignored for by_price. */
struct ckey {
    uint64_t brand;
    int64_t price;
    uint32_t slot;
};

static int ckey_cmp(const struct ckey *x, const struct ckey *y)
{
    if (x->brand != y->brand)
        return x->brand < y->brand ? -1 : 1;
    if (x->price != y->price)
        return x->price < y->price ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static int ckey_qsort(const void *a, const void *b)
{
    return ckey_cmp(a, b);
}

static struct ckey key_of(const struct recs *r, uint32_t s, bool brand)
{
    return (struct ckey){.brand = brand ? r->p[s].brand : 0, .price = r->p[s].price, .slot = s};
}

/* First position in a[0, n) whose key is not below k. */
static uint32_t lower_bound(const struct recs *r, const uint32_t *a, uint32_t n, bool brand,
                            const struct ckey *k)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        struct ckey m = key_of(r, a[mid], brand);
        if (ckey_cmp(&m, k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sorted_insert(const struct recs *r, uint32_t *a, uint32_t n, bool brand, uint32_t s)
{
    struct ckey k = key_of(r, s, brand);
    uint32_t i = lower_bound(r, a, n, brand, &k);
    memmove(a + i + 1, a + i, (n - i) * sizeof *a);
    a[i] = s;
}

static bool sorted_remove(const struct recs *r, uint32_t *a, uint32_t n, bool brand, uint32_t s)
{
    struct ckey k = key_of(r, s, brand);
    uint32_t i = lower_bound(r, a, n, brand, &k);
    if (i >= n || a[i] != s)
        return false;
    memmove(a + i, a + i + 1, (n - i - 1) * sizeof *a);
    return true;
}

/* Sorts a list's arrays, keeping each indexed product of its category once. */
static void resort(const struct recs *r, struct catlist *cl)
{
    struct ckey *k = xmalloc((cl->n ? cl->n : 1) * sizeof *k);
    uint32_t m = 0;
    for (uint32_t i = 0; i < cl->n; i++) {
        uint32_t s = cl->by_price[i];
        if (r->p[s].indexed && r->p[s].category_id == cl->category_id)
            k[m++] = key_of(r, s, false);
    }
    qsort(k, m, sizeof *k, ckey_qsort);
    uint32_t u = 0;
    for (uint32_t i = 0; i < m; i++)
        if (!u || k[u - 1].slot != k[i].slot)
            k[u++] = k[i];
    /* Duplicates of a slot share its key, so they were adjacent. */
    for (uint32_t i = 0; i < u; i++)
        cl->by_price[i] = k[i].slot;
    for (uint32_t i = 0; i < u; i++)
        k[i].brand = r->p[k[i].slot].brand;
    qsort(k, u, sizeof *k, ckey_qsort);
    for (uint32_t i = 0; i < u; i++)
        cl->by_brand[i] = k[i].slot;
    free(k);
    cl->n = u;
    cl->nlive = u;
    cl->nmod = 0;
    atomic_store_explicit(&cl->sorted, true, memory_order_release);
}

void recs_content_remove(struct recs *r, uint32_t s)
{
    struct rprod *p = &r->p[s];
    if (!p->indexed)
        return;
    p->indexed = false;
    struct catlist *cl = recs_cat_list(r, p->category_id, false);
    if (!cl)
        return;
    cl->nlive--;
    if (atomic_load(&cl->sorted) && cl->nmod < CONTENT_BULK &&
        sorted_remove(r, cl->by_price, cl->n, false, s) &&
        sorted_remove(r, cl->by_brand, cl->n, true, s)) {
        cl->n--;
        cl->nmod++;
        return;
    }
    /* Left in place: the next sort drops it. */
    atomic_store(&cl->sorted, false);
}

void recs_content_add(struct recs *r, uint32_t s)
{
    struct rprod *p = &r->p[s];
    if (p->indexed || !p->loaded || !p->live)
        return;
    p->indexed = true;
    struct catlist *cl = recs_cat_list(r, p->category_id, true);
    if (cl->n == cl->cap) {
        cl->cap = cl->cap ? cl->cap * 2 : 16;
        cl->by_price = xrealloc(cl->by_price, cl->cap * sizeof *cl->by_price);
        cl->by_brand = xrealloc(cl->by_brand, cl->cap * sizeof *cl->by_brand);
    }
    cl->nlive++;
    if (atomic_load(&cl->sorted) && cl->nmod < CONTENT_BULK) {
        sorted_insert(r, cl->by_price, cl->n, false, s);
        sorted_insert(r, cl->by_brand, cl->n, true, s);
        cl->n++;
        cl->nmod++;
        return;
    }
    atomic_store(&cl->sorted, false);
    cl->by_price[cl->n] = s;
    cl->by_brand[cl->n] = s;
    cl->n++;
    if (cl->n > 2 * cl->nlive + 64)
        resort(r, cl);
}

/* A reader's view of the list: sorted (read lock held). */
static const struct catlist *ready(struct recs *r, int64_t cat)
{
    struct catlist *cl = recs_cat_list(r, cat, false);
    if (cl && !atomic_load_explicit(&cl->sorted, memory_order_acquire)) {
        pthread_mutex_lock(&r->content_mu);
        if (!atomic_load_explicit(&cl->sorted, memory_order_acquire))
            resort(r, cl);
        pthread_mutex_unlock(&r->content_mu);
    }
    return cl;
}

void recs_content_free(struct recs *r)
{
    for (uint32_t i = 0; i < r->ncl; i++) {
        free(r->cl[i].by_price);
        free(r->cl[i].by_brand);
    }
    free(r->cl);
}

uint64_t recs_content_bytes(const struct recs *r)
{
    uint64_t b = (uint64_t)r->capcl * sizeof *r->cl;
    for (uint32_t i = 0; i < r->ncl; i++)
        b += 2ull * r->cl[i].cap * sizeof(uint32_t);
    return b;
}

/* ---- a product's content ------------------------------------------------------------------ */

void recs_content_terms(struct recs *r, struct rprod *p, const char *title)
{
    /* Title terms, cut and stemmed as the search engine does. */
    struct text_iter it;
    text_iter_init(&it, title, strlen(title));
    char tok[TEXT_TOKEN_MAX + 1], stem[TEXT_TOKEN_MAX + 1];
    size_t len;
    p->nterms = 0;
    while ((len = text_next(&it, tok, NULL)) > 0 && p->nterms < RECS_TERMS) {
        if (text_is_stopword(tok, len))
            continue;
        size_t sl = text_stem(r->stem, tok, len, stem);
        uint32_t id = intern_add(&r->terms, stem, sl, NULL);
        bool dup = false;
        for (int k = 0; k < p->nterms && !dup; k++)
            dup = p->terms[k] == id;
        if (!dup)
            p->terms[p->nterms++] = id;
    }
    qsort(p->terms, p->nterms, sizeof p->terms[0], cmp_u32);
}

uint64_t recs_content_brand(const char *brand)
{
    char folded[128];
    size_t bl = brand ? text_fold(brand, strlen(brand), folded, sizeof folded) : 0;
    return bl ? (hash_bytes(folded, bl) | 1) : 0;
}

/* ---- the answer ---------------------------------------------------------------------------- */

/* How far q's price is from p's (the walk's order). */
static double price_dist(int64_t p, int64_t q)
{
    if (p > 0 && q > 0)
        return fabs(log((double)q / (double)p));
    return (p > 0) == (q > 0) ? 0.0 : INFINITY;
}

struct walk {
    const uint32_t *a;
    uint32_t lo, hi; /* the range walked: [lo, hi) */
    int64_t left, right; /* next entries each way; left < lo or right ≥ hi: none */
};

/* Collects into `out` up to CONTENT_NEAR candidates nearest to `slot` in
 * price from w, examining at most CONTENT_SCAN entries; returns how many. */
static int walk_collect(struct recs *r, uint32_t slot, struct walk *w, bool other_brands,
                        const struct clist *l, const struct ruser *skip, uint32_t *out)
{
    const struct rprod *p = &r->p[slot];
    int n = 0, near = other_brands ? CONTENT_NEAR : CONTENT_NEAR_BRAND;
    for (int examined = 0; n < near && examined < CONTENT_SCAN; examined++) {
        bool has_l = w->left >= (int64_t)w->lo, has_r = w->right < (int64_t)w->hi;
        if (!has_l && !has_r)
            break;
        uint32_t s;
        if (has_l && has_r) {
            double dl = price_dist(p->price, r->p[w->a[w->left]].price);
            double dr = price_dist(p->price, r->p[w->a[w->right]].price);
            s = dl <= dr ? w->a[w->left--] : w->a[w->right++];
        } else {
            s = has_l ? w->a[w->left--] : w->a[w->right++];
        }
        if (s == slot || !recs_usable(r, s) || recs_user_owns(skip, s) || clist_has(l, s))
            continue;
        if (other_brands && p->brand && r->p[s].brand == p->brand)
            continue;
        out[n++] = s;
    }
    return n;
}

int recs_content_candidates(struct recs *r, uint32_t slot, const struct clist *l,
                            const struct ruser *skip, uint32_t *out)
{
    const struct rprod *p = &r->p[slot];
    const struct catlist *cl = ready(r, p->category_id);
    if (!cl || !cl->n)
        return 0;
    int n = 0;
    struct ckey k = {.brand = p->brand, .price = p->price, .slot = slot};
    if (p->brand) {
        struct ckey first = {.brand = p->brand, .price = INT64_MIN, .slot = 0};
        struct ckey last = {.brand = p->brand, .price = INT64_MAX, .slot = UINT32_MAX};
        struct walk w = {.a = cl->by_brand};
        w.lo = lower_bound(r, cl->by_brand, cl->n, true, &first);
        w.hi = lower_bound(r, cl->by_brand, cl->n, true, &last);
        uint32_t at = lower_bound(r, cl->by_brand, cl->n, true, &k);
        w.left = (int64_t)at - 1;
        w.right = at;
        n += walk_collect(r, slot, &w, false, l, skip, out + n);
    }
    k.brand = 0;
    struct walk w = {.a = cl->by_price, .lo = 0, .hi = cl->n};
    uint32_t at = lower_bound(r, cl->by_price, cl->n, false, &k);
    w.left = (int64_t)at - 1;
    w.right = at;
    n += walk_collect(r, slot, &w, true, l, skip, out + n);
    return n;
}

void recs_add_content(struct recs *r, uint32_t slot, int want, struct clist *l,
                      const struct ruser *skip)
{
    if (want <= 0)
        return;
    if (want > RECS_LIMIT_MAX)
        want = RECS_LIMIT_MAX;
    uint32_t cands[CONTENT_CANDIDATES];
    int nc = recs_content_candidates(r, slot, l, skip, cands);
    const struct rprod *p = &r->p[slot];
    struct cand top[RECS_LIMIT_MAX];
    int n = 0;
    for (int i = 0; i < nc; i++) {
        uint32_t s = cands[i];
        const struct rprod *q = &r->p[s];
        double sc = recs_content_score(true, p->brand && p->brand == q->brand, p->price, q->price,
                                       p->terms, p->nterms, q->terms, q->nterms);
        if (n == want && (sc < top[n - 1].score || (sc == top[n - 1].score && s > top[n - 1].slot)))
            continue;
        int k = n < want ? n++ : want - 1;
        while (k > 0 && (top[k - 1].score < sc ||
                         (top[k - 1].score == sc && top[k - 1].slot > s))) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = (struct cand){.slot = s, .score = sc};
    }
    for (int i = 0; i < n && l->n < l->cap; i++)
        l->c[l->n++] = top[i];
}
