/* promotions.c — promotions and coupons (ENG-3): the admin's promotions and
 * codes, and the cart's coupon. Parses and validates; the rules are in
 * shop/promo.h. */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "shop/cart.h"
#include "shop/promo.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/jsonx.h"

#define MONEY_MAX 10000000000LL /* $100M in cents: far above any order */
#define LIMIT_MAX 1000000000LL

/* An RFC 3339 time (absent: false; null: *ms = 0 when `nullable`). */
static bool time_field(json_t *body, const char *key, bool nullable, int64_t *ms,
                       struct problem *pb)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return false;
    if (json_is_null(v) && nullable) {
        *ms = 0;
        return true;
    }
    if (!json_is_string(v) || !clock_parse(json_string_value(v), ms) || *ms <= 0) {
        problem_field(pb, SHOP_INVALID, key, "must be an RFC 3339 time%s",
                      nullable ? " or null" : "");
        return false;
    }
    return true;
}

/* An integer ≥ 1 or null (0: none). */
static bool limit_field(json_t *body, const char *key, int64_t *out, struct problem *pb)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return false;
    if (json_is_null(v)) {
        *out = 0;
        return true;
    }
    return jx_int(body, key, NULL, JX_OPTIONAL, 1, LIMIT_MAX, out, pb);
}

static void ids_field(json_t *obj, const char *key, int64_t *ids, int *n, struct problem *pb)
{
    json_t *a;
    char f[48];
    *n = 0;
    snprintf(f, sizeof f, "target.%s", key);
    if (!jx_array(obj, key, f, JX_OPTIONAL, PROMO_TARGETS_MAX, &a, pb) || !a)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            snprintf(f, sizeof f, "target.%s[%zu]", key, i);
            problem_field(pb, SHOP_INVALID, f, "must be an id");
            continue;
        }
        ids[(*n)++] = json_integer_value(v);
    }
}

/* A target names products or categories, at least one: an empty target
 * would be stored as none, which means the whole cart — and, with no code,
 * every cart in the shop. Leaving `target` out is how to say that. */
static void target_field(json_t *target, struct promo_in *in, struct problem *pb)
{
    int errors = pb->nfields;
    const char *key;
    json_t *v;
    json_object_foreach(target, key, v)
    {
        if (strcmp(key, "product_ids") && strcmp(key, "category_ids")) {
            char f[48];
            snprintf(f, sizeof f, "target.%.32s", key);
            problem_field(pb, SHOP_INVALID, f, "is not a target: use product_ids or category_ids");
        }
    }
    ids_field(target, "product_ids", in->product_ids, &in->nproducts, pb);
    ids_field(target, "category_ids", in->category_ids, &in->ncategories, pb);
    if (pb->nfields != errors || in->nproducts + in->ncategories > 0)
        return;
    char f[48] = "target"; /* or its one list, when it has only one */
    if (json_object_size(target) == 1)
        snprintf(f, sizeof f, "target.%s",
                 json_object_get(target, "product_ids") ? "product_ids" : "category_ids");
    problem_field(pb, SHOP_INVALID, f,
                  "names no product or category; leave target out to discount the whole cart");
}

static void tiers_field(json_t *body, struct promo_in *in, struct problem *pb)
{
    json_t *a;
    if (!jx_array(body, "tiers", NULL, JX_OPTIONAL, PROMO_TIERS_MAX, &a, pb) || !a)
        return;
    in->has_tiers = true;
    size_t i;
    json_t *t;
    json_array_foreach(a, i, t)
    {
        char f[3][48];
        snprintf(f[0], sizeof f[0], "tiers[%zu]", i);
        snprintf(f[1], sizeof f[1], "tiers[%zu].min_subtotal_cents", i);
        snprintf(f[2], sizeof f[2], "tiers[%zu].amount_cents", i);
        if (!json_is_object(t)) {
            problem_field(pb, SHOP_INVALID, f[0], "must be an object");
            continue;
        }
        struct promo_tier *tier = &in->tiers[in->ntiers++];
        int64_t bps = 0;
        jx_int(t, "min_subtotal_cents", f[1], JX_REQUIRED, 0, MONEY_MAX, &tier->min_subtotal, pb);
        bool amount = jx_int(t, "amount_cents", f[2], JX_OPTIONAL, 1, MONEY_MAX, &tier->amount, pb);
        snprintf(f[2], sizeof f[2], "tiers[%zu].percent_bps", i);
        bool pct = jx_int(t, "percent_bps", f[2], JX_OPTIONAL, 1, 10000, &bps, pb);
        tier->percent_bps = (int)bps;
        if (amount == pct)
            problem_field(pb, SHOP_INVALID, f[0], "give amount_cents or percent_bps");
    }
}

enum shop_err api_promotion_create(struct req *r)
{
    json_t *body, *out, *target = NULL;
    struct promo_in in;
    struct problem *pb = &r->pb;
    memset(&in, 0, sizeof in);
    if (req_json(r, &body) != SHOP_OK)
        return pb->err;
    jx_str(body, "name", NULL, JX_REQUIRED, 1, PROMO_NAME_MAX, &in.name, pb);
    jx_str(body, "code", NULL, JX_OPTIONAL, 1, PROMO_CODE_MAX, &in.code, pb);
    jx_str(body, "type", NULL, JX_REQUIRED, 1, 32, &in.type, pb);
    in.has_percent = jx_int(body, "percent_bps", NULL, JX_OPTIONAL, 1, 10000, &in.percent_bps, pb);
    in.has_amount =
        jx_int(body, "amount_cents", NULL, JX_OPTIONAL, 1, MONEY_MAX, &in.amount_cents, pb);
    in.has_buy = jx_int(body, "buy_quantity", NULL, JX_OPTIONAL, 1, 1000, &in.buy_quantity, pb);
    in.has_get = jx_int(body, "get_quantity", NULL, JX_OPTIONAL, 1, 1000, &in.get_quantity, pb);
    in.has_get_percent =
        jx_int(body, "get_percent_bps", NULL, JX_OPTIONAL, 1, 10000, &in.get_percent_bps, pb);
    tiers_field(body, &in, pb);
    if (jx_object(body, "target", NULL, JX_OPTIONAL, 4, &target, pb) && target)
        target_field(target, &in, pb);
    jx_int(body, "min_subtotal_cents", NULL, JX_OPTIONAL, 0, MONEY_MAX, &in.min_subtotal, pb);
    jx_int(body, "max_discount_cents", NULL, JX_OPTIONAL, 1, MONEY_MAX, &in.max_discount, pb);
    limit_field(body, "usage_limit", &in.usage_limit, pb);
    limit_field(body, "per_customer_limit", &in.per_customer_limit, pb);
    jx_int(body, "priority", NULL, JX_OPTIONAL, -1000000, 1000000, &in.priority, pb);
    jx_bool(body, "stackable", NULL, JX_OPTIONAL, &in.stackable, pb);
    time_field(body, "starts_at", false, &in.starts_at, pb);
    time_field(body, "ends_at", true, &in.ends_at, pb);
    if (pb->err || promo_create(r->shop, &in, &out, pb) != SHOP_OK)
        return pb->err;
    return resp_json(r, 201, out);
}

enum shop_err api_promotions_list(struct req *r)
{
    int64_t limit = 50, after = 0;
    json_t *out;
    req_query_int(r, "limit", 1, 100, &limit);
    req_query_int(r, "cursor", 1, INT64_MAX, &after);
    if (r->pb.err || promo_list(r->shop, after, limit, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_promotion_get(struct req *r)
{
    int64_t id;
    json_t *out;
    if (!req_param_id(r, "id", "promotion", &id) || promo_get(r->shop, id, &out, &r->pb))
        return r->pb.err;
    return resp_json(r, 200, out);
}

enum shop_err api_promotion_update(struct req *r)
{
    int64_t id;
    json_t *body, *out;
    struct promo_patch p;
    struct problem *pb = &r->pb;
    memset(&p, 0, sizeof p);
    if (!req_param_id(r, "id", "promotion", &id) || req_json(r, &body) != SHOP_OK)
        return pb->err;
    /* What the promotion gives is fixed once created: orders keep what it
     * gave, and a changed offer is a new promotion. */
    static const char *const fixed[] = {"type",     "percent_bps",     "amount_cents",
                                        "buy_quantity", "get_quantity", "get_percent_bps",
                                        "tiers",    "target",          "code"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (json_object_get(body, fixed[i]))
            return problem_field(pb, SHOP_INVALID, fixed[i],
                                 "cannot be changed; end this promotion and create another");
    jx_str(body, "name", NULL, JX_OPTIONAL, 1, PROMO_NAME_MAX, &p.name, pb);
    p.has_active = jx_bool(body, "active", NULL, JX_OPTIONAL, &p.active, pb);
    p.has_stackable = jx_bool(body, "stackable", NULL, JX_OPTIONAL, &p.stackable, pb);
    p.has_priority = jx_int(body, "priority", NULL, JX_OPTIONAL, -1000000, 1000000, &p.priority, pb);
    p.has_max_discount =
        jx_int(body, "max_discount_cents", NULL, JX_OPTIONAL, 0, MONEY_MAX, &p.max_discount, pb);
    p.has_min_subtotal =
        jx_int(body, "min_subtotal_cents", NULL, JX_OPTIONAL, 0, MONEY_MAX, &p.min_subtotal, pb);
    p.has_usage_limit = limit_field(body, "usage_limit", &p.usage_limit, pb);
    p.has_per_customer_limit = limit_field(body, "per_customer_limit", &p.per_customer_limit, pb);
    p.has_starts_at = time_field(body, "starts_at", false, &p.starts_at, pb);
    p.has_ends_at = time_field(body, "ends_at", true, &p.ends_at, pb);
    if (pb->err || promo_update(r->shop, id, &p, &out, pb) != SHOP_OK)
        return pb->err;
    return resp_json(r, 200, out);
}

enum shop_err api_promotion_codes(struct req *r)
{
    int64_t id, count = 0;
    const char *prefix = "";
    json_t *body, *out;
    if (!req_param_id(r, "id", "promotion", &id) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_int(body, "count", NULL, JX_REQUIRED, 1, 1000, &count, &r->pb);
    jx_str(body, "prefix", NULL, JX_OPTIONAL, 0, PROMO_CODE_MAX, &prefix, &r->pb);
    if (r->pb.err || promo_codes_generate(r->shop, id, count, prefix, &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, out);
}
