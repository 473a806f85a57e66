/* fulfilment.c — fulfil, shipments, the carrier's callbacks and the order
 * work queues (ORD-4, OPS-1). shop/shipment.h is the domain's essay. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "api/handlers.h"
#include "ext/carrier.h"
#include "shop/shipment.h"
#include "shop/shop.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/jsonx.h"

static enum shop_err fulfil(struct req *r, bool as_seller)
{
    int64_t id;
    const char *key;
    json_t *body;
    if (!req_param_id(r, "id", "order", &id) || !api_idempotency_key(r, "to fulfil", &key) ||
        req_json_or_empty(r, &body) != SHOP_OK)
        return r->pb.err;
    if (!json_is_object(body) || json_object_size(body) != 0)
        return problem_set(&r->pb, SHOP_INVALID, "the body must be an empty object");
    struct fulfil_result res = {0};
    if (fulfil_order(r->shop, &r->who, as_seller, id, key, &res, &r->pb) != SHOP_OK) {
        free(res.answer);
        return r->pb.err;
    }
    if (!res.answer)
        return problem_set(&r->pb, SHOP_INTERNAL, "the answer was lost");
    if (res.replayed)
        resp_header(r, "Idempotent-Replayed", "true");
    return resp_json_text(r, 201, res.answer, res.answer_len);
}

enum shop_err api_admin_fulfil(struct req *r)
{
    return fulfil(r, false);
}

enum shop_err api_seller_fulfil(struct req *r)
{
    return fulfil(r, true);
}

enum shop_err api_shipment_get(struct req *r)
{
    int64_t id;
    struct shipment s;
    if (!req_param_id(r, "id", "shipment", &id) ||
        shipment_get(r->shop, &r->who, id, r->arena, &s, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, shipment_json(&s));
}

static enum shop_err answer_shipment(struct req *r, int64_t id)
{
    struct shipment s;
    if (shipment_get(r->shop, &r->who, id, r->arena, &s, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, shipment_json(&s));
}

enum shop_err api_admin_shipment_update(struct req *r)
{
    int64_t id;
    json_t *body;
    const char *status = NULL, *detail = NULL;
    if (!req_param_id(r, "id", "shipment", &id) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_str(body, "status", NULL, JX_REQUIRED, 1, 32, &status, &r->pb);
    jx_str(body, "detail", NULL, JX_OPTIONAL, 0, 500, &detail, &r->pb);
    if (r->pb.err)
        return r->pb.err;
    int to = shipment_status_parse(status);
    if (to < 0) /* label_created is a status no move leads to: shipment_move answers 409 */
        return problem_field(&r->pb, SHOP_INVALID, "status",
                             "must be in_transit, out_for_delivery, delivered, delivery_failed"
                             " or returned_to_sender");
    struct shipment_move_in in = {
        .shipment_id = id, .to = (enum shipment_status)to, .detail = detail};
    bool changed;
    if (shipment_move(r->shop, &in, &id, &changed, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_shipment(r, id);
}

/* POST /v1/carrier/events: signed with the shared secret over the raw body. */
enum shop_err api_carrier_event(struct req *r)
{
    const char *sig = req_header(r, "Carrier-Signature");
    char want[65];
    carrier_sign(r->shop->cfg.carrier_secret, r->body ? r->body : "", r->body_len, want);
    if (!sig || strlen(sig) != 64 || sodium_memcmp(sig, want, 64) != 0)
        return problem_set(&r->pb, SHOP_UNAUTHENTICATED,
                           "the Carrier-Signature does not match the body");
    json_t *body;
    const char *tracking = NULL, *status = NULL, *detail = NULL, *at = NULL;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_str(body, "tracking_number", NULL, JX_REQUIRED, 1, 31, &tracking, &r->pb);
    jx_str(body, "status", NULL, JX_REQUIRED, 1, 32, &status, &r->pb);
    jx_str(body, "detail", NULL, JX_OPTIONAL, 0, 500, &detail, &r->pb);
    jx_str(body, "at", NULL, JX_OPTIONAL, 1, 40, &at, &r->pb);
    if (r->pb.err)
        return r->pb.err;
    int to = shipment_status_parse(status);
    if (to < 0 || to == SHIP_LABEL_CREATED)
        return problem_field(&r->pb, SHOP_INVALID, "status", "is not a carrier status");
    int64_t when = 0;
    if (at && !clock_parse(at, &when))
        return problem_field(&r->pb, SHOP_INVALID, "at", "must be an RFC 3339 time");
    /* The event's identity: its digest (with, when it has no time, the
     * shipment's attempt: shipment_move), so a replay changes nothing. */
    unsigned char h[16];
    char key[33];
    crypto_generichash(h, sizeof h, (const unsigned char *)r->body, r->body_len, NULL, 0);
    sodium_bin2hex(key, sizeof key, h, sizeof h);
    struct shipment_move_in in = {.tracking = tracking,
                                  .to = (enum shipment_status)to,
                                  .detail = detail,
                                  .at = when,
                                  .event_key = key,
                                  .by_attempt = !at,
                                  .from_carrier = true};
    int64_t id;
    bool changed;
    if (shipment_move(r->shop, &in, &id, &changed, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}

static enum shop_err queue(struct req *r, bool seller)
{
    int64_t limit = 20;
    req_query_int(r, "limit", 1, 100, &limit);
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    const char *status = req_query(r, "status"), *cursor = req_query(r, "cursor");
    enum shop_err e = seller ? order_queue_seller(r->shop, r->who.user_id, status, (int)limit,
                                                  cursor, &out, &r->pb)
                             : order_queue_admin(r->shop, status, (int)limit, cursor, &out, &r->pb);
    return e != SHOP_OK ? e : resp_json(r, 200, out);
}

enum shop_err api_admin_orders_list(struct req *r)
{
    return queue(r, false);
}

enum shop_err api_seller_orders_list(struct req *r)
{
    return queue(r, true);
}
