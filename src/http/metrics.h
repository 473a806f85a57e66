/* metrics.h — request counters and latency histograms per route, rendered as
 * Prometheus text at /metrics (with the domain's own figures appended).
 */
#ifndef SHOP_HTTP_METRICS_H
#define SHOP_HTTP_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

struct router;
struct metrics;

struct metrics *metrics_new(const struct router *rt);
void metrics_free(struct metrics *m);

/** Records one request. `route` is the router index, or -1 when no route
 *  matched; `stock_conflict`: a 409 refused for want of stock
 *  (problem_is_stock_conflict). Lock-free (relaxed atomics). */
void metrics_observe(struct metrics *m, int route, int status, int64_t dur_ns, int64_t db_ns,
                     bool stock_conflict);

/** Appends the HTTP series in Prometheus text format. */
void metrics_render(struct metrics *m, struct buf *out);

#endif
