/* fraud.c — the review of orders the fraud rules held (CHK-5, shop/fraud.h). */
#include "api/handlers.h"
#include "shop/fraud.h"

enum shop_err api_admin_fraud_holds(struct req *r)
{
    int64_t limit = 20;
    req_query_int(r, "limit", 1, 100, &limit);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (fraud_holds(r->shop, (int)limit, req_query(r, "cursor"), &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

static enum shop_err decide(struct req *r, bool approve)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "order", &id))
        return r->pb.err;
    enum shop_err e = approve ? fraud_approve(r->shop, id, &out, &r->pb)
                              : fraud_reject(r->shop, id, &out, &r->pb);
    return e != SHOP_OK ? e : resp_json(r, 200, out);
}

enum shop_err api_admin_order_approve(struct req *r)
{
    return decide(r, true);
}

enum shop_err api_admin_order_reject(struct req *r)
{
    return decide(r, false);
}
