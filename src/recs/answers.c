/* answers.c — the recommendation engine's answers (ENG-4): the ranked
 * lists read from the model that recs.c keeps (engine.h has its shape).
 *
 * THE LISTS
 *
 *   frequently bought together (A): every B bought in the same paid order
 *     as A in at least SHOPD_RECS_MIN_SUPPORT orders (default 3); score =
 *     confidence P(B|A) = n(A,B)/n(A) over orders containing A; ranked by
 *     lift = P(B|A)/P(B) = n(A,B)·N/(n(A)·n(B)), so a best-seller bought
 *     with everything (lift ≈ 1) does not crowd out what is bought *because
 *     of* A. Counts are not decayed: support means orders.
 *   customers also viewed (A): views of the same user (or guest) less than
 *     30 minutes apart form a session; each view pairs with up to 10
 *     earlier views of its session. Pairs are weighted by time (forward
 *     decay, recs.c) and ranked by cosine n(A,B)/√(v(A)·v(B)) over decayed
 *     view counts. A product nobody co-viewed yet (cold start) gets content
 *     neighbours, then popular items of its category.
 *   popular: Σ weight·decay over events, weight purchase 10, add to cart 3,
 *     view 1, half-life SHOPD_RECS_HALF_LIFE_HOURS (default 72); overall or
 *     per category including descendants (shop/category.h). Each list keeps
 *     its top 100, recomputed at most once a second.
 *   personal (user): the user's 24 most recent events, newest first, each
 *     weighted by kind (purchase 3, cart 2, view 1) × 0.85^rank; each adds
 *     its co-purchase neighbours (2 × cosine of order counts) and co-view
 *     neighbours (cosine). Never a product the user bought. The top 4 ×
 *     limit are then picked greedily with a 0.7^k penalty for the k already
 *     chosen from the same category (diversity), and padded with content
 *     neighbours of the newest items, popular items of the newest item's
 *     category, then the shop's popular items — a new user gets those.
 *   content neighbours (A), the cold start: products of A's category
 *     scored by recs_content_score: same brand, price within a factor of 4
 *     (log scale), Jaccard overlap of title terms — stems cut by the search
 *     engine's analysis (search/text.h), so "Headphones" and "headphone"
 *     agree. Only a bounded candidate set is scored: the 64 of A's brand
 *     and the 32 of other brands nearest to A in price (content.c has the
 *     rule and why), so a cold-start page costs the same at a thousand
 *     products or a million.
 *
 * Every answer holds the model's read lock while it collects candidates
 * (struct clist, engine.h) and copies its items into the request's arena,
 * and skips products that are not live (recs_usable). Ties are broken by
 * slot, so the same model gives the same list. The popular lists are
 * memoised per category in `popc` under their own mutex, computed outside
 * it from the read-locked model.
 */
#include "recs/recs.h"

#include <stdlib.h>
#include <string.h>

#include "recs/engine.h"
#include "recs/score.h"
#include "shop/category.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define POP_KEEP     100
#define POP_LISTS    4096

struct popc {
    int64_t cat, at;
    uint32_t n;
    uint32_t slots[POP_KEEP];
};

struct popc *recs_popc_new(void)
{
    return xcalloc(POP_LISTS, sizeof(struct popc));
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static int cmp_cand_lift(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->lift != y->lift)
        return x->lift < y->lift ? 1 : -1;
    return cmp_cand(a, b);
}

static void fill(struct recs *r, const struct cand *c, struct arena *a, struct recs_item *out)
{
    const struct rprod *p = &r->p[c->slot];
    out->product_id = p->id;
    out->title = arena_strdup(a, p->title ? p->title : "");
    memcpy(out->currency, p->currency, sizeof out->currency);
    out->price_cents = p->price;
    out->score = c->score;
    out->lift = c->lift;
    out->has_lift = c->has_lift;
}

static double now_decay(const struct recs *r)
{
    return recs_decay(clock_now_ms(), r->base_ms, r->cfg.half_life_ms);
}

/* Top `keep` live products by popularity within category `cat` (0: all). */
static uint32_t popular_compute(struct recs *r, int64_t cat, uint32_t *slots, uint32_t keep)
{
    uint32_t n = 0;
    /* Memo of category → within `cat` (few categories, many products). */
    int64_t memo_id[256];
    bool memo_in[256];
    int nmemo = 0;
    for (uint32_t s = 0; s < r->np; s++) {
        const struct rprod *p = &r->p[s];
        if (!recs_usable(r, s) || p->pop <= 0)
            continue;
        if (n == keep && p->pop <= r->p[slots[n - 1]].pop)
            continue;
        if (cat) {
            int k = 0;
            while (k < nmemo && memo_id[k] != p->category_id)
                k++;
            bool in;
            if (k < nmemo) {
                in = memo_in[k];
            } else {
                in = category_within(r->cats, p->category_id, cat);
                if (nmemo < 256) {
                    memo_id[nmemo] = p->category_id;
                    memo_in[nmemo++] = in;
                }
            }
            if (!in)
                continue;
        }
        uint32_t i = n < keep ? n++ : keep - 1;
        while (i > 0 && r->p[slots[i - 1]].pop < p->pop) {
            slots[i] = slots[i - 1];
            i--;
        }
        slots[i] = s;
    }
    return n;
}

/* Appends popular items of `cat` not yet in `l` (read lock held). */
static void add_popular(struct recs *r, int64_t cat, struct clist *l, const struct ruser *skip)
{
    if (l->n >= l->cap)
        return;
    int64_t now = clock_now_ms();
    struct popc pc;
    bool have = false;
    uint32_t h = (uint32_t)(recs_mix64((uint64_t)cat) % POP_LISTS);
    pthread_mutex_lock(&r->pop_mu);
    if (r->popc[h].at && r->popc[h].cat == cat && now - r->popc[h].at < RECS_CACHE_MS &&
        now >= r->popc[h].at) {
        pc = r->popc[h];
        have = true;
    }
    pthread_mutex_unlock(&r->pop_mu);
    if (!have) {
        pc.cat = cat;
        pc.at = now;
        pc.n = popular_compute(r, cat, pc.slots, POP_KEEP);
        pthread_mutex_lock(&r->pop_mu);
        r->popc[h] = pc;
        pthread_mutex_unlock(&r->pop_mu);
    }
    double d = now_decay(r);
    for (uint32_t i = 0; i < pc.n && l->n < l->cap; i++) {
        uint32_t s = pc.slots[i];
        if (!recs_usable(r, s) || recs_user_owns(skip, s) || clist_has(l, s))
            continue;
        l->c[l->n++] = (struct cand){.slot = s, .score = r->p[s].pop / d};
    }
}

static int clamp_limit(int limit)
{
    return limit < 1 ? 1 : limit > RECS_LIMIT_MAX ? RECS_LIMIT_MAX : limit;
}

int recs_bought_together(struct recs *r, int64_t product_id, int limit, struct arena *a,
                         struct recs_item *out)
{
    limit = clamp_limit(limit);
    int n = 0;
    pthread_rwlock_rdlock(&r->lock);
    uint32_t s = idmap_get(&r->by_id, product_id);
    const struct nbtab *t = s != MAP_NONE ? r->p[s].buys : NULL;
    if (t) {
        struct cand *c = arena_alloc(a, t->n * sizeof *c);
        double na = r->p[s].orders;
        for (uint32_t i = 0; i < t->cap; i++) {
            const struct nb_entry *e = &t->e[i];
            if (!e->key || e->w < (float)r->cfg.min_support || !recs_usable(r, e->key - 1))
                continue;
            double nb = r->p[e->key - 1].orders;
            c[n++] = (struct cand){.slot = e->key - 1,
                                   .score = recs_confidence(e->w, na),
                                   .lift = recs_lift(e->w, na, nb, r->total_orders),
                                   .has_lift = true};
        }
        qsort(c, (size_t)n, sizeof *c, cmp_cand_lift);
        if (n > limit)
            n = limit;
        for (int i = 0; i < n; i++)
            fill(r, &c[i], a, &out[i]);
    }
    pthread_rwlock_unlock(&r->lock);
    return n;
}

int recs_also_viewed(struct recs *r, int64_t product_id, int limit, struct arena *a,
                     struct recs_item *out)
{
    limit = clamp_limit(limit);
    pthread_rwlock_rdlock(&r->lock);
    uint32_t s = idmap_get(&r->by_id, product_id);
    if (s == MAP_NONE) {
        pthread_rwlock_unlock(&r->lock);
        return 0;
    }
    const struct nbtab *t = r->p[s].coviews;
    struct clist l = {.c = arena_alloc(a, ((t ? t->n : 0) + (uint32_t)limit + 1) * sizeof *l.c)};
    l.cap = (int)(t ? t->n : 0) + limit;
    for (uint32_t i = 0; t && i < t->cap; i++) {
        const struct nb_entry *e = &t->e[i];
        if (!e->key || !recs_usable(r, e->key - 1))
            continue;
        l.c[l.n++] = (struct cand){.slot = e->key - 1,
                                   .score = recs_cosine(e->w, r->p[s].views,
                                                        r->p[e->key - 1].views)};
    }
    qsort(l.c, (size_t)l.n, sizeof *l.c, cmp_cand);
    if (l.n > limit)
        l.n = limit;
    /* Cold start: content neighbours, then popular items of the category. */
    l.cap = limit + 1; /* the sentinel below takes one */
    if (l.n < limit && r->p[s].loaded) {
        l.c[l.n].slot = s; /* never the product itself */
        int before = l.n;
        l.n++;
        recs_add_content(r, s, limit - before, &l, NULL);
        add_popular(r, r->p[s].category_id, &l, NULL);
        memmove(&l.c[before], &l.c[before + 1], (size_t)(l.n - before - 1) * sizeof *l.c);
        l.n--;
    }
    for (int i = 0; i < l.n; i++)
        fill(r, &l.c[i], a, &out[i]);
    pthread_rwlock_unlock(&r->lock);
    return l.n;
}

int recs_popular(struct recs *r, int64_t category_id, int limit, struct arena *a,
                 struct recs_item *out)
{
    limit = clamp_limit(limit);
    struct clist l = {.c = arena_alloc(a, (size_t)limit * sizeof *l.c), .cap = limit};
    pthread_rwlock_rdlock(&r->lock);
    add_popular(r, category_id, &l, NULL);
    for (int i = 0; i < l.n; i++)
        fill(r, &l.c[i], a, &out[i]);
    pthread_rwlock_unlock(&r->lock);
    return l.n;
}

/* A small open-addressing accumulator of candidate scores. */
struct acc {
    uint32_t *key; /* slot + 1 */
    double *val;
    uint32_t mask, n;
};

static void acc_add(struct acc *m, uint32_t slot, double v)
{
    uint32_t key = slot + 1;
    for (uint32_t i = nb_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->key[i] == key) {
            m->val[i] += v;
            return;
        }
        if (!m->key[i]) {
            if (m->n * 4 >= (m->mask + 1) * 3)
                return; /* full: later candidates are dropped */
            m->key[i] = key;
            m->val[i] = v;
            m->n++;
            return;
        }
    }
}

int recs_personal(struct recs *r, int64_t user_key, int limit, struct arena *a,
                  struct recs_item *out)
{
    limit = clamp_limit(limit);
    struct clist l = {.c = arena_alloc(a, (size_t)limit * sizeof *l.c), .cap = limit};
    pthread_rwlock_rdlock(&r->lock);
    const struct ruser *u = recs_user_get(r, user_key, false);
    int nh = u ? u->n : 0;
    if (nh) {
        struct acc m = {.mask = 8191};
        m.key = arena_alloc(a, (m.mask + 1) * sizeof *m.key);
        m.val = arena_alloc(a, (m.mask + 1) * sizeof *m.val);
        memset(m.key, 0, (m.mask + 1) * sizeof *m.key);
        uint32_t seen[RECS_HIST];
        int nseen = 0;
        double rank_w = 1.0;
        for (int i = 0; i < nh; i++, rank_w *= 0.85) {
            const struct hist *h = hist_at(u, i);
            bool dup = false;
            for (int k = 0; k < nseen && !dup; k++)
                dup = seen[k] == h->slot;
            if (dup)
                continue;
            seen[nseen++] = h->slot;
            double wh = rank_w * (h->kind == RECS_PURCHASE ? 3.0 : h->kind == RECS_CART ? 2.0 : 1.0);
            const struct rprod *p = &r->p[h->slot];
            const struct nbtab *t = p->buys;
            for (uint32_t j = 0; t && j < t->cap; j++) {
                uint32_t q = t->e[j].key - 1;
                if (!t->e[j].key || !recs_usable(r, q) || recs_user_owns(u, q))
                    continue;
                acc_add(&m, q, wh * 2.0 * recs_cosine(t->e[j].w, p->orders, r->p[q].orders));
            }
            t = p->coviews;
            for (uint32_t j = 0; t && j < t->cap; j++) {
                uint32_t q = t->e[j].key - 1;
                if (!t->e[j].key || !recs_usable(r, q) || recs_user_owns(u, q))
                    continue;
                acc_add(&m, q, wh * recs_cosine(t->e[j].w, p->views, r->p[q].views));
            }
        }
        struct cand *c = arena_alloc(a, (m.n ? m.n : 1) * sizeof *c);
        int nc = 0;
        for (uint32_t i = 0; i <= m.mask; i++)
            if (m.key[i] && m.val[i] > 0)
                c[nc++] = (struct cand){.slot = m.key[i] - 1, .score = m.val[i]};
        qsort(c, (size_t)nc, sizeof *c, cmp_cand);
        if (nc > 4 * limit)
            nc = 4 * limit;
        /* Greedy diversification across categories. */
        bool *taken = arena_alloc(a, (size_t)(nc ? nc : 1) * sizeof *taken);
        memset(taken, 0, (size_t)(nc ? nc : 1) * sizeof *taken);
        while (l.n < limit) {
            int best = -1;
            double best_v = 0;
            for (int i = 0; i < nc; i++) {
                if (taken[i])
                    continue;
                int same = 0;
                for (int k = 0; k < l.n; k++)
                    same += r->p[l.c[k].slot].category_id == r->p[c[i].slot].category_id;
                double v = c[i].score * recs_diversity_factor(same);
                if (best < 0 || v > best_v) {
                    best = i;
                    best_v = v;
                }
            }
            if (best < 0)
                break;
            taken[best] = true;
            l.c[l.n++] = c[best];
        }
        /* Pad: content neighbours of the newest items, then popular items
         * of the newest item's category. */
        for (int i = 0; i < nseen && i < 3 && l.n < limit; i++)
            recs_add_content(r, seen[i], (limit - l.n + 1) / 2 + 1, &l, u);
        add_popular(r, r->p[seen[0]].category_id, &l, u);
    }
    add_popular(r, 0, &l, u);
    for (int i = 0; i < l.n; i++)
        fill(r, &l.c[i], a, &out[i]);
    pthread_rwlock_unlock(&r->lock);
    return l.n;
}
