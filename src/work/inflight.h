/* inflight.h — the notification engine's in-flight set: the ids of rows
 * queued for a sender or being sent (work/notify_worker.h says why a row
 * must not be handed over twice).
 *
 * An open-addressing hash set of positive int64 ids with linear probing and
 * deletion by backward shift (no tombstones, so a long run of adds and
 * deletes never slows lookups down). Sized once: the caller keeps at most
 * `at_least` ids in it, which is under half its capacity. Not thread-safe:
 * the engine holds its lock around every call.
 */
#ifndef SHOP_WORK_INFLIGHT_H
#define SHOP_WORK_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct inflight {
    int64_t *slot; /* 0 = empty */
    size_t mask, n;
};

/** Room for `at_least` ids. */
void inflight_init(struct inflight *s, size_t at_least);
void inflight_free(struct inflight *s);

bool inflight_has(const struct inflight *s, int64_t id);

/** Adds a positive id (once, however often it is added). */
void inflight_add(struct inflight *s, int64_t id);

/** Removes an id; one that is absent is left alone. */
void inflight_del(struct inflight *s, int64_t id);

#endif
