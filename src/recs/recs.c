/* recs.c — the recommendation engine (ENG-4): behaviour in, ranked lists
 * out, in memory, beside the search index and in its manner.
 *
 * WHAT IT IS
 *
 * Every process holds one model built from the `rec_events` table (views,
 * adds to cart, purchases; store migration 0026) and the products table:
 *
 *   recs.c     the model, applying events, the answers
 *   content.c  content neighbours: the per-category index by price and
 *              brand, the bounded candidate set and its rule
 *   rendered.c the rendered answers: the short-lived list cache and the
 *              product page with its recommendations, kept per product
 *   score.c    the arithmetic (confidence, lift, cosine, decay, content
 *              similarity, diversification), pure functions with unit tests
 *   load.c     the SQL: products, following rec_events, writing the buffer,
 *              the purchase rows
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
 *     decay, below) and ranked by cosine n(A,B)/√(v(A)·v(B)) over decayed
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
 *   content neighbours (A): products of A's category scored by
 *     recs_content_score: same brand, price within a factor of 4 (log
 *     scale), Jaccard overlap of title terms — stems cut by the search
 *     engine's analysis (search/text.h), so "Headphones" and "headphone"
 *     agree. Only a bounded candidate set is scored: the 64 of A's brand
 *     and the 32 of other brands nearest to A in price (content.c has the
 *     rule and why), so a cold-start page costs the same at a thousand
 *     products or a million.
 *
 * Only published, in-stock products are answered: each product carries a
 * `live` flag that recs_product_refresh keeps true (shop_product_changed
 * calls it after every committed change and the change feed for other
 * processes'), checked as each answer is made.
 *
 * TIME DECAY
 *
 * An event at t adds w·2^((t − base)/h) ("forward decay"): sums never need
 * decaying in place, and the ratio of two sums is the ratio of the decayed
 * weights at any moment. When t − base passes 40 half-lives everything is
 * multiplied by 2^−20 and base moves 20 half-lives on (a pass over the
 * model under the write lock, once in months).
 *
 * UPDATE PATH
 *
 * recs_record (product detail, POST /v1/events) appends to a bounded
 * in-memory buffer under a mutex: no database on the request path, and
 * POST /v1/events is answered on the connection's thread (it never waits
 * for the database: api_inline_writes). The
 * feed worker (work/recs_feed.c), every 100 ms: writes the buffer to
 * rec_events (recs_flush: multi-row inserts, ≤ 5,000 rows per write), then
 * reads what was committed since its position (recs_poll: (txid, id) below
 * outbox_horizon, as the outbox; shop/outbox.h) and applies it. Purchases
 * enter the table through the outbox consumer "recs.purchases" (one row
 * per product of a paid order, unique per (order, product): a replay is a
 * no-op); rows of one order commit together and form its basket. Every
 * process applies every row — its own too — so all processes, and SQLite
 * and PostgreSQL, compute the same model from the same rows. At start
 * the model takes its products from the search index, once that is loaded
 * and caught up (recs_build_from_search, shop/views.c) — the same rows the
 * product query would give (the index holds every published product with
 * title, brand, currency, lowest price and stock), without the query's 3 s
 * at a million products — and reads the last SHOPD_RECS_HISTORY_DAYS of
 * events (recs_build reads the products from the database instead; a
 * catalog reload still does). It is built before the server listens, not
 * in the background: /readyz means every answer is the model's, and the
 * product part is ~1.7 s of CPU at a million products (title terms, maps),
 * which fits the 3 s start-up budget with the snapshot. A view is in the model within ~0.2 s of the request, a purchase
 * within ~0.3 s of its payment; answers may come from the rendered-list
 * cache for up to a second more. Events are best-effort: what is buffered
 * when the process dies (at most ~100 ms of them) is lost; a 202 says the
 * event was taken, not that it is on disk.
 *
 * RETENTION
 *
 * recs_purge (load.c), from housekeeping once a minute: rows older than
 * SHOPD_RECS_HISTORY_DAYS — what recs_build reads; by then a view weighs
 * 2^-30 of a fresh one at the default half-life — go, 5,000 a write, so
 * the table holds that many days of behaviour and no more.
 *
 * CONCURRENCY
 *
 * One writer-preferring rwlock over the model. Answers hold it for reading
 * while they collect candidates and copy their items into the request's
 * arena; applying rows (256 at a time, releasing it between slices, so a
 * reader waits for one slice) or a product holds it for writing (the
 * database read happens before, under `write_mu`). Whether a product may be
 * shown (recs_product_live: every POST /v1/events checks it) is a separate
 * map under its own lock, written with the model's, so checking an event
 * never waits for the feed. The popular lists and
 * the rendered-list cache have their own mutexes and are filled from a
 * read-locked computation.
 *
 * MEMORY
 *
 * Per product: a record of about 130 bytes, its title, 8 bytes (and
 * their arrays' spare room) in its category's content arrays (content.c),
 * and two neighbour tables of 8 bytes a slot (at most 256 slots each, holding 192 neighbours: when
 * full, the lightest neighbour is replaced and its weight inherited —
 * "space saving" — so a product bought with everything keeps its heavy
 * hitters in bounded memory), 8 bytes for its kept page's pointer and
 * about 32 in the visibility map. Per user: 440 bytes of history plus 4
 * bytes per product bought. Kept product pages (about 2 KB for each
 * product whose page was asked for, SHOPD_RECS_PAGE_CACHE_MB at most, 512 MiB by default; rendered.c) are
 * counted apart (shopd_recs_page_bytes). Measured by bench/recs.py (100,000 products,
 * 95,880 published, 1,000,000 events by 20,000 users): 67.1 MiB, 734 bytes
 * per product, built in 1.7 s on a quiet machine (8.6 s at load average
 * 40); pages for 20,000 products 39.4 MiB — logged at start as `recs.built`
 * and exported in /metrics (shopd_recs_*).
 */
#include "recs/recs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recs/engine.h"
#include "recs/score.h"
#include "search/text.h"
#include "shop/category.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define POP_KEEP     100
#define POP_LISTS    4096
#define OWNED_MAX    4096

/* ---- neighbour tables ---------------------------------------------------------------- */

static uint32_t nb_hash(uint32_t k)
{
    k *= 0x9E3779B1u;
    return k ^ (k >> 15);
}

static struct nbtab *nb_new(uint32_t cap)
{
    struct nbtab *t = xcalloc(1, sizeof *t + cap * sizeof(struct nb_entry));
    t->cap = cap;
    return t;
}

static void nb_raw_put(struct nbtab *t, uint32_t key, float w)
{
    uint32_t mask = t->cap - 1, i = nb_hash(key) & mask;
    while (t->e[i].key)
        i = (i + 1) & mask;
    t->e[i].key = key;
    t->e[i].w = w;
    t->n++;
}

/* Linear probing's backward-shift delete: no tombstones. */
static void nb_del_at(struct nbtab *t, uint32_t i)
{
    uint32_t mask = t->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->e[j].key)
            break;
        uint32_t k = nb_hash(t->e[j].key) & mask;
        bool keep = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!keep) {
            t->e[i] = t->e[j];
            i = j;
        }
    }
    t->e[i].key = 0;
    t->n--;
}

static void nb_add(struct nbtab **tp, uint32_t slot, float inc)
{
    uint32_t key = slot + 1;
    struct nbtab *t = *tp;
    if (!t)
        t = *tp = nb_new(8);
    uint32_t mask = t->cap - 1;
    for (uint32_t i = nb_hash(key) & mask; t->e[i].key; i = (i + 1) & mask)
        if (t->e[i].key == key) {
            t->e[i].w += inc;
            return;
        }
    if ((t->n + 1) * 4 > t->cap * 3) {
        if (t->cap < NB_MAX_CAP) {
            struct nbtab *g = nb_new(t->cap * 2);
            for (uint32_t i = 0; i < t->cap; i++)
                if (t->e[i].key)
                    nb_raw_put(g, t->e[i].key, t->e[i].w);
            free(t);
            t = *tp = g;
        } else {
            /* Full: the lightest neighbour gives way and its weight is
             * inherited (space saving: heavy hitters stay). */
            uint32_t min_i = 0;
            float min_w = INFINITY;
            for (uint32_t i = 0; i < t->cap; i++)
                if (t->e[i].key && t->e[i].w < min_w) {
                    min_w = t->e[i].w;
                    min_i = i;
                }
            nb_del_at(t, min_i);
            inc += min_w;
        }
    }
    nb_raw_put(t, key, inc);
}

static void nb_scale(struct nbtab *t, float f)
{
    if (t)
        for (uint32_t i = 0; i < t->cap; i++)
            t->e[i].w *= f;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

struct popc {
    int64_t cat, at;
    uint32_t n;
    uint32_t slots[POP_KEEP];
};

struct recs *recs_new(const struct recs_config *cfg, struct category_tree *cats)
{
    struct recs *r = xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    if (r->cfg.min_support < 1)
        r->cfg.min_support = 1;
    if (r->cfg.half_life_ms <= 0)
        r->cfg.half_life_ms = 72LL * 3600 * 1000;
    if (!r->cfg.page_bytes_max)
        r->cfg.page_bytes_max = RECS_PAGE_BYTES_DEFAULT;
    r->cats = cats;
    r->stem = text_stemmers_new();
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r->lock, &attr);
    pthread_rwlock_init(&r->shown_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&r->write_mu, NULL);
    pthread_mutex_init(&r->pop_mu, NULL);
    pthread_mutex_init(&r->content_mu, NULL);
    for (int i = 0; i < RECS_BUF_SHARDS; i++)
        pthread_mutex_init(&r->bufs[i].mu, NULL);
    idmap_init(&r->by_id);
    idmap_init(&r->by_cat);
    idmap_init(&r->by_user);
    idmap_init(&r->shown);
    intern_init(&r->terms);
    r->base_ms = clock_now_ms();
    r->basket_order = -1;
    r->popc = xcalloc(POP_LISTS, sizeof *r->popc);
    r->cache = recs_rcache_new();
    for (int i = 0; i < RECS_SHARDS; i++)
        pthread_mutex_init(&r->page_mu[i], NULL);
    return r;
}

void recs_free(struct recs *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->np; i++) {
        free(r->p[i].title);
        free(r->p[i].buys);
        free(r->p[i].coviews);
    }
    free(r->p);
    recs_content_free(r);
    for (uint32_t i = 0; i < r->nu; i++)
        free(r->u[i].owned);
    free(r->u);
    idmap_free(&r->by_id);
    idmap_free(&r->by_cat);
    idmap_free(&r->by_user);
    idmap_free(&r->shown);
    intern_free(&r->terms);
    text_stemmers_free(r->stem);
    free(r->popc);
    recs_rcache_free(r->cache);
    recs_pages_free(r);
    for (int i = 0; i < RECS_BUF_SHARDS; i++)
        free(r->bufs[i].ev);
    pthread_rwlock_destroy(&r->lock);
    pthread_rwlock_destroy(&r->shown_lock);
    pthread_mutex_destroy(&r->write_mu);
    pthread_mutex_destroy(&r->pop_mu);
    pthread_mutex_destroy(&r->content_mu);
    for (int i = 0; i < RECS_BUF_SHARDS; i++)
        pthread_mutex_destroy(&r->bufs[i].mu);
    free(r);
}

/* ---- products ------------------------------------------------------------------------ */

static uint32_t prod_slot(struct recs *r, int64_t id, bool create)
{
    uint32_t s = idmap_get(&r->by_id, id);
    if (s != MAP_NONE || !create)
        return s;
    if (r->np == r->capp) {
        uint32_t old = r->capp;
        r->capp = r->capp ? r->capp * 2 : 1024;
        r->p = xrealloc(r->p, r->capp * sizeof *r->p);
        r->pages = xrealloc(r->pages, r->capp * sizeof *r->pages);
        memset(r->pages + old, 0, (r->capp - old) * sizeof *r->pages);
    }
    s = r->np++;
    memset(&r->p[s], 0, sizeof r->p[s]);
    r->p[s].id = id;
    idmap_put(&r->by_id, id, s);
    return s;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void recs_put_product(struct recs *r, const struct prod_src *src)
{
    uint32_t s = prod_slot(r, src->id, true);
    struct rprod *p = &r->p[s];
    bool live = src->published && src->in_stock;
    bool shown = p->loaded && p->live == live && p->price == src->price && p->title &&
                 !strcmp(p->title, src->title);
    if (!shown)
        atomic_fetch_add(&r->avail_version, 1);
    uint64_t brand = recs_content_brand(src->brand);
    /* Out of its category's content arrays while what orders them changes. */
    if (p->indexed && (!live || p->category_id != src->category_id || p->price != src->price ||
                       p->brand != brand))
        recs_content_remove(r, s);
    p->category_id = src->category_id;
    p->price = src->price;
    p->brand = brand;
    p->live = live;
    p->published = src->published;
    p->loaded = true;
    recs_set_shown(r, src->id, src->published, live);
    snprintf(p->currency, sizeof p->currency, "%s", src->currency ? src->currency : "");
    if (!p->title || strcmp(p->title, src->title)) {
        free(p->title);
        p->title = xstrdup(src->title);
        recs_content_terms(r, p, src->title);
    }
    recs_content_add(r, s);
}

bool recs_product_live(struct recs *r, int64_t id, bool *published)
{
    pthread_rwlock_rdlock(&r->shown_lock);
    uint32_t f = idmap_get(&r->shown, id);
    pthread_rwlock_unlock(&r->shown_lock);
    if (f == MAP_NONE)
        f = 0;
    if (published)
        *published = f & SHOWN_PUBLISHED;
    return f & SHOWN_LIVE;
}

void recs_set_shown(struct recs *r, int64_t id, bool published, bool live)
{
    pthread_rwlock_wrlock(&r->shown_lock);
    if (published || live)
        idmap_put(&r->shown, id, (published ? SHOWN_PUBLISHED : 0) | (live ? SHOWN_LIVE : 0));
    else
        idmap_del(&r->shown, id);
    pthread_rwlock_unlock(&r->shown_lock);
}

/* ---- users ---------------------------------------------------------------------------- */

static struct ruser *user_get(struct recs *r, int64_t key, bool create)
{
    uint32_t i = idmap_get(&r->by_user, key);
    if (i != MAP_NONE)
        return &r->u[i];
    if (!create)
        return NULL;
    if (r->nu == r->capu) {
        r->capu = r->capu ? r->capu * 2 : 1024;
        r->u = xrealloc(r->u, r->capu * sizeof *r->u);
    }
    i = r->nu++;
    memset(&r->u[i], 0, sizeof r->u[i]);
    r->u[i].key = key;
    idmap_put(&r->by_user, key, i);
    return &r->u[i];
}

static const struct hist *hist_at(const struct ruser *u, int i)
{
    return &u->h[(u->head + RECS_HIST - 1 - i) % RECS_HIST];
}

static void hist_push(struct ruser *u, uint32_t slot, int kind, int64_t at)
{
    u->h[u->head] = (struct hist){.at = at, .slot = slot, .kind = (uint8_t)kind};
    u->head = (uint8_t)((u->head + 1) % RECS_HIST);
    if (u->n < RECS_HIST)
        u->n++;
}

bool recs_user_owns(const struct ruser *u, uint32_t slot)
{
    return u && u->nowned && bsearch(&slot, u->owned, u->nowned, sizeof slot, cmp_u32);
}

static void own(struct ruser *u, uint32_t slot)
{
    if (recs_user_owns(u, slot) || u->nowned >= OWNED_MAX)
        return;
    if (u->nowned == u->capowned) {
        u->capowned = u->capowned ? u->capowned * 2 : 8;
        u->owned = xrealloc(u->owned, u->capowned * sizeof *u->owned);
    }
    uint32_t i = u->nowned++;
    while (i > 0 && u->owned[i - 1] > slot) {
        u->owned[i] = u->owned[i - 1];
        i--;
    }
    u->owned[i] = slot;
}

uint64_t recs_user_stamp(struct recs *r, int64_t user_key)
{
    pthread_rwlock_rdlock(&r->lock);
    struct ruser *u = user_get(r, user_key, false);
    uint64_t s = u ? u->stamp : 0;
    pthread_rwlock_unlock(&r->lock);
    return s;
}

/* ---- applying events ---------------------------------------------------------------- */

static void finish_basket(struct recs *r)
{
    if (r->nbasket > 0) {
        r->total_orders += 1;
        for (int i = 0; i < r->nbasket; i++) {
            struct rprod *a = &r->p[r->basket[i]];
            a->orders++;
            a->stamp++;
            for (int j = 0; j < r->nbasket; j++)
                if (j != i)
                    nb_add(&a->buys, r->basket[j], 1.0f);
        }
    }
    r->nbasket = 0;
    r->basket_order = -1;
}

static void rebase(struct recs *r, int64_t at)
{
    int64_t hl = r->cfg.half_life_ms;
    while (at - r->base_ms > 40 * hl) {
        const float f = 1.0f / (float)(1 << 20);
        for (uint32_t i = 0; i < r->np; i++) {
            r->p[i].pop *= f;
            r->p[i].views *= f;
            nb_scale(r->p[i].coviews, f);
        }
        r->base_ms += 20 * hl;
    }
}

static void apply_one(struct recs *r, const struct recs_row *row)
{
    if (row->kind < RECS_VIEW || row->kind > RECS_PURCHASE)
        return;
    rebase(r, row->at);
    uint32_t s = prod_slot(r, row->product_id, true);
    double w = recs_decay(row->at, r->base_ms, r->cfg.half_life_ms);
    r->p[s].pop += recs_kind_weight(row->kind) * w;
    struct ruser *u = user_get(r, row->user_key, true);
    u->stamp++;
    if (row->kind == RECS_VIEW) {
        r->p[s].views += w;
        r->p[s].stamp++;
        if (u->n && hist_at(u, 0)->slot == s && hist_at(u, 0)->kind == RECS_VIEW) {
            /* A reload of the same page: no new pairs. */
            u->h[(u->head + RECS_HIST - 1) % RECS_HIST].at = row->at;
            return;
        }
        int64_t prev = row->at;
        int paired = 0;
        for (int i = 0; i < u->n && paired < RECS_SESSION_PAIRS; i++) {
            const struct hist *h = hist_at(u, i);
            if (prev - h->at > RECS_SESSION_GAP_MS)
                break;
            prev = h->at;
            if (h->slot == s)
                continue;
            nb_add(&r->p[s].coviews, h->slot, (float)w);
            nb_add(&r->p[h->slot].coviews, s, (float)w);
            r->p[h->slot].stamp++;
            paired++;
        }
    } else if (row->kind == RECS_PURCHASE) {
        own(u, s);
        if (row->order_id != r->basket_order) {
            finish_basket(r);
            r->basket_order = row->order_id;
        }
        bool seen = false;
        for (int i = 0; i < r->nbasket && !seen; i++)
            seen = r->basket[i] == s;
        if (!seen && r->nbasket < RECS_BASKET)
            r->basket[r->nbasket++] = s;
    }
    hist_push(u, s, row->kind, row->at);
}

void recs_apply_rows(struct recs *r, const struct recs_row *rows, int n, bool complete)
{
    for (int i = 0; i < n; i++)
        apply_one(r, &rows[i]);
    /* Rows of one order commit together: at the end of what is committed
     * the order being assembled is whole. */
    if (complete)
        finish_basket(r);
    atomic_fetch_add(&r->events, (uint64_t)n);
}

/* ---- answers ---------------------------------------------------------------------------- */

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
    const struct ruser *u = user_get(r, user_key, false);
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

/* ---- figures ---------------------------------------------------------------------------- */

bool recs_ready(struct recs *r)
{
    return atomic_load(&r->ready);
}

void recs_stats(struct recs *r, struct recs_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&r->lock);
    uint64_t bytes = (uint64_t)r->capp * sizeof *r->p + (uint64_t)r->capu * sizeof *r->u +
                     idmap_bytes(&r->by_id) + idmap_bytes(&r->by_user) + idmap_bytes(&r->by_cat) +
                     intern_bytes(&r->terms) + idmap_bytes(&r->shown) /* written under r->lock too */ +
                     (uint64_t)r->capp * sizeof *r->pages;
    for (uint32_t i = 0; i < r->np; i++) {
        const struct rprod *p = &r->p[i];
        if (p->title)
            bytes += strlen(p->title) + 1;
        if (p->buys)
            bytes += sizeof *p->buys + p->buys->cap * sizeof(struct nb_entry);
        if (p->coviews)
            bytes += sizeof *p->coviews + p->coviews->cap * sizeof(struct nb_entry);
    }
    bytes += recs_content_bytes(r);
    for (uint32_t i = 0; i < r->nu; i++)
        bytes += r->u[i].capowned * sizeof(uint32_t);
    out->products = r->np;
    out->users = r->nu;
    out->orders = (uint64_t)r->total_orders;
    out->bytes = bytes;
    pthread_rwlock_unlock(&r->lock);
    out->buffered = atomic_load(&r->nbuffered);
    out->events = atomic_load(&r->events);
    out->written = atomic_load(&r->written);
    out->dropped = atomic_load(&r->dropped);
    out->build_ms = atomic_load(&r->build_ms);
    out->page_bytes = atomic_load(&r->page_bytes);
}

void recs_render_metrics(struct recs *r, struct buf *out)
{
    struct recs_stats st;
    recs_stats(r, &st);
    buf_printf(out,
               "# TYPE shopd_recs_products gauge\nshopd_recs_products %llu\n"
               "# TYPE shopd_recs_users gauge\nshopd_recs_users %llu\n"
               "# TYPE shopd_recs_orders gauge\nshopd_recs_orders %llu\n"
               "# TYPE shopd_recs_bytes gauge\nshopd_recs_bytes %llu\n"
               "# TYPE shopd_recs_build_ms gauge\nshopd_recs_build_ms %lld\n"
               "# TYPE shopd_recs_events_applied_total counter\n"
               "shopd_recs_events_applied_total %llu\n"
               "# TYPE shopd_recs_events_written_total counter\n"
               "shopd_recs_events_written_total %llu\n"
               "# TYPE shopd_recs_events_dropped_total counter\n"
               "shopd_recs_events_dropped_total %llu\n"
               "# TYPE shopd_recs_events_buffered gauge\nshopd_recs_events_buffered %llu\n"
               "# TYPE shopd_recs_page_bytes gauge\nshopd_recs_page_bytes %llu\n",
               (unsigned long long)st.products, (unsigned long long)st.users,
               (unsigned long long)st.orders, (unsigned long long)st.bytes,
               (long long)st.build_ms, (unsigned long long)st.events,
               (unsigned long long)st.written, (unsigned long long)st.dropped,
               (unsigned long long)st.buffered, (unsigned long long)st.page_bytes);
}
