/* returns.c — returns (RMA) and their refunds (ORD-5, ORD-6). The domain's
 * essay is shop/returns.h. */
#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "api/handlers.h"
#include "shop/returns.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/jsonx.h"

static json_t *rma_json(const struct rma *r)
{
    char ts[RFC3339_LEN];
    json_t *lines = json_array(), *refunds = json_array(), *history = json_array();
    for (int i = 0; i < r->nlines; i++)
        json_array_append_new(lines, json_pack("{s:I, s:I, s:I}", "order_line_id",
                                               (json_int_t)r->lines[i].order_line_id, "quantity",
                                               (json_int_t)r->lines[i].quantity,
                                               "unit_price_cents",
                                               (json_int_t)r->lines[i].unit_price_cents));
    for (int i = 0; i < r->nrefunds; i++)
        json_array_append_new(refunds, json_pack("{s:I, s:I, s:s, s:s}", "id",
                                                 (json_int_t)r->refunds[i].id, "amount_cents",
                                                 (json_int_t)r->refunds[i].amount_cents, "status",
                                                 r->refunds[i].status, "created_at",
                                                 clock_fmt(r->refunds[i].created_at, ts)));
    for (int i = 0; i < r->nhistory; i++)
        json_array_append_new(history, json_pack("{s:s, s:s?, s:s}", "status",
                                                 r->history[i].status, "note", r->history[i].note,
                                                 "at", clock_fmt(r->history[i].at, ts)));
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:s, s:o, s:I, s:o, s:o}", "id", (json_int_t)r->id,
                          "order_id", (json_int_t)r->order_id, "user_id", (json_int_t)r->user_id,
                          "status", r->status, "reason", r->reason, "lines", lines,
                          "refund_cents", (json_int_t)r->refund_cents, "refunds", refunds,
                          "history", history);
    json_object_set_new(o, "created_at", api_time(r->created_at));
    json_object_set_new(o, "updated_at", api_time(r->updated_at));
    return o;
}

static enum shop_err answer(struct req *r, int status, int64_t id, bool replayed)
{
    struct rma rma;
    if (return_get(r->shop, &r->who, id, r->arena, &rma, &r->pb) != SHOP_OK)
        return r->pb.err;
    if (replayed)
        return_as_created(&rma);
    if (status == 201)
        resp_header(r, "Location", arena_printf(r->arena, "/v1/returns/%lld", (long long)id));
    return resp_json(r, status, rma_json(&rma));
}

enum shop_err api_return_create(struct req *r)
{
    struct return_request in = {0};
    const char *key;
    json_t *body, *lines;
    if (!req_param_id(r, "id", "order", &in.order_id) ||
        !api_idempotency_key(r, "to request a return", &key) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    in.key = key;
    jx_str(body, "reason", NULL, JX_REQUIRED, 1, RETURN_REASON_MAX, &in.reason, &r->pb);
    if (jx_array(body, "lines", NULL, JX_REQUIRED, RETURN_LINES_MAX, &lines, &r->pb)) {
        if (json_array_size(lines) == 0)
            problem_field(&r->pb, SHOP_INVALID, "lines", "must name at least one line");
        size_t i;
        json_t *v;
        json_array_foreach(lines, i, v)
        {
            char f[2][48];
            snprintf(f[0], sizeof f[0], "lines[%zu].order_line_id", i);
            snprintf(f[1], sizeof f[1], "lines[%zu].quantity", i);
            if (!json_is_object(v)) {
                problem_field(&r->pb, SHOP_INVALID, f[0] , "must be an object");
                continue;
            }
            jx_int(v, "order_line_id", f[0], JX_REQUIRED, 1, INT64_MAX,
                   &in.lines[i].order_line_id, &r->pb);
            jx_int(v, "quantity", f[1], JX_REQUIRED, 1, 1000000, &in.lines[i].quantity, &r->pb);
            in.nlines = (int)i + 1;
        }
    }
    if (r->pb.err)
        return r->pb.err;
    int64_t id;
    bool replayed;
    if (return_create(r->shop, &r->who, &in, &id, &replayed, &r->pb) != SHOP_OK)
        return r->pb.err;
    if (replayed)
        resp_header(r, "Idempotent-Replayed", "true");
    return answer(r, 201, id, replayed);
}

enum shop_err api_return_get(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "return", &id))
        return r->pb.err;
    return answer(r, 200, id, false);
}

static enum shop_err list(struct req *r, bool mine)
{
    int64_t limit = 20;
    req_query_int(r, "limit", 1, 100, &limit);
    if (r->pb.err)
        return r->pb.err;
    struct rma *items;
    int n;
    int64_t next;
    if (return_list(r->shop, &r->who, mine, mine ? NULL : req_query(r, "status"), (int)limit,
                    req_query(r, "cursor"), r->arena, &items, &n, &next, &r->pb) != SHOP_OK)
        return r->pb.err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, rma_json(&items[i]));
    return resp_json(r, 200,
                     json_pack("{s:o, s:o}", "data", data, "next_cursor",
                               next ? json_sprintf("%lld", (long long)next) : json_null()));
}

enum shop_err api_my_returns(struct req *r)
{
    return list(r, true);
}

enum shop_err api_admin_returns(struct req *r)
{
    return list(r, false);
}

enum shop_err api_admin_return_update(struct req *r)
{
    struct return_update in = {.refund_cents = -1, .restock = -1};
    json_t *body;
    const char *status = NULL;
    bool restock;
    if (!req_param_id(r, "id", "return", &in.id) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_str(body, "status", NULL, JX_REQUIRED, 1, 32, &status, &r->pb);
    jx_int(body, "refund_cents", NULL, JX_OPTIONAL, 0, INT64_C(100000000000), &in.refund_cents,
           &r->pb);
    if (jx_bool(body, "restock", NULL, JX_OPTIONAL, &restock, &r->pb))
        in.restock = restock;
    if (r->pb.err)
        return r->pb.err;
    int to = return_status_parse(status);
    if (to < 0) /* requested is a status no move leads to: return_update answers 409 */
        return problem_field(&r->pb, SHOP_INVALID, "status",
                             "must be approved, rejected, received, inspected, refunded or"
                             " partially_refunded");
    in.to = (enum return_status)to;
    if (return_update(r->shop, &in, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer(r, 200, in.id, false);
}
