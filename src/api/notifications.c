/* notifications.c — devices and preferences (ACC-5) under /v1/me, and the
 * admin's notification tools: fan-outs and dead letters (NTF-3, NTF-4). */
#include "api/handlers.h"
#include "shop/notify.h"
#include "shop/notify_prefs.h"
#include "shop/shop.h"
#include "util/jsonx.h"

enum shop_err api_device_register(struct req *r)
{
    json_t *body, *out;
    bool created;
    if (req_json(r, &body) != SHOP_OK ||
        notify_device_register(r->shop, r->who.user_id, body, &out, &created, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, created ? 201 : 200, out);
}

enum shop_err api_devices_list(struct req *r)
{
    int64_t limit = NOTIFY_DEVICES_MAX;
    req_query_int(r, "limit", 1, 100, &limit);
    const char *cursor = req_query(r, "cursor");
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (notify_devices_list(r->shop, r->who.user_id, (int)limit, cursor, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_device_delete(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "device", &id) ||
        notify_device_delete(r->shop, r->who.user_id, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}

enum shop_err api_notify_prefs_get(struct req *r)
{
    json_t *out;
    if (notify_prefs_get(r->shop, r->who.user_id, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_notify_prefs_put(struct req *r)
{
    json_t *body, *out;
    if (req_json(r, &body) != SHOP_OK ||
        notify_prefs_put(r->shop, r->who.user_id, body, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_fanout_create(struct req *r)
{
    json_t *body, *out;
    int64_t product = 0, id;
    const char *key = NULL, *title = NULL, *text = NULL;
    bool created;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_int(body, "product_id", NULL, JX_REQUIRED, 1, INT64_MAX, &product, &r->pb);
    jx_str(body, "key", NULL, JX_REQUIRED, 1, NOTIFY_KEY_MAX, &key, &r->pb);
    jx_str(body, "title", NULL, JX_OPTIONAL, 1, NOTIFY_TITLE_MAX, &title, &r->pb);
    jx_str(body, "body", NULL, JX_OPTIONAL, 1, NOTIFY_BODY_MAX, &text, &r->pb);
    if (r->pb.err)
        return r->pb.err;
    if (notify_fanout_custom(r->shop, product, key, title, text, &id, &created, &r->pb) !=
            SHOP_OK ||
        notify_fanout_get(r->shop, id, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    resp_header(r, "Location",
                arena_printf(r->arena, "/v1/admin/notifications/fanouts/%lld", (long long)id));
    return resp_json(r, created ? 202 : 200, out);
}

enum shop_err api_fanout_get(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "fan-out", &id) ||
        notify_fanout_get(r->shop, id, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_dead_letters_list(struct req *r)
{
    int64_t limit = 20;
    req_query_int(r, "limit", 1, 100, &limit);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (notify_dead_letters(r->shop, (int)limit, req_query(r, "cursor"), &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_dead_letter_retry(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "notification", &id) ||
        notify_dead_letter_retry(r->shop, id, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}
