/* product_cache.h — rendered product pages, shared and reference-counted.
 *
 * A product page (its JSON document with live availability) is rendered once
 * and then served from memory until something about the product changes:
 * every committed change calls product_cache_invalidate (changes.c). The
 * cache is sharded; each shard has a generation that invalidation bumps, so
 * a page rendered from a snapshot older than an invalidation is never
 * inserted (the render-then-insert race).
 */
#ifndef SHOP_SHOP_PRODUCT_CACHE_H
#define SHOP_SHOP_PRODUCT_CACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/** An immutable rendered page. Readers hold a reference while sending it. */
struct product_blob {
    _Atomic int refs;
    int64_t id, seller_id;
    int status;     /* enum product_status */
    char etag[24];  /* "\"<16 hex>\"" */
    size_t len;
    char json[];
};

struct product_cache;

/** A cache holding at most `max` pages (0 disables caching). */
struct product_cache *product_cache_new(size_t max);
void product_cache_free(struct product_cache *c);

/** A new blob with one reference, holding a copy of `json`. */
struct product_blob *product_blob_new(int64_t id, int64_t seller_id, int status, const char *json,
                                      size_t len);
void product_blob_ref(struct product_blob *b);
void product_blob_unref(struct product_blob *b);

/** The cached page with a new reference, or NULL. */
struct product_blob *product_cache_get(struct product_cache *c, int64_t id);

/** The shard generation to pass to product_cache_put; read it before
 *  rendering. */
uint64_t product_cache_generation(struct product_cache *c, int64_t id);

/** Caches `b` (taking a reference of its own) unless the product was
 *  invalidated since `generation` was read. */
void product_cache_put(struct product_cache *c, struct product_blob *b, uint64_t generation);

void product_cache_invalidate(struct product_cache *c, int64_t id);
void product_cache_clear(struct product_cache *c);

struct product_cache_stats {
    uint64_t hits, misses, entries;
    uint64_t buckets; /* hash buckets: at least `entries` */
};
void product_cache_stats(struct product_cache *c, struct product_cache_stats *out);

#endif
