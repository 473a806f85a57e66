/* wishlist.c — /v1/me/wishlist (ENG-2). */
#include <string.h>

#include "api/handlers.h"
#include "shop/shop.h"
#include "shop/wishlist.h"

enum shop_err api_wishlist_list(struct req *r)
{
    int64_t limit = 20;
    req_query_int(r, "limit", 1, 100, &limit);
    const char *cursor = req_query(r, "cursor");
    if (cursor && strlen(cursor) > 64)
        problem_field(&r->pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (wishlist_list(r->shop, r->who.user_id, (int)limit, cursor, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_wishlist_put(struct req *r)
{
    int64_t product;
    bool created;
    json_t *item;
    if (!req_param_id(r, "product_id", "product", &product) ||
        wishlist_add(r->shop, r->who.user_id, product, &created, &item, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, created ? 201 : 200, item);
}

enum shop_err api_wishlist_delete(struct req *r)
{
    int64_t product;
    if (!req_param_id(r, "product_id", "product", &product) ||
        wishlist_remove(r->shop, r->who.user_id, product, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}
