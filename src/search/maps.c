/* maps.c — string interning and the int64 → uint32 map (maps.h). */
#include "search/maps.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

uint64_t hash_bytes(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_i64(int64_t k)
{
    uint64_t x = (uint64_t)k;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* ---- intern ---------------------------------------------------------------- */

void intern_init(struct intern *t)
{
    memset(t, 0, sizeof *t);
    t->mask = 63;
    t->slots = xcalloc(t->mask + 1, sizeof *t->slots);
}

void intern_free(struct intern *t)
{
    free(t->slots);
    free(t->keys);
    free(t->pool);
    memset(t, 0, sizeof *t);
}

static uint32_t h32(const char *s, size_t len)
{
    return (uint32_t)(hash_bytes(s, len) >> 32);
}

uint32_t intern_find(const struct intern *t, const char *s, size_t len)
{
    uint32_t h = h32(s, len);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t e = t->slots[i];
        if (!e)
            return MAP_NONE;
        if ((uint32_t)(e >> 32) == h) {
            uint32_t id = (uint32_t)e - 1;
            if (t->keys[id].len == len && !memcmp(t->pool + t->keys[id].off, s, len))
                return id;
        }
    }
}

static void intern_grow(struct intern *t)
{
    size_t cap = (t->mask + 1) * 2;
    uint64_t *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i <= t->mask; i++) {
        uint64_t e = t->slots[i];
        if (!e)
            continue;
        size_t j = (e >> 32) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = e;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
}

uint32_t intern_add(struct intern *t, const char *s, size_t len, int *added)
{
    uint32_t id = intern_find(t, s, len);
    if (added)
        *added = id == MAP_NONE;
    if (id != MAP_NONE)
        return id;
    if ((size_t)(t->n + 1) * 4 > (t->mask + 1) * 3)
        intern_grow(t);
    if (t->n == t->kcap) {
        t->kcap = t->kcap ? t->kcap * 2 : 64;
        t->keys = xrealloc(t->keys, t->kcap * sizeof *t->keys);
    }
    if (t->plen + len + 1 > t->pcap) {
        t->pcap = t->pcap ? t->pcap * 2 : 1024;
        while (t->plen + len + 1 > t->pcap)
            t->pcap *= 2;
        t->pool = xrealloc(t->pool, t->pcap);
    }
    id = t->n++;
    t->keys[id].off = (uint32_t)t->plen;
    t->keys[id].len = (uint32_t)len;
    memcpy(t->pool + t->plen, s, len);
    t->pool[t->plen + len] = '\0';
    t->plen += len + 1;
    uint32_t h = h32(s, len);
    size_t i = h & t->mask;
    while (t->slots[i])
        i = (i + 1) & t->mask;
    t->slots[i] = ((uint64_t)h << 32) | (id + 1);
    return id;
}

const char *intern_str(const struct intern *t, uint32_t id, size_t *len)
{
    if (len)
        *len = t->keys[id].len;
    return t->pool + t->keys[id].off;
}

size_t intern_bytes(const struct intern *t)
{
    return (t->mask + 1) * sizeof *t->slots + t->kcap * sizeof *t->keys + t->pcap;
}

/* ---- idmap ----------------------------------------------------------------- */

#define EMPTY INT64_MIN

static void idmap_alloc(struct idmap *m, size_t cap)
{
    m->keys = xmalloc(cap * sizeof *m->keys);
    m->vals = xmalloc(cap * sizeof *m->vals);
    for (size_t i = 0; i < cap; i++)
        m->keys[i] = EMPTY;
    m->mask = cap - 1;
}

void idmap_init(struct idmap *m)
{
    memset(m, 0, sizeof *m);
    idmap_alloc(m, 64);
}

void idmap_free(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

uint32_t idmap_get(const struct idmap *m, int64_t key)
{
    for (size_t i = hash_i64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == EMPTY)
            return MAP_NONE;
    }
}

void idmap_put(struct idmap *m, int64_t key, uint32_t val)
{
    if ((m->n + 1) * 4 > (m->mask + 1) * 3) {
        int64_t *keys = m->keys;
        uint32_t *vals = m->vals;
        size_t cap = m->mask + 1;
        idmap_alloc(m, cap * 2);
        m->n = 0;
        for (size_t i = 0; i < cap; i++)
            if (keys[i] != EMPTY)
                idmap_put(m, keys[i], vals[i]);
        free(keys);
        free(vals);
    }
    size_t i = hash_i64(key) & m->mask;
    while (m->keys[i] != EMPTY && m->keys[i] != key)
        i = (i + 1) & m->mask;
    if (m->keys[i] == EMPTY)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

void idmap_reserve(struct idmap *m, size_t n)
{
    size_t cap = m->mask + 1;
    while (n * 4 > cap * 3)
        cap *= 2;
    if (cap == m->mask + 1)
        return;
    int64_t *keys = m->keys;
    uint32_t *vals = m->vals;
    size_t old = m->mask + 1;
    idmap_alloc(m, cap);
    m->n = 0;
    for (size_t i = 0; i < old; i++)
        if (keys[i] != EMPTY)
            idmap_put(m, keys[i], vals[i]);
    free(keys);
    free(vals);
}

void idmap_del(struct idmap *m, int64_t key)
{
    size_t i = hash_i64(key) & m->mask;
    while (m->keys[i] != key) {
        if (m->keys[i] == EMPTY)
            return;
        i = (i + 1) & m->mask;
    }
    /* Backward-shift: move later members of the probe run into the hole. */
    size_t j = i;
    for (;;) {
        m->keys[i] = EMPTY;
        for (;;) {
            j = (j + 1) & m->mask;
            if (m->keys[j] == EMPTY) {
                m->n--;
                return;
            }
            size_t home = hash_i64(m->keys[j]) & m->mask;
            /* j's entry may fill i when its home is not cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
}

size_t idmap_bytes(const struct idmap *m)
{
    return (m->mask + 1) * (sizeof *m->keys + sizeof *m->vals);
}
