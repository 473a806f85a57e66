/* qlog.h — popular queries, counted in memory, for suggestions.
 *
 * Counting: sixteen shards (hash of the query) of at most QLOG_SHARD_MAX
 * entries each, every one under its own mutex. When a shard is full its
 * counts are halved and the entries that fall to zero are dropped, so old
 * fashions fade and the table stays bounded.
 *
 * Lookup by prefix reads a sorted snapshot of the queries counted at least
 * `min_count` times; the snapshot is rebuilt at most every 250 ms, by the
 * first lookup that finds it stale, and is reference-counted so lookups
 * never wait for a rebuild in progress for long.
 */
#ifndef SHOP_SEARCH_QLOG_H
#define SHOP_SEARCH_QLOG_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct qlog;

#define QLOG_SHARD_MAX 4096
#define QLOG_TEXT_MAX  200 /* bytes of a normalised query kept */

struct qlog *qlog_new(void);
void qlog_free(struct qlog *q);

/** Counts one run of a normalised query. */
void qlog_record(struct qlog *q, const char *norm, size_t len);

/** Sets the count a query needs to be suggested (default 3). */
void qlog_set_min_count(struct qlog *q, int min_count);

/** Up to `max` queries starting with `prefix` (normalised), most counted
 *  first; copies in `a`. Returns how many. */
int qlog_prefix(struct qlog *q, const char *prefix, size_t len, int max, struct arena *a,
                const char **out);

/** Distinct queries being counted. */
size_t qlog_size(struct qlog *q);

#endif
