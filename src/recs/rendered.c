/* rendered.c — the engine's rendered answers: the short-lived cache of
 * rendered lists (recs_cache_*) and the product page with its
 * recommendations (recs_page_*), which the caller renders and the engine
 * keeps.
 *
 * THE PRODUCT PAGE
 *
 * Product detail must cost next to nothing more than the plain page
 * (issue 13: ≥ 90 %). Computing the two lists and printing their numbers
 * is tens of microseconds, the plain page a few, so the page with its
 * recommendations spliced in is rendered once and served, shared and
 * uncopied, like the plain page's blob. Each product keeps at most one, in
 * `recs.pages[slot]` (8 bytes a product; the page, about 2.6 KB, only for
 * pages someone asked for), reference-counted (a response being sent holds
 * one), stamped with what it was made from:
 *
 *   - the plain page it was spliced into (a hash of the blob's ETag: the
 *     catalog's change of the product makes a new page);
 *   - the availability version (recs_avail_version): any product leaving
 *     or entering the shop, or changing its title or price, makes every
 *     page stale at once — an unpublished or sold-out product is never
 *     shown;
 *   - the product's own stamp (rprod.stamp), bumped when its co-purchases,
 *     co-views, orders or views change: a purchase shows on its products'
 *     pages at the next request after the feed applied it — but a page
 *     younger than RECS_CACHE_MS is kept through such changes, so a page
 *     viewed many times a second is re-rendered at most once a second;
 *   - its age: past RECS_PAGE_MAX_MS it is made again even if nothing of
 *     the product changed, for what moves slowly with everyone else's
 *     events (neighbours' counts in lift and cosine, popular items padding a
 *     cold-start list).
 *
 * Memory is bounded: pages beyond recs_config.page_bytes_max give way, by a
 * clock hand over the products (a page read since the hand last passed is
 * spared once), and a page that finds no room is served and not kept.
 *
 * Readers hold the model's read lock (the pages array moves with the
 * products array, under the write lock) and one of RECS_SHARDS mutexes
 * (slot % RECS_SHARDS) while they take a reference: nothing else.
 */
#include <stdlib.h>
#include <string.h>

#include "recs/engine.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define CACHE_SLOTS 16384

/* ---- rendered-list cache --------------------------------------------------------------- */

struct rslot {
    uint64_t key, stamp, avail;
    int64_t at;
    char *text;
    size_t len;
};

struct rcache {
    pthread_mutex_t mu[RECS_SHARDS];
    struct rslot slots[CACHE_SLOTS];
};

struct rcache *recs_rcache_new(void)
{
    struct rcache *c = xcalloc(1, sizeof *c);
    for (int i = 0; i < RECS_SHARDS; i++)
        pthread_mutex_init(&c->mu[i], NULL);
    return c;
}

void recs_rcache_free(struct rcache *c)
{
    for (int i = 0; i < CACHE_SLOTS; i++)
        free(c->slots[i].text);
    for (int i = 0; i < RECS_SHARDS; i++)
        pthread_mutex_destroy(&c->mu[i]);
    free(c);
}

char *recs_cache_get(struct recs *r, uint64_t key, uint64_t stamp, struct arena *a, size_t *len)
{
    uint64_t h = recs_mix64(key);
    struct rslot *s = &r->cache->slots[h % CACHE_SLOTS];
    pthread_mutex_t *mu = &r->cache->mu[h % RECS_SHARDS];
    uint64_t avail = atomic_load(&r->avail_version);
    int64_t now = clock_now_ms();
    char *out = NULL;
    pthread_mutex_lock(mu);
    if (s->text && s->key == key && s->stamp == stamp && s->avail == avail &&
        now - s->at < RECS_CACHE_MS && now >= s->at) {
        out = arena_alloc(a, s->len + 1);
        memcpy(out, s->text, s->len + 1);
        *len = s->len;
    }
    pthread_mutex_unlock(mu);
    return out;
}

void recs_cache_put(struct recs *r, uint64_t key, uint64_t stamp, uint64_t avail_version,
                    const char *text, size_t len)
{
    uint64_t h = recs_mix64(key);
    struct rslot *s = &r->cache->slots[h % CACHE_SLOTS];
    pthread_mutex_t *mu = &r->cache->mu[h % RECS_SHARDS];
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(mu);
    char *old = s->text;
    *s = (struct rslot){.key = key,
                        .stamp = stamp,
                        .avail = avail_version,
                        .at = clock_now_ms(),
                        .text = copy,
                        .len = len};
    pthread_mutex_unlock(mu);
    free(old);
}

uint64_t recs_avail_version(struct recs *r)
{
    return atomic_load(&r->avail_version);
}

/* ---- the product page ----------------------------------------------------------------- */

struct recs_page {
    _Atomic int refs; /* the table's reference and each response's */
    uint64_t avail, base;
    int64_t at;
    uint32_t stamp, tag, len;
    bool used; /* read since the clock hand last passed (under the shard's mutex) */
    char text[];
};

static size_t page_bytes(const struct recs_page *p)
{
    return sizeof *p + p->len + 1;
}

void recs_page_release(void *cls)
{
    struct recs_page *p = cls;
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        free(p);
}

const char *recs_page_text(const struct recs_page *p, size_t *len, uint32_t *tag)
{
    *len = p->len;
    *tag = p->tag;
    return p->text;
}

static bool page_current(const struct recs_page *p, uint64_t base, uint64_t avail, uint32_t stamp,
                         int64_t now)
{
    int64_t age = now - p->at;
    return p->base == base && p->avail == avail && age >= 0 &&
           (age < RECS_CACHE_MS || (p->stamp == stamp && age < RECS_PAGE_MAX_MS));
}

struct recs_page *recs_page_get(struct recs *r, int64_t product_id, uint64_t base,
                                struct recs_page_ver *ver)
{
    uint64_t avail = atomic_load(&r->avail_version);
    int64_t now = clock_now_ms();
    struct recs_page *out = NULL;
    *ver = (struct recs_page_ver){.avail = avail, .base = base};
    pthread_rwlock_rdlock(&r->lock);
    uint32_t s = idmap_get(&r->by_id, product_id);
    if (s != MAP_NONE) {
        ver->stamp = r->p[s].stamp;
        pthread_mutex_t *mu = &r->page_mu[s % RECS_SHARDS];
        pthread_mutex_lock(mu);
        struct recs_page *p = r->pages[s];
        if (p && page_current(p, base, avail, ver->stamp, now)) {
            atomic_fetch_add(&p->refs, 1);
            p->used = true;
            out = p;
        }
        pthread_mutex_unlock(mu);
    }
    pthread_rwlock_unlock(&r->lock);
    return out;
}

/* Frees pages under the clock hand until `need` more bytes fit or the hand
 * has gone round twice; returns whether they fit (read lock held). */
static bool page_make_room(struct recs *r, size_t need)
{
    uint32_t n = r->np;
    for (uint32_t step = 0; step < 2 * n; step++) {
        if (atomic_load(&r->page_bytes) + need <= r->cfg.page_bytes_max)
            return true;
        uint32_t s = atomic_fetch_add(&r->page_hand, 1) % n;
        pthread_mutex_t *mu = &r->page_mu[s % RECS_SHARDS];
        pthread_mutex_lock(mu);
        struct recs_page *p = r->pages[s];
        if (p && p->used) {
            p->used = false;
            p = NULL;
        } else if (p) {
            r->pages[s] = NULL;
            atomic_fetch_sub(&r->page_bytes, page_bytes(p));
        }
        pthread_mutex_unlock(mu);
        recs_page_release(p);
    }
    return atomic_load(&r->page_bytes) + need <= r->cfg.page_bytes_max;
}

struct recs_page *recs_page_put(struct recs *r, int64_t product_id,
                                const struct recs_page_ver *ver, const char *text, size_t len,
                                uint32_t tag)
{
    struct recs_page *p = xmalloc(sizeof *p + len + 1);
    *p = (struct recs_page){.avail = ver->avail,
                            .base = ver->base,
                            .at = clock_now_ms(),
                            .stamp = ver->stamp,
                            .tag = tag,
                            .len = (uint32_t)len};
    atomic_init(&p->refs, 1); /* the caller's */
    memcpy(p->text, text, len);
    p->text[len] = '\0';
    if (len > RECS_PAGE_TEXT_MAX)
        return p;
    struct recs_page *old = NULL;
    pthread_rwlock_rdlock(&r->lock);
    uint32_t s = idmap_get(&r->by_id, product_id);
    if (s != MAP_NONE && page_make_room(r, page_bytes(p))) {
        pthread_mutex_t *mu = &r->page_mu[s % RECS_SHARDS];
        pthread_mutex_lock(mu);
        old = r->pages[s];
        r->pages[s] = p;
        atomic_fetch_add(&p->refs, 1); /* the table's */
        atomic_fetch_add(&r->page_bytes, page_bytes(p));
        if (old)
            atomic_fetch_sub(&r->page_bytes, page_bytes(old));
        pthread_mutex_unlock(mu);
    }
    pthread_rwlock_unlock(&r->lock);
    recs_page_release(old);
    return p;
}

void recs_pages_free(struct recs *r)
{
    for (uint32_t i = 0; i < r->np; i++)
        recs_page_release(r->pages[i]);
    free(r->pages);
    for (int i = 0; i < RECS_SHARDS; i++)
        pthread_mutex_destroy(&r->page_mu[i]);
}
