/* stats.h — the domain's own figures for /metrics (store group commit,
 * queue depths, stock conflicts, caches), in Prometheus text.
 */
#ifndef SHOP_SHOP_STATS_H
#define SHOP_SHOP_STATS_H

#include "util/buf.h"

struct shop;

void shop_render_metrics(struct shop *shop, struct buf *out);

#endif
