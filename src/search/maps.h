/* maps.h — the two hash tables the index is built on.
 *
 *  - `struct intern`: byte strings ↔ dense ids 0, 1, 2 … (terms, words,
 *    brands). Strings are copied into one pool and never removed: an id,
 *    once handed out, names the same string for the life of the table.
 *  - `struct idmap`: int64 keys (product and category ids) → uint32 values,
 *    with deletion (linear probing, backward-shift delete: no tombstones).
 *
 * Neither is thread-safe; the index's lock protects them.
 */
#ifndef SHOP_SEARCH_MAPS_H
#define SHOP_SEARCH_MAPS_H

#include <stddef.h>
#include <stdint.h>

#define MAP_NONE UINT32_MAX

struct intern {
    uint64_t *slots; /* (hash32 << 32) | (id + 1); 0 is empty */
    size_t mask;
    struct {
        uint32_t off, len;
    } * keys;
    uint32_t n, kcap;
    char *pool;
    size_t plen, pcap;
};

void intern_init(struct intern *t);
void intern_free(struct intern *t);

/** The id of `s`, or MAP_NONE. */
uint32_t intern_find(const struct intern *t, const char *s, size_t len);

/** The id of `s`, adding it when absent (`*added` says which, may be NULL). */
uint32_t intern_add(struct intern *t, const char *s, size_t len, int *added);

/** The string of an id (NUL-terminated, in the pool: valid until the next
 *  intern_add, which may move the pool). */
const char *intern_str(const struct intern *t, uint32_t id, size_t *len);

/** Bytes held (for the memory figure). */
size_t intern_bytes(const struct intern *t);

struct idmap {
    int64_t *keys; /* INT64_MIN is empty */
    uint32_t *vals;
    size_t mask, n;
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m);
uint32_t idmap_get(const struct idmap *m, int64_t key);
void idmap_put(struct idmap *m, int64_t key, uint32_t val);
/** Grows the table now to hold `n` keys (the size n inserts would grow it
 *  to), so a bulk load does not rehash on the way. */
void idmap_reserve(struct idmap *m, size_t n);
void idmap_del(struct idmap *m, int64_t key);
size_t idmap_bytes(const struct idmap *m);

/** 64-bit FNV-1a, mixed (for strings that key tables and caches). */
uint64_t hash_bytes(const void *p, size_t len);

#endif
