/* cache.c — the sharded, versioned, reference-counted result cache (cache.h). */
#include "search/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "search/maps.h"
#include "util/xalloc.h"

#define SHARDS 16

struct rc_blob {
    atomic_int refs;
    size_t len;
    int64_t aux;
    const char *note; /* in data[], after the answer; NULL when none */
    char data[];
};

struct rc_entry {
    struct rc_entry *hnext;       /* bucket chain */
    struct rc_entry *prev, *next; /* LRU: most recent after the sentinel */
    uint64_t hash, version;
    int64_t expires_ms;
    struct rc_blob *blob;
    size_t klen;
    char key[];
};

struct rc_shard {
    pthread_mutex_t mu;
    struct rc_entry **buckets;
    size_t nbuckets, n, bytes;
    struct rc_entry lru;
};

struct rcache {
    struct rc_shard shard[SHARDS];
    size_t max_entries, max_bytes; /* per shard */
    atomic_uint_fast64_t hits, misses;
};

struct rcache *rcache_new(size_t max_entries, size_t max_bytes)
{
    struct rcache *c = xcalloc(1, sizeof *c);
    c->max_entries = max_entries / SHARDS + 1;
    c->max_bytes = max_bytes / SHARDS + 1;
    for (int i = 0; i < SHARDS; i++) {
        struct rc_shard *s = &c->shard[i];
        pthread_mutex_init(&s->mu, NULL);
        s->nbuckets = 256;
        s->buckets = xcalloc(s->nbuckets, sizeof *s->buckets);
        s->lru.prev = s->lru.next = &s->lru;
    }
    return c;
}

void rc_blob_release(struct rc_blob *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

static size_t entry_bytes(const struct rc_entry *e)
{
    size_t nl = e->blob->note ? strlen(e->blob->note) + 1 : 0;
    return sizeof *e + e->klen + sizeof *e->blob + e->blob->len + nl;
}

static void lru_unlink(struct rc_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_front(struct rc_shard *s, struct rc_entry *e)
{
    e->next = s->lru.next;
    e->prev = &s->lru;
    s->lru.next->prev = e;
    s->lru.next = e;
}

/* Unlinks from the bucket and the LRU and frees the entry. */
static void entry_drop(struct rc_shard *s, struct rc_entry *e)
{
    struct rc_entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    s->n--;
    s->bytes -= entry_bytes(e);
    rc_blob_release(e->blob);
    free(e);
}

void rcache_free(struct rcache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SHARDS; i++) {
        struct rc_shard *s = &c->shard[i];
        while (s->lru.next != &s->lru)
            entry_drop(s, s->lru.next);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

static struct rc_entry *lookup(struct rc_shard *s, const char *key, size_t klen, uint64_t h)
{
    for (struct rc_entry *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
            return e;
    return NULL;
}

struct rc_blob *rcache_get(struct rcache *c, const char *key, size_t klen, uint64_t version,
                           int64_t now_ms)
{
    uint64_t h = hash_bytes(key, klen);
    struct rc_shard *s = &c->shard[h % SHARDS];
    struct rc_blob *b = NULL;
    pthread_mutex_lock(&s->mu);
    struct rc_entry *e = lookup(s, key, klen, h);
    if (e && e->version == version && (!e->expires_ms || now_ms < e->expires_ms)) {
        b = e->blob;
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
        lru_unlink(e);
        lru_front(s, e);
    } else if (e) {
        entry_drop(s, e); /* stale: a newer catalog or expired */
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(b ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return b;
}

static void grow(struct rc_shard *s)
{
    size_t nb = s->nbuckets * 2;
    struct rc_entry **buckets = xcalloc(nb, sizeof *buckets);
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct rc_entry *e = s->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->hnext = buckets[e->hash & (nb - 1)];
            buckets[e->hash & (nb - 1)] = e;
        }
    }
    free(s->buckets);
    s->buckets = buckets;
    s->nbuckets = nb;
}

struct rc_blob *rcache_put(struct rcache *c, const char *key, size_t klen, uint64_t version,
                           int64_t expires_ms, const char *data, size_t len, int64_t aux,
                           const char *note)
{
    size_t nl = note ? strlen(note) + 1 : 0;
    struct rc_blob *b = xmalloc(sizeof *b + len + nl);
    atomic_init(&b->refs, 1);
    b->len = len;
    b->aux = aux;
    memcpy(b->data, data, len);
    b->note = note ? memcpy(b->data + len, note, nl) : NULL;
    size_t need = sizeof(struct rc_entry) + klen + sizeof *b + len + nl;
    if (need > c->max_bytes || c->max_entries <= 1)
        return b;
    uint64_t h = hash_bytes(key, klen);
    struct rc_shard *s = &c->shard[h % SHARDS];
    struct rc_entry *e = xmalloc(sizeof *e + klen);
    e->hash = h;
    e->version = version;
    e->expires_ms = expires_ms;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->blob = b;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed); /* the cache's own */
    pthread_mutex_lock(&s->mu);
    struct rc_entry *old = lookup(s, key, klen, h);
    if (old && old->version > version) {
        /* A newer answer is already there (computed after a later change). */
        pthread_mutex_unlock(&s->mu);
        rc_blob_release(b);
        free(e);
        return b;
    }
    if (old)
        entry_drop(s, old);
    while (s->n && (s->n + 1 > c->max_entries || s->bytes + need > c->max_bytes))
        entry_drop(s, s->lru.prev);
    if (s->n + 1 > s->nbuckets)
        grow(s);
    struct rc_entry **bucket = &s->buckets[h & (s->nbuckets - 1)];
    e->hnext = *bucket;
    *bucket = e;
    lru_front(s, e);
    s->n++;
    s->bytes += entry_bytes(e);
    pthread_mutex_unlock(&s->mu);
    return b;
}

const char *rc_blob_data(const struct rc_blob *b, size_t *len, int64_t *aux)
{
    if (len)
        *len = b->len;
    if (aux)
        *aux = b->aux;
    return b->data;
}

const char *rc_blob_note(const struct rc_blob *b)
{
    return b->note;
}

void rcache_stats(struct rcache *c, struct rcache_stats *out)
{
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->entries = out->bytes = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shard[i].mu);
        out->entries += c->shard[i].n;
        out->bytes += c->shard[i].bytes;
        pthread_mutex_unlock(&c->shard[i].mu);
    }
}
