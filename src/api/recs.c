/* recs.c — recommendations (ENG-4): behaviour events in, lists out. The
 * engine is recs/recs.h; this file validates, renders and caches the
 * rendered lists (recs_cache_*: at most a second old, never showing a
 * product that stopped being available).
 */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "shop/shedding.h"
#include "recs/recs.h"
#include "search/maps.h"
#include "shop/category.h"
#include "shop/product_cache.h"
#include "shop/shop.h"
#include "util/buf.h"
#include "util/jsonx.h"

enum list_kind { LIST_FBT = 1, LIST_ALSO_VIEWED, LIST_POPULAR, LIST_PERSONAL };

static uint64_t list_key(enum list_kind kind, int64_t id, int limit)
{
    uint64_t k[3] = {(uint64_t)kind, (uint64_t)id, (uint64_t)limit};
    return hash_bytes(k, sizeof k);
}

static void render_items(struct buf *b, const struct recs_item *it, int n)
{
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        buf_printf(b, "%s{\"product_id\":%lld,\"title\":", i ? "," : "",
                   (long long)it[i].product_id);
        buf_json_string(b, it[i].title);
        buf_printf(b, ",\"price_cents\":%lld,\"currency\":", (long long)it[i].price_cents);
        buf_json_string(b, it[i].currency);
        buf_printf(b, ",\"score\":%.6g,\"lift\":", it[i].score);
        if (it[i].has_lift)
            buf_printf(b, "%.6g}", it[i].lift);
        else
            buf_puts(b, "null}");
    }
    buf_puts(b, "]");
}

/* A serving process builds the model after it starts (shop/views.c): 503
 * until then. */
static bool building(struct req *r)
{
    if (recs_ready(r->shop->recs))
        return false;
    r->pb.retry_after = 1;
    problem_set(&r->pb, SHOP_UNAVAILABLE, "recommendations are still being built");
    return true;
}

static bool shedding(struct req *r)
{
    if (building(r))
        return true;
    if (shop_shed_level(r->shop) < 1)
        return false;
    r->pb.retry_after = 5;
    problem_set(&r->pb, SHOP_UNAVAILABLE, "recommendations are switched off under load");
    return true;
}

/* Answers a list from the cache or computes, renders and caches it. */
static enum shop_err answer_list(struct req *r, enum list_kind kind, int64_t id, int limit,
                                 uint64_t stamp)
{
    struct recs *rc = r->shop->recs;
    uint64_t key = list_key(kind, id, limit);
    size_t len;
    char *text = recs_cache_get(rc, key, stamp, r->arena, &len);
    if (text)
        return resp_bytes(r, 200, "application/json", text, len);
    uint64_t avail = recs_avail_version(rc);
    struct recs_item *items = arena_alloc(r->arena, (size_t)limit * sizeof *items);
    int n = 0;
    switch (kind) {
    case LIST_FBT: n = recs_bought_together(rc, id, limit, r->arena, items); break;
    case LIST_ALSO_VIEWED: n = recs_also_viewed(rc, id, limit, r->arena, items); break;
    case LIST_POPULAR: n = recs_popular(rc, id, limit, r->arena, items); break;
    default: n = recs_personal(rc, id, limit, r->arena, items); break;
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "{\"data\":");
    render_items(&b, items, n);
    buf_puts(&b, ",\"next_cursor\":null}");
    recs_cache_put(rc, key, stamp, avail, b.data, b.len);
    char *out = buf_steal(&b, &len);
    return resp_json_text(r, 200, out, len);
}

static bool read_limit(struct req *r, int64_t *limit)
{
    *limit = 10;
    req_query_int(r, "limit", 1, RECS_LIMIT_MAX, limit);
    return !r->pb.err;
}

/* The product of the path, visible to shoppers. */
static bool read_product(struct req *r, int64_t *id)
{
    if (!req_param_id(r, "id", "product", id))
        return false;
    bool published = false;
    recs_product_live(r->shop->recs, *id, &published);
    if (!published) {
        problem_set(&r->pb, SHOP_NOT_FOUND, "no product %lld", (long long)*id);
        return false;
    }
    return true;
}

static enum shop_err product_list(struct req *r, enum list_kind kind)
{
    int64_t id, limit;
    if (!read_product(r, &id) || !read_limit(r, &limit) || shedding(r))
        return r->pb.err;
    return answer_list(r, kind, id, (int)limit, 0);
}

enum shop_err api_recs_bought_together(struct req *r)
{
    return product_list(r, LIST_FBT);
}

enum shop_err api_recs_also_viewed(struct req *r)
{
    return product_list(r, LIST_ALSO_VIEWED);
}

enum shop_err api_recs_popular(struct req *r)
{
    int64_t limit, category = 0;
    if (!read_limit(r, &limit))
        return r->pb.err;
    req_query_int(r, "category", 1, INT64_MAX, &category);
    if (r->pb.err)
        return r->pb.err;
    struct category c;
    if (category && !category_lookup(r->shop->categories, category, r->arena, &c))
        return problem_field(&r->pb, SHOP_INVALID, "category", "no category %lld",
                             (long long)category);
    if (shedding(r))
        return r->pb.err;
    return answer_list(r, LIST_POPULAR, category, (int)limit, 0);
}

enum shop_err api_recs_personal(struct req *r)
{
    int64_t limit;
    if (!read_limit(r, &limit) || shedding(r))
        return r->pb.err;
    int64_t key = recs_user_key(r->who.user_id, 0);
    return answer_list(r, LIST_PERSONAL, key, (int)limit,
                       recs_user_stamp(r->shop->recs, key));
}

/* One event of a POST /v1/events body: `obj` at `at` ("" for the body
 * itself, else "events[i]."), into kinds[i] and products[i]. */
static void read_event(struct req *r, json_t *obj, const char *at, int *kind, int64_t *product)
{
    char f[2][48];
    snprintf(f[0], sizeof f[0], "%stype", at);
    snprintf(f[1], sizeof f[1], "%sproduct_id", at);
    if (!json_is_object(obj)) {
        problem_field(&r->pb, SHOP_INVALID, f[0], "must be an object");
        return;
    }
    const char *type = NULL;
    jx_str(obj, "type", f[0], JX_REQUIRED, 1, 32, &type, &r->pb);
    jx_int(obj, "product_id", f[1], JX_REQUIRED, 1, INT64_MAX, product, &r->pb);
    if (type && !strcmp(type, "view"))
        *kind = RECS_VIEW;
    else if (type && !strcmp(type, "add_to_cart"))
        *kind = RECS_CART;
    else if (type)
        problem_field(&r->pb, SHOP_INVALID, f[0], "must be view or add_to_cart");
}

/* {type, product_id}, or a batch {events: [{type, product_id}, …]} of up to
 * RECS_BATCH_MAX (a storefront's beacon): all are taken or none. */
enum shop_err api_events_post(struct req *r)
{
    json_t *body, *batch = NULL;
    int kinds[RECS_BATCH_MAX] = {0};
    int64_t products[RECS_BATCH_MAX] = {0};
    int n = 1;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_array(body, "events", NULL, JX_OPTIONAL, RECS_BATCH_MAX, &batch, &r->pb);
    if (r->pb.err)
        return r->pb.err;
    if (!batch) {
        read_event(r, body, "", &kinds[0], &products[0]);
    } else if ((n = (int)json_array_size(batch)) == 0) {
        problem_field(&r->pb, SHOP_INVALID, "events", "must hold at least one event");
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(batch, i, v)
        {
            char at[32];
            snprintf(at, sizeof at, "events[%zu].", i);
            read_event(r, v, at, &kinds[i], &products[i]);
        }
    }
    if (r->pb.err)
        return r->pb.err;
    if (building(r)) /* it would not know the product yet */
        return r->pb.err;
    for (int i = 0; i < n; i++) {
        bool published = false;
        recs_product_live(r->shop->recs, products[i], &published);
        if (published)
            continue;
        char f[48] = "product_id";
        if (batch)
            snprintf(f, sizeof f, "events[%d].product_id", i);
        return problem_field(&r->pb, SHOP_NOT_FOUND, f, "no product %lld",
                             (long long)products[i]);
    }
    if (!recs_record_many(r->shop->recs, kinds, recs_user_key(r->who.user_id, r->who.guest_id),
                          products, n)) {
        r->pb.retry_after = 1;
        return problem_set(&r->pb, SHOP_UNAVAILABLE, "too many events waiting to be written");
    }
    char out[48];
    int len = snprintf(out, sizeof out, "{\"accepted\":true,\"events\":%d}", n);
    return resp_bytes(r, 202, "application/json", out, (size_t)len);
}

/* ---- the product page's part ------------------------------------------------------- */

struct recs_page *api_recs_detail_page(struct req *r, const struct product_blob *b)
{
    struct recs *rc = r->shop->recs;
    if (!rc || !recs_ready(rc) || b->len < 2 || b->json[b->len - 1] != '}' ||
        shop_shed_level(r->shop) >= 1)
        return NULL;
    uint64_t base = hash_bytes(b->etag, strlen(b->etag));
    struct recs_page_ver ver;
    struct recs_page *page = recs_page_get(rc, b->id, base, &ver);
    if (page)
        return page;
    struct recs_item fbt[RECS_DETAIL_ITEMS], av[RECS_DETAIL_ITEMS];
    int nf = recs_bought_together(rc, b->id, RECS_DETAIL_ITEMS, r->arena, fbt);
    int na = recs_also_viewed(rc, b->id, RECS_DETAIL_ITEMS, r->arena, av);
    struct buf out;
    buf_init(&out, b->len + RECS_PAGE_TEXT_MAX);
    /* The blob is one JSON object: its closing brace gives way to the
     * member. */
    buf_append(&out, b->json, b->len - 1);
    size_t from = out.len;
    buf_puts(&out, ",\"recommendations\":{\"frequently_bought_together\":");
    render_items(&out, fbt, nf);
    buf_puts(&out, ",\"also_viewed\":");
    render_items(&out, av, na);
    buf_puts(&out, "}");
    uint32_t tag = (uint32_t)hash_bytes(out.data + from, out.len - from);
    buf_puts(&out, "}");
    page = recs_page_put(rc, b->id, &ver, out.data, out.len, tag);
    buf_free(&out);
    return page;
}
