/* addresses.c — the address book under /v1/me/addresses (ACC-3). */
#include "api/handlers.h"
#include "shop/address.h"
#include "shop/shop.h"

enum shop_err api_addresses_list(struct req *r)
{
    struct address *list;
    int n;
    if (address_list(r->shop, r->arena, r->who.user_id, &list, &n, &r->pb) != SHOP_OK)
        return r->pb.err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, address_to_json(&list[i]));
    return resp_json(r, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

enum shop_err api_address_create(struct req *r)
{
    json_t *body;
    struct address a;
    if (req_json(r, &body) != SHOP_OK ||
        address_create(r->shop, r->arena, r->who.user_id, body, &a, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, address_to_json(&a));
}

enum shop_err api_address_update(struct req *r)
{
    int64_t id;
    json_t *body;
    struct address a;
    if (!req_param_id(r, "id", "address", &id))
        return r->pb.err;
    if (req_json(r, &body) != SHOP_OK ||
        address_update(r->shop, r->arena, r->who.user_id, id, body, &a, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, address_to_json(&a));
}

enum shop_err api_address_delete(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "address", &id) ||
        address_delete(r->shop, r->who.user_id, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}
