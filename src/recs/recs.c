/* recs.c — the recommendation engine (ENG-4): behaviour in, ranked lists
 * out, in memory, beside the search index and in its manner.
 *
 * WHAT IT IS
 *
 * Every process holds one model built from the `rec_events` table (views,
 * adds to cart, purchases; store migration 0026) and the products table:
 *
 *   recs.c     the model: products, users, neighbour tables, applying
 *              events, the figures
 *   answers.c  the lists: bought together, also viewed, popular, personal
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
 * Frequently bought together (confidence, minimum support, ranked by
 * lift), customers also viewed (cosine over sessions), popular (decayed,
 * overall or per category), personal (the user's recent events,
 * diversified) and content neighbours for cold start: how each is
 * computed, with its figures, is the essay at the top of answers.c.
 *
 * Only published, in-stock products are answered: each product carries a
 * `live` flag that recs_product_seen keeps true (shop_product_changed
 * passes it the search index's re-read after every committed change, the
 * change feed for other processes'), checked as each answer is made.
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
 * which fits the 3 s start-up budget with the snapshot. A view is in the model within ~0.2 s of the
 * request, a purchase within ~0.3 s of its payment; answers may come from the rendered-list cache
 * for up to a second more. Events are best-effort: what is buffered when the process dies (at most
 * ~100 ms of them) is lost; a 202 says the event was taken, not that it is on disk.
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
 * product whose page was asked for, SHOPD_RECS_PAGE_CACHE_MB at most, 512 MiB by default;
 * rendered.c) are counted apart (shopd_recs_page_bytes). Measured by bench/recs.py (100,000
 * products, 95,880 published, 1,000,000 events by 20,000 users): 67.1 MiB, 734 bytes per product,
 * built in 1.7 s on a quiet machine (8.6 s at load average 40); pages for 20,000 products 39.4 MiB
 * — logged at start as `recs.built` and exported in /metrics (shopd_recs_*).
 */
#include "recs/recs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recs/engine.h"
#include "recs/score.h"
#include "search/text.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/cmp.h"
#include "util/log.h"
#include "util/xalloc.h"

#define OWNED_MAX 4096

/* ---- neighbour tables ---------------------------------------------------------------- */

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
    r->popc = recs_popc_new();
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

struct ruser *recs_user_get(struct recs *r, int64_t key, bool create)
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
    struct ruser *u = recs_user_get(r, user_key, false);
    uint64_t s = u ? u->stamp : 0;
    pthread_rwlock_unlock(&r->lock);
    return s;
}

void recs_bought(struct recs *r, int64_t user_key, const int64_t *products, int n)
{
    if (!r || !recs_ready(r))
        return; /* a model still building reads the purchase with the rest */
    pthread_rwlock_wrlock(&r->lock);
    struct ruser *u = recs_user_get(r, user_key, true);
    for (int i = 0; i < n; i++) {
        uint32_t s = prod_slot(r, products[i], false);
        if (s != MAP_NONE)
            own(u, s);
    }
    u->stamp++; /* the user's cached answers are stale */
    pthread_rwlock_unlock(&r->lock);
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
    struct ruser *u = recs_user_get(r, row->user_key, true);
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
                     intern_bytes(&r->terms) +
                     idmap_bytes(&r->shown) /* written under r->lock too */ +
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
               (unsigned long long)st.orders, (unsigned long long)st.bytes, (long long)st.build_ms,
               (unsigned long long)st.events, (unsigned long long)st.written,
               (unsigned long long)st.dropped, (unsigned long long)st.buffered,
               (unsigned long long)st.page_bytes);
}
