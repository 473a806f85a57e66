/* health.c — /healthz (the process answers), /readyz (it can serve: the
 * database answers and is migrated, and it is not shutting down), /metrics.
 */
#include "api/handlers.h"
#include "http/server.h"
#include "shop/shop.h"
#include "shop/stats.h"
#include "store/store.h"
#include "util/buf.h"

#include <stdlib.h>

enum shop_err api_healthz(struct req *r)
{
    return resp_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

enum shop_err api_readyz(struct req *r)
{
    if (atomic_load(&r->shop->stopping))
        return problem_set(&r->pb, SHOP_UNAVAILABLE, "shutting down");
    int have = store_schema_version(r->shop->store), want = store_schema_latest();
    if (have < want)
        return problem_set(&r->pb, SHOP_UNAVAILABLE, "schema at version %d, binary needs %d", have,
                           want);
    return resp_json(r, 200, json_pack("{s:s, s:i}", "status", "ready", "schema_version", have));
}

enum shop_err api_metrics(struct req *r)
{
    struct buf b;
    buf_init(&b, 16 * 1024 * 1024);
    http_render_metrics(r->server, &b);
    shop_render_metrics(r->shop, &b);
    size_t len;
    char *text = buf_steal(&b, &len);
    enum shop_err e = resp_bytes(r, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    return e;
}
