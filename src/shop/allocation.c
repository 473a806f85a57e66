#include "shop/allocation.h"

#include <stdlib.h>

static int cheapest_first(const void *a, const void *b)
{
    const struct alloc_wh *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->available != y->available)
        return x->available > y->available ? -1 : 1;
    return (x->warehouse_id > y->warehouse_id) - (x->warehouse_id < y->warehouse_id);
}

int allocation_plan(struct alloc_wh *wh, int n, int64_t quantity, const struct geo_point *dest,
                    const struct alloc_rules *rules, struct alloc_take *out, int64_t *covered)
{
    *covered = 0;
    if (n <= 0 || quantity <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        struct alloc_wh *w = &wh[i];
        int64_t left = w->available - (w->available < quantity ? w->available : quantity);
        w->cost = (dest ? geo_km(*dest, w->at) : 0) +
                  rules->km_per_open_shipment * (double)w->open_shipments +
                  (left < rules->low_stock ? rules->low_stock_km : 0);
    }
    qsort(wh, (size_t)n, sizeof *wh, cheapest_first);
    for (int i = 0; i < n; i++) /* 1. whole, from the cheapest that has it all */
        if (wh[i].available >= quantity) {
            out[0] = (struct alloc_take){wh[i].warehouse_id, quantity, i};
            *covered = quantity;
            return 1;
        }
    int k = 0;
    for (int i = 0; i < n && *covered < quantity; i++) { /* 2. split, cheapest first */
        int64_t want = quantity - *covered;
        int64_t take = wh[i].available < want ? wh[i].available : want;
        if (take <= 0)
            continue;
        out[k++] = (struct alloc_take){wh[i].warehouse_id, take, i};
        *covered += take;
    }
    return k;
}
