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

enum shop_err api_cart_get(struct req *r)
{
    struct cart_dest d;
    json_t *cart;
    if (!destination(r, &d) || cart_get(r->shop, &r->who, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, cart);
}

enum shop_err api_cart_add(struct req *r)
{
    json_t *body;
    int64_t variant = 0, quantity = 0;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_int(body, "variant_id", NULL, JX_REQUIRED, 1, INT64_MAX, &variant, &r->pb);
    jx_int(body, "quantity", NULL, JX_REQUIRED, 1, CART_QTY_MAX, &quantity, &r->pb);
    struct cart_dest d;
    json_t *cart;
    if (r->pb.err || !destination(r, &d) ||
        cart_add(r->shop, &r->who, variant, quantity, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, cart);
}

enum shop_err api_cart_line_update(struct req *r)
{
    int64_t id, quantity = 0;
    json_t *body;
    if (!req_param_id(r, "id", "cart line", &id) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    struct cart_dest d;
    json_t *cart;
    if (!jx_int(body, "quantity", NULL, JX_REQUIRED, 1, CART_QTY_MAX, &quantity, &r->pb) ||
        !destination(r, &d) ||
        cart_set_quantity(r->shop, &r->who, id, quantity, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, cart);
}

enum shop_err api_cart_line_delete(struct req *r)
{
    int64_t id;
    struct cart_dest d;
    json_t *cart;
    if (!req_param_id(r, "id", "cart line", &id) || !destination(r, &d) ||
        cart_remove(r->shop, &r->who, id, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, cart);
}

/* Save for later (saved) or move back to the cart. */
static enum shop_err save(struct req *r, bool saved)
{
    int64_t id;
    struct cart_dest d;
    json_t *cart;
    if (!req_param_id(r, "id", "cart line", &id) || !destination(r, &d) ||
        cart_save_for_later(r->shop, &r->who, id, saved, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, cart);
}

enum shop_err api_cart_save_for_later(struct req *r)
{
    return save(r, true);
}

enum shop_err api_cart_move_to_cart(struct req *r)
{
    return save(r, false);
}

enum shop_err api_cart_coupon_put(struct req *r)
{
    json_t *body, *cart;
    const char *code = NULL;
    struct cart_dest d;
    if (req_json(r, &body) != SHOP_OK ||
        !jx_str(body, "code", NULL, JX_REQUIRED, 1, 64, &code, &r->pb) || !destination(r, &d) ||
        cart_set_coupon(r->shop, &r->who, code, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, cart);
}

enum shop_err api_cart_coupon_delete(struct req *r)
{
    struct cart_dest d;
    json_t *cart;
    if (!destination(r, &d) || cart_clear_coupon(r->shop, &r->who, &d, &cart, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, cart);
}
