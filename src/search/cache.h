/* cache.h — the result cache: rendered answers keyed by normalised request,
 * each tagged with the catalog version it was computed at (see search.h).
 *
 * Sixteen shards, each a chained hash table with its own LRU list and
 * mutex; limits on entries and bytes are split evenly between shards.
 * Answers are reference-counted blobs: `rcache_get` hands out a reference,
 * so a response can still be sending when its entry is evicted.
 */
#ifndef SHOP_SEARCH_CACHE_H
#define SHOP_SEARCH_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct rcache;
struct rc_blob;

struct rcache *rcache_new(size_t max_entries, size_t max_bytes);
void rcache_free(struct rcache *c);

/** A reference to the answer for `key` if it was computed at `version` and
 *  has not expired; NULL otherwise (counted as a miss). */
struct rc_blob *rcache_get(struct rcache *c, const char *key, size_t klen, uint64_t version,
                           int64_t now_ms);

/** Stores (or replaces) an answer with `aux` and an optional `note` string
 *  kept beside it; returns a reference for the caller. An answer bigger
 *  than a shard's byte budget is not kept, but the reference is still
 *  returned. `expires_ms` 0 means never. */
struct rc_blob *rcache_put(struct rcache *c, const char *key, size_t klen, uint64_t version,
                           int64_t expires_ms, const char *data, size_t len, int64_t aux,
                           const char *note);

const char *rc_blob_data(const struct rc_blob *b, size_t *len, int64_t *aux);

/** The note stored with the answer, or NULL. */
const char *rc_blob_note(const struct rc_blob *b);
void rc_blob_release(struct rc_blob *b);

struct rcache_stats {
    uint64_t hits, misses, entries, bytes;
};
void rcache_stats(struct rcache *c, struct rcache_stats *out);

#endif
