/* changefeed.h — follows the outbox for changes made by *other* processes
 * on the same database and applies them to this process's in-memory views
 * (product pages, search index, category tree) within CHANGEFEED_PERIOD_MS.
 *
 * This process's own changes are applied synchronously when they commit
 * (changes.h) and skipped here by their origin id; the feed's position still
 * moves past them, so each poll reads only what is new.
 */
#ifndef SHOP_WORK_CHANGEFEED_H
#define SHOP_WORK_CHANGEFEED_H

#include "util/buf.h"
#include "util/problem.h"

#define CHANGEFEED_PERIOD_MS 100

struct shop;
struct changefeed;

/** Starts following from the newest event. */
struct changefeed *changefeed_start(struct shop *shop, struct problem *pb);

/** Appends shopd_changefeed_lag (events not looked at yet) to `out`. */
void changefeed_render_metrics(struct changefeed *cf, struct buf *out);

/** Stops and frees, having first read every event committed so far
 *  (waiting a moment for those not final yet), so the views' position
 *  holds every change made before the stop. */
void changefeed_stop(struct changefeed *cf);

#endif
