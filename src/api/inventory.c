/* inventory.c — warehouses and stock levels (INV-1, INV-3). */
#include <string.h>

#include "api/handlers.h"
#include "shop/inventory.h"
#include "shop/shop.h"
#include "util/jsonx.h"

enum shop_err api_warehouse_create(struct req *r)
{
    json_t *body, *out;
    if (req_json(r, &body) != SHOP_OK || warehouse_create(r->shop, body, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, out);
}

enum shop_err api_warehouses_list(struct req *r)
{
    int64_t limit = WAREHOUSE_PAGE_MAX;
    req_query_int(r, "limit", 1, WAREHOUSE_PAGE_MAX, &limit);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (warehouse_list(r->shop, (int)limit, req_query(r, "cursor"), &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_stock_put(struct req *r)
{
    int64_t variant, warehouse, on_hand = 0;
    json_t *body;
    if (!req_param_id(r, "variant_id", "variant", &variant) ||
        !req_param_id(r, "warehouse_id", "warehouse", &warehouse) ||
        req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    if (!jx_int(body, "on_hand", NULL, JX_REQUIRED, 0, STOCK_MAX, &on_hand, &r->pb))
        return r->pb.err;
    struct stock_row row;
    if (inventory_set_on_hand(r->shop, &r->who, variant, warehouse, on_hand, &row, &r->pb))
        return r->pb.err;
    return resp_json(r, 200, json_pack("{s:I, s:I, s:I, s:I, s:I}", "variant_id",
                                       (json_int_t)row.variant_id, "warehouse_id",
                                       (json_int_t)row.warehouse_id, "on_hand",
                                       (json_int_t)row.on_hand, "reserved",
                                       (json_int_t)row.reserved, "available",
                                       (json_int_t)(row.on_hand - row.reserved)));
}

enum shop_err api_stock_get(struct req *r)
{
    int64_t variant, limit = 50;
    if (!req_param_id(r, "variant_id", "variant", &variant))
        return r->pb.err;
    req_query_int(r, "limit", 1, 500, &limit);
    const char *cursor = req_query(r, "cursor");
    if (cursor && strlen(cursor) > INVENTORY_CURSOR_MAX)
        problem_field(&r->pb, SHOP_INVALID, "cursor", "is longer than %d characters",
                      INVENTORY_CURSOR_MAX);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (inventory_get(r->shop, &r->who, variant, (int)limit, cursor, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}
