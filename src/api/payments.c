/* payments.c — the caller's cards and store credit (ACC-4, CHK-3). */
#include "api/handlers.h"
#include "shop/payment.h"
#include "shop/shop.h"
#include "util/jsonx.h"

enum shop_err api_payment_methods_list(struct req *r)
{
    int64_t limit = 20, before = 0;
    req_query_int(r, "limit", 1, 100, &limit);
    if (req_query(r, "cursor"))
        req_query_int(r, "cursor", 1, INT64_MAX, &before);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (payment_method_list(r->shop, r->who.user_id, (int)limit, before, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_payment_method_add(struct req *r)
{
    json_t *body, *out;
    if (req_json(r, &body) != SHOP_OK ||
        payment_method_add(r->shop, r->who.user_id, body, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, out);
}

enum shop_err api_payment_method_delete(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "payment method", &id) ||
        payment_method_delete(r->shop, r->who.user_id, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}

enum shop_err api_store_credit_get(struct req *r)
{
    json_t *out;
    if (store_credit_get(r->shop, r->who.user_id, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_store_credit_grant(struct req *r)
{
    int64_t user, amount = 0;
    const char *reason = "grant";
    json_t *body, *out;
    if (!req_param_id(r, "id", "user", &user) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_int(body, "amount_cents", NULL, JX_REQUIRED, 1, 10000000, &amount, &r->pb);
    jx_str(body, "reason", NULL, JX_OPTIONAL, 1, 200, &reason, &r->pb);
    if (r->pb.err ||
        store_credit_grant(r->shop, user, amount, reason, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, out);
}
