/* cart.c — the caller's cart, for users and guests (CRT-1…4). Every change
 * answers with the recomputed cart. */
#include "api/handlers.h"
#include "shop/cart.h"
#include "shop/shop.h"
#include "util/jsonx.h"

#include <string.h>

/* Reads ?country=&region=&shipping_method= for the summary. */
static bool destination(struct req *r, struct cart_dest *d)
{
    d->country = req_query(r, "country");
    d->region = req_query(r, "region");
    const char *m = req_query(r, "shipping_method");
    d->method = m ? pricing_method_parse(m) : SHIP_STANDARD;
    if (d->method == SHIP_METHOD_COUNT)
        problem_field(&r->pb, SHOP_INVALID, "shipping_method", "must be standard or express");
    if (d->country && (strlen(d->country) != 2 || d->country[0] < 'A' || d->country[0] > 'Z' ||
                       d->country[1] < 'A' || d->country[1] > 'Z'))
        problem_field(&r->pb, SHOP_INVALID, "country", "must be an ISO 3166-1 alpha-2 code");
    if (d->region && strlen(d->region) > 100)
        problem_field(&r->pb, SHOP_INVALID, "region", "must be at most 100 characters");
    return r->pb.err == SHOP_OK;
}

static enum shop_err answer(struct req *r, int status)
{
    struct cart_dest d;
    json_t *cart;
    if (!destination(r, &d) || cart_get(r->shop, &r->who, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, status, cart);
}

enum shop_err api_cart_get(struct req *r)
{
    return answer(r, 200);
}

enum shop_err api_cart_add(struct req *r)
{
    json_t *body;
    int64_t variant = 0, quantity = 0;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_int(body, "variant_id", NULL, JX_REQUIRED, 1, INT64_MAX, &variant, &r->pb);
    jx_int(body, "quantity", NULL, JX_REQUIRED, 1, CART_QTY_MAX, &quantity, &r->pb);
    if (r->pb.err || cart_add(r->shop, &r->who, variant, quantity, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer(r, 201);
}

enum shop_err api_cart_line_update(struct req *r)
{
    int64_t id, quantity = 0;
    json_t *body;
    if (!req_param_id(r, "id", "cart line", &id) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    if (!jx_int(body, "quantity", NULL, JX_REQUIRED, 1, CART_QTY_MAX, &quantity, &r->pb) ||
        cart_set_quantity(r->shop, &r->who, id, quantity, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer(r, 200);
}

enum shop_err api_cart_line_delete(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "cart line", &id) || cart_remove(r->shop, &r->who, id, &r->pb))
        return r->pb.err;
    return answer(r, 200);
}

enum shop_err api_cart_save_for_later(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "cart line", &id) ||
        cart_save_for_later(r->shop, &r->who, id, true, &r->pb))
        return r->pb.err;
    return answer(r, 200);
}

enum shop_err api_cart_move_to_cart(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "cart line", &id) ||
        cart_save_for_later(r->shop, &r->who, id, false, &r->pb))
        return r->pb.err;
    return answer(r, 200);
}
