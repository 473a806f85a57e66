/* changefeed.h — follows the outbox for changes made by *other* processes
 * on the same database and applies them to this process's in-memory views
 * (product pages, search index, category tree) within CHANGEFEED_PERIOD_MS.
 *
 * This process's own changes are applied synchronously when they commit
 * (changes.h) and skipped here by their origin id.
 */
#ifndef SHOP_WORK_CHANGEFEED_H
#define SHOP_WORK_CHANGEFEED_H

#include "util/problem.h"

#define CHANGEFEED_PERIOD_MS 100

struct shop;
struct changefeed;

/** Starts following from the newest event. */
struct changefeed *changefeed_start(struct shop *shop, struct problem *pb);

/** Stops and frees. */
void changefeed_stop(struct changefeed *cf);

#endif
