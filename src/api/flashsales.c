/* flashsales.c — flash sales, their waiting room and purchases (FLS-1…3). */
#include <string.h>

#include "api/handlers.h"
#include "shop/checkout.h"
#include "shop/flashsale.h"
#include "shop/shop.h"
#include "util/jsonx.h"

enum shop_err api_flash_sale_create(struct req *r)
{
    json_t *body, *out;
    if (req_json(r, &body) != SHOP_OK || flashsale_create(r->shop, &r->who, body, &out, &r->pb))
        return r->pb.err;
    return resp_json(r, 201, out);
}

enum shop_err api_flash_sales_list(struct req *r)
{
    int64_t limit = FLASH_LIST_MAX;
    req_query_int(r, "limit", 1, FLASH_LIST_MAX, &limit);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (flashsale_list(r->shop, (int)limit, req_query(r, "cursor"), &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_flash_sale_get(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "flash sale", &id) || flashsale_get(r->shop, id, &out, &r->pb))
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_flash_sale_end(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "flash sale", &id) || flashsale_end(r->shop, id, &out, &r->pb))
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_flash_queue_join(struct req *r)
{
    int64_t id;
    json_t *out;
    bool created;
    if (!req_param_id(r, "id", "flash sale", &id) ||
        flashsale_join(r->shop, r->who.user_id, id, &out, &created, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, created ? 201 : 200, out);
}

enum shop_err api_flash_queue_me(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "flash sale", &id) ||
        flashsale_queue_me(r->shop, r->who.user_id, id, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_flash_purchase(struct req *r)
{
    int64_t id, quantity = 1, card = 0;
    json_t *body;
    const char *key = req_header(r, "Idempotency-Key");
    if (!req_param_id(r, "id", "flash sale", &id))
        return r->pb.err;
    if (!key || !*key || strlen(key) > IDEMPOTENCY_KEY_MAX)
        return problem_field(&r->pb, SHOP_BAD_REQUEST, "Idempotency-Key",
                             "the header (1 to %d characters) is required to purchase",
                             IDEMPOTENCY_KEY_MAX);
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    const char *token = NULL;
    json_t *t = json_object_get(body, "token");
    if (t && !json_is_string(t))
        return problem_field(&r->pb, SHOP_FORBIDDEN, "token", "is not a purchase token");
    token = json_string_value(t);
    jx_int(body, "quantity", NULL, JX_OPTIONAL, 1, 100, &quantity, &r->pb);
    bool has_card =
        jx_int(body, "payment_method_id", NULL, JX_OPTIONAL, 1, INT64_MAX, &card, &r->pb);
    if (r->pb.err)
        return r->pb.err;
    /* The checkout's shape: payment_method_id is shorthand for one card tender. */
    json_t *co = json_deep_copy(body);
    if (has_card && !json_object_get(co, "payments"))
        json_object_set_new(co, "payments",
                            json_pack("[{s:I}]", "payment_method_id", (json_int_t)card));
    struct checkout_result res;
    enum shop_err e =
        checkout_place_flash(r->shop, &r->who, key, co, id, token, quantity, &res, &r->pb);
    json_decref(co);
    return api_checkout_answer(r, e, &res);
}
