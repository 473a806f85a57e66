/* webhooks.c — admin webhook subscriptions and their delivery log (OPS-4).
 * Parses and renders; shop/webhook.h holds the rules. */
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "shop/shop.h"
#include "shop/webhook.h"
#include "util/clock.h"
#include "util/jsonx.h"

static json_t *time_or_null(int64_t ms)
{
    char t[RFC3339_LEN];
    return ms > 0 ? json_string(clock_fmt(ms, t)) : json_null();
}

static json_t *webhook_json(const struct webhook *w)
{
    json_t *events = json_array();
    for (int i = 0; i < w->nevents; i++)
        json_array_append_new(events, json_string(w->events[i]));
    char created[RFC3339_LEN];
    json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:s}", "id", (json_int_t)w->id, "url", w->url,
                          "events", events, "status", w->active ? "active" : "disabled",
                          "created_at", clock_fmt(w->created_at, created));
    json_object_set_new(o, "disabled_reason",
                        w->active ? json_null() : json_string(w->disabled_reason));
    json_object_set_new(o, "previous_secret_expires_at", time_or_null(w->previous_until));
    if (*w->secret)
        json_object_set_new(o, "secret", json_string(w->secret));
    return o;
}

enum shop_err api_webhook_create(struct req *r)
{
    json_t *body, *events;
    struct problem *pb = &r->pb;
    struct webhook_in in = {0};
    if (req_json(r, &body) != SHOP_OK)
        return pb->err;
    if (jx_str(body, "url", NULL, JX_REQUIRED, 1, WEBHOOK_URL_MAX, &in.url, pb) &&
        !webhook_url_ok(in.url))
        problem_field(pb, SHOP_INVALID, "url", "must be an http:// or https:// URL without spaces");
    if (jx_array(body, "events", NULL, JX_REQUIRED, WEBHOOK_EVENTS_MAX, &events, pb)) {
        if (json_array_size(events) == 0)
            problem_field(pb, SHOP_INVALID, "events", "name at least one event type, or \"*\"");
        size_t i;
        json_t *v;
        json_array_foreach(events, i, v)
        {
            char f[32];
            snprintf(f, sizeof f, "events[%zu]", i);
            const char *s = json_is_string(v) ? json_string_value(v) : NULL;
            if (!s || !webhook_event_ok(s)) {
                if (s)
                    problem_field(pb, SHOP_INVALID, f,
                                  "\"%.64s\" is not an event type the shop sends: use \"*\" or"
                                  " one such as \"order.placed\"",
                                  s);
                else
                    problem_field(pb, SHOP_INVALID, f,
                                  "must be \"*\" or an event type such as \"order.placed\"");
                continue;
            }
            bool dup = false;
            for (int k = 0; k < in.nevents; k++)
                dup = dup || !strcmp(in.events[k], s);
            if (!dup)
                in.events[in.nevents++] = s;
        }
    }
    if (pb->err)
        return pb->err;
    struct webhook *w = arena_alloc(r->arena, sizeof *w);
    if (webhook_create(r->shop, &in, w, pb) != SHOP_OK)
        return pb->err;
    return resp_json(r, 201, webhook_json(w));
}

enum shop_err api_webhooks_list(struct req *r)
{
    struct webhook *ws;
    int n;
    if (webhook_list(r->shop, &ws, &n, &r->pb) != SHOP_OK)
        return r->pb.err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, webhook_json(&ws[i]));
    free(ws);
    return resp_json(r, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

enum shop_err api_webhook_delete(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "webhook", &id) || webhook_delete(r->shop, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}

enum shop_err api_webhook_rotate(struct req *r)
{
    int64_t id;
    struct webhook *w = arena_alloc(r->arena, sizeof *w);
    if (!req_param_id(r, "id", "webhook", &id) || webhook_rotate(r->shop, id, w, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, webhook_json(w));
}

enum shop_err api_webhook_deliveries(struct req *r)
{
    int64_t id, limit = 50, cursor = 0;
    if (!req_param_id(r, "id", "webhook", &id))
        return r->pb.err;
    req_query_int(r, "limit", 1, 200, &limit);
    req_query_int(r, "cursor", 1, INT64_MAX, &cursor);
    const char *status = req_query(r, "status");
    if (status && strcmp(status, "pending") && strcmp(status, "delivered") &&
        strcmp(status, "failed"))
        problem_field(&r->pb, SHOP_INVALID, "status", "must be pending, delivered or failed");
    if (r->pb.err)
        return r->pb.err;
    struct webhook_delivery *ds;
    int n;
    int64_t next;
    if (webhook_deliveries(r->shop, id, status, cursor, (int)limit, &ds, &n, &next, &r->pb) !=
        SHOP_OK)
        return r->pb.err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        const struct webhook_delivery *d = &ds[i];
        char created[RFC3339_LEN], msg[32];
        snprintf(msg, sizeof msg, "evt_%lld", (long long)d->event_id);
        json_t *o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:i, s:s}", "id", (json_int_t)d->id,
                              "message_id", msg, "event_id", (json_int_t)d->event_id, "type",
                              d->type, "status", d->status, "attempts", d->attempts, "created_at",
                              clock_fmt(d->created_at, created));
        json_object_set_new(o, "next_attempt_at", time_or_null(d->next_at));
        json_object_set_new(o, "finished_at", time_or_null(d->finished_at));
        json_object_set_new(o, "last_status",
                            d->last_status ? json_integer(d->last_status) : json_null());
        json_object_set_new(o, "last_error",
                            *d->last_error ? json_string(d->last_error) : json_null());
        json_array_append_new(data, o);
    }
    free(ds);
    json_t *out = json_pack("{s:o}", "data", data);
    json_object_set_new(out, "next_cursor",
                        next ? json_sprintf("%lld", (long long)next) : json_null());
    return resp_json(r, 200, out);
}
