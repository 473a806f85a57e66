/* addresses.c — the address book under /v1/me/addresses (ACC-3). */
#include "api/handlers.h"
#include "shop/address.h"
#include "shop/shop.h"

/* The book is short (ADDRESS_MAX) and read whole; a page is cut from it.
 * Order: the default first, then newest first. The cursor is the last
 * address's id: the next page starts after it wherever it now stands, or,
 * when it was deleted meanwhile, at the next older address. */
enum shop_err api_addresses_list(struct req *r)
{
    int64_t limit = ADDRESS_MAX, after = 0;
    req_query_int(r, "limit", 1, 100, &limit);
    if (req_query(r, "cursor"))
        req_query_int(r, "cursor", 1, INT64_MAX, &after);
    if (r->pb.err)
        return r->pb.err;
    struct address *list;
    int n;
    if (address_list(r->shop, r->arena, r->who.user_id, &list, &n, &r->pb) != SHOP_OK)
        return r->pb.err;
    int from = 0;
    if (after) {
        from = n;
        for (int i = 0; i < n && from == n; i++)
            if (list[i].id == after)
                from = i + 1;
        for (int i = 0; i < n && from == n; i++) /* deleted: the next older one */
            if (!list[i].is_default && list[i].id < after)
                from = i;
    }
    int to = from + limit < n ? from + (int)limit : n;
    json_t *data = json_array();
    for (int i = from; i < to; i++)
        json_array_append_new(data, address_to_json(&list[i]));
    json_t *next = to < n ? json_sprintf("%lld", (long long)list[to - 1].id) : json_null();
    return resp_json(r, 200, json_pack("{s:o, s:o}", "data", data, "next_cursor", next));
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
