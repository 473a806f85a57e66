/* idset.h — a thread-safe set of ids, filled by many threads and drained
 * by one (e.g. products whose search entry is stale). Bounded: when full,
 * further adds are dropped and drain reports the overflow, so the caller
 * can fall back to refreshing everything. */
#ifndef SHOP_UTIL_IDSET_H
#define SHOP_UTIL_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idset;

struct idset *idset_new(size_t capacity);
void idset_free(struct idset *s);

/** Adds a positive id (once, however often it is added). */
void idset_add(struct idset *s, int64_t id);

/** Moves up to `max` ids into `out` and removes them; returns how many.
 *  *overflowed (when not NULL) tells whether adds were dropped since the
 *  last drain. */
size_t idset_drain(struct idset *s, int64_t *out, size_t max, bool *overflowed);

#endif
