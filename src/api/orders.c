/* orders.c — checkout, order history, cancellation (CHK-1, ORD-1…3),
 * and the admin views of orders and payments. */
#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "api/handlers.h"
#include "shop/checkout.h"
#include "shop/order.h"
#include "shop/payment.h"
#include "shop/shop.h"
#include "util/jsonx.h"

enum shop_err api_order_create(struct req *r)
{
    const char *key;
    if (!api_idempotency_key(r, "to place an order", &key))
        return r->pb.err;
    json_t *body;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    struct checkout_result res;
    enum shop_err e = checkout_place(r->shop, &r->who, key, body, &res, &r->pb);
    return api_checkout_answer(r, e, &res);
}

enum shop_err api_checkout_answer(struct req *r, enum shop_err e, const struct checkout_result *res)
{
    if (res->replayed)
        resp_header(r, "Idempotent-Replayed", "true");
    if (e != SHOP_OK)
        return e;
    resp_header(r, "Location", arena_printf(r->arena, "/v1/orders/%lld", (long long)res->order_id));
    return resp_json_text(r, 201, res->order, res->order_len);
}

enum shop_err api_orders_list(struct req *r)
{
    int64_t limit = 20;
    req_query_int(r, "limit", 1, 50, &limit);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (order_list(r->shop, &r->who, (int)limit, req_query(r, "cursor"), &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_order_get(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "order", &id) || order_get(r->shop, &r->who, id, &out, &r->pb))
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_order_cancel(struct req *r)
{
    int64_t id;
    json_t *body, *lines = NULL, *out;
    if (!req_param_id(r, "id", "order", &id) || req_json_or_empty(r, &body) != SHOP_OK)
        return r->pb.err;
    lines = json_object_get(body, "line_ids");
    if (json_is_null(lines))
        lines = NULL;
    if (order_cancel(r->shop, &r->who, id, lines, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_admin_order_events(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "order", &id) || order_events(r->shop, id, &out, &r->pb))
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_admin_payments(struct req *r)
{
    int64_t order = 0;
    if (!req_query_int(r, "order_id", 1, INT64_MAX, &order))
        return r->pb.err ? r->pb.err
                         : problem_field(&r->pb, SHOP_INVALID, "order_id", "is required");
    char ref[32];
    snprintf(ref, sizeof ref, "order-%lld", (long long)order);
    struct gateway *gw = payments_gateway(r->shop->payments);
    return resp_json(r, 200,
                     json_pack("{s:s, s:o, s:n}", "gateway", gw->name, "data", gw->ledger(gw, ref),
                               "next_cursor"));
}
