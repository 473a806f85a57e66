/* product_cache.c — see product_cache.h. Each shard is a chained hash
 * table that doubles its buckets when it holds more pages than buckets, so
 * a lookup follows one short chain whether the cache holds 200,000 pages
 * or, configured for a catalog of millions (SHOPD_PRODUCT_CACHE_MAX), a
 * million (with 1,024 buckets a shard for ever, a chain held 15).
 */
#include "shop/product_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define SHARDS 64

struct entry {
    struct product_blob *blob;
    struct entry *next;
};

struct shard {
    pthread_mutex_t mu;
    struct entry **buckets;
    size_t nbuckets, count;
    uint64_t generation;
    _Atomic uint64_t hits, misses;
    char pad[64];
};

struct product_cache {
    size_t max_per_shard;
    struct shard shards[SHARDS];
};

static size_t shard_of(int64_t id)
{
    return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u >> 58) & (SHARDS - 1);
}

static size_t bucket_of(const struct shard *s, int64_t id)
{
    return (size_t)(((uint64_t)id * 0xC2B2AE3D27D4EB4Fu) >> 20) % s->nbuckets;
}

struct product_cache *product_cache_new(size_t max)
{
    struct product_cache *c = xcalloc(1, sizeof *c);
    c->max_per_shard = max / SHARDS + (max ? 1 : 0);
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&c->shards[i].mu, NULL);
        c->shards[i].nbuckets = 1024;
        c->shards[i].buckets = xcalloc(1024, sizeof(struct entry *));
    }
    return c;
}

struct product_blob *product_blob_new(int64_t id, int64_t seller_id, int status, const char *json,
                                      size_t len)
{
    struct product_blob *b = xmalloc(sizeof *b + len + 1);
    atomic_init(&b->refs, 1);
    b->id = id;
    b->seller_id = seller_id;
    b->status = status;
    b->len = len;
    memcpy(b->json, json, len);
    b->json[len] = '\0';
    /* FNV-1a over the bytes: the ETag changes whenever the page does. */
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)json[i]) * 0x100000001b3u;
    snprintf(b->etag, sizeof b->etag, "\"%016llx\"", (unsigned long long)h);
    return b;
}

void product_blob_ref(struct product_blob *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void product_blob_unref(struct product_blob *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

static void shard_clear(struct shard *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct entry *e = s->buckets[i];
        while (e) {
            struct entry *next = e->next;
            product_blob_unref(e->blob);
            free(e);
            e = next;
        }
        s->buckets[i] = NULL;
    }
    s->count = 0;
}

void product_cache_free(struct product_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SHARDS; i++) {
        shard_clear(&c->shards[i]);
        free(c->shards[i].buckets);
        pthread_mutex_destroy(&c->shards[i].mu);
    }
    free(c);
}

struct product_blob *product_cache_get(struct product_cache *c, int64_t id)
{
    struct shard *s = &c->shards[shard_of(id)];
    struct product_blob *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct entry *e = s->buckets[bucket_of(s, id)]; e; e = e->next)
        if (e->blob->id == id) {
            found = e->blob;
            product_blob_ref(found);
            break;
        }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(found ? &s->hits : &s->misses, 1, memory_order_relaxed);
    return found;
}

uint64_t product_cache_generation(struct product_cache *c, int64_t id)
{
    struct shard *s = &c->shards[shard_of(id)];
    pthread_mutex_lock(&s->mu);
    uint64_t g = s->generation;
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* Removes `id` from its bucket; the caller holds the lock. */
static void remove_locked(struct shard *s, int64_t id)
{
    struct entry **pp = &s->buckets[bucket_of(s, id)];
    while (*pp) {
        if ((*pp)->blob->id == id) {
            struct entry *dead = *pp;
            *pp = dead->next;
            product_blob_unref(dead->blob);
            free(dead);
            s->count--;
            return;
        }
        pp = &(*pp)->next;
    }
}

/* Doubles a shard's buckets (lock held). */
static void grow_locked(struct shard *s)
{
    size_t old_n = s->nbuckets;
    struct entry **old = s->buckets;
    s->nbuckets = old_n * 2;
    s->buckets = xcalloc(s->nbuckets, sizeof *s->buckets);
    for (size_t i = 0; i < old_n; i++)
        for (struct entry *e = old[i], *next; e; e = next) {
            next = e->next;
            size_t k = bucket_of(s, e->blob->id);
            e->next = s->buckets[k];
            s->buckets[k] = e;
        }
    free(old);
}

void product_cache_put(struct product_cache *c, struct product_blob *b, uint64_t generation)
{
    if (!c->max_per_shard)
        return;
    struct shard *s = &c->shards[shard_of(b->id)];
    pthread_mutex_lock(&s->mu);
    if (s->generation != generation) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    remove_locked(s, b->id);
    if (s->count >= c->max_per_shard) {
        /* Full: drop the first chain found from a pseudo-random bucket. */
        size_t start = (size_t)b->id % s->nbuckets;
        for (size_t k = 0; k < s->nbuckets; k++) {
            struct entry *e = s->buckets[(start + k) % s->nbuckets];
            if (e) {
                remove_locked(s, e->blob->id);
                break;
            }
        }
    }
    struct entry *e = xmalloc(sizeof *e);
    product_blob_ref(b);
    e->blob = b;
    size_t k = bucket_of(s, b->id);
    e->next = s->buckets[k];
    s->buckets[k] = e;
    s->count++;
    if (s->count > s->nbuckets)
        grow_locked(s);
    pthread_mutex_unlock(&s->mu);
}

void product_cache_invalidate(struct product_cache *c, int64_t id)
{
    struct shard *s = &c->shards[shard_of(id)];
    pthread_mutex_lock(&s->mu);
    s->generation++;
    remove_locked(s, id);
    pthread_mutex_unlock(&s->mu);
}

void product_cache_clear(struct product_cache *c)
{
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        s->generation++;
        shard_clear(s);
        pthread_mutex_unlock(&s->mu);
    }
}

void product_cache_stats(struct product_cache *c, struct product_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        out->hits += atomic_load_explicit(&s->hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&s->misses, memory_order_relaxed);
        pthread_mutex_lock(&s->mu);
        out->entries += s->count;
        out->buckets += s->nbuckets;
        pthread_mutex_unlock(&s->mu);
    }
}
