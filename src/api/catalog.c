/* catalog.c — categories, products, variants and the listing workflow
 * (CAT-1, CAT-2, CAT-4, CAT-5). Browse and search live in browse.c and
 * search.c.
 */
#include <string.h>

#include <stdio.h>

#include "api/handlers.h"
#include "recs/recs.h"
#include "shop/catalog.h"
#include "shop/category.h"
#include "shop/shop.h"
#include "util/jsonx.h"

enum shop_err api_categories_list(struct req *r)
{
    return resp_json(r, 200, category_tree_json(r->shop->categories));
}

enum shop_err api_category_create(struct req *r)
{
    json_t *body;
    const char *name = NULL;
    int64_t parent = 0;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_str(body, "name", NULL, JX_REQUIRED, 1, CATEGORY_NAME_MAX, &name, &r->pb);
    jx_int(body, "parent_id", NULL, JX_OPTIONAL, 1, INT64_MAX, &parent, &r->pb);
    if (r->pb.err)
        return r->pb.err;
    struct category c;
    if (category_create(r->shop, r->arena, name, parent, &c, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, json_pack("{s:I, s:s, s:s, s:o, s:s, s:i}", "id", (json_int_t)c.id,
                                       "name", c.name, "slug", c.slug, "parent_id",
                                       c.parent_id ? json_integer(c.parent_id) : json_null(),
                                       "path", c.slug_path, "depth", c.depth));
}

/* True when the If-None-Match header lists `etag` (or is "*"). */
static bool etag_matches(const char *header, const char *etag)
{
    if (!header)
        return false;
    size_t n = strlen(etag);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*')
            return true;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

static void release_blob(void *cls)
{
    product_blob_unref(cls);
}

/* A shopper's view of a published page: the page with its recommendations
 * spliced in, as the engine keeps it (recs/rendered.c says how long), sent
 * shared like the blob, so the cached blob is never re-rendered for
 * behaviour; the view is counted in memory (no write on this path). The
 * ETag covers both. Shedding load (level ≥ 1) leaves them out. */
static enum shop_err answer_shopper_page(struct req *r, struct product_blob *b)
{
    if (r->who.user_id || r->who.guest_id)
        recs_record(r->shop->recs, RECS_VIEW, recs_user_key(r->who.user_id, r->who.guest_id),
                    b->id);
    struct recs_page *page = api_recs_detail_page(r, b);
    if (!page) {
        resp_header(r, "ETag", b->etag);
        if (etag_matches(req_header(r, "If-None-Match"), b->etag)) {
            product_blob_unref(b);
            return resp_empty(r, 304);
        }
        return resp_shared(r, 200, "application/json", b->json, b->len, release_blob, b);
    }
    size_t len;
    uint32_t tag;
    const char *text = recs_page_text(page, &len, &tag);
    char etag[48];
    snprintf(etag, sizeof etag, "%.17s-%08x\"", b->etag, (unsigned)tag);
    product_blob_unref(b);
    resp_header(r, "ETag", etag);
    if (etag_matches(req_header(r, "If-None-Match"), etag)) {
        recs_page_release(page);
        return resp_empty(r, 304);
    }
    return resp_shared(r, 200, "application/json", text, len, recs_page_release, page);
}

/* Answers with the product page as the caller may see it. */
static enum shop_err answer_page(struct req *r, int status, int64_t id)
{
    struct product_blob *b;
    if (catalog_page(r->shop, &r->who, id, &b, &r->pb) != SHOP_OK)
        return r->pb.err;
    if (status == 200 && (r->method == HTTP_GET || r->method == HTTP_HEAD) &&
        b->status == PRODUCT_PUBLISHED)
        return answer_shopper_page(r, b);
    resp_header(r, "ETag", b->etag);
    if (status == 200 && etag_matches(req_header(r, "If-None-Match"), b->etag)) {
        product_blob_unref(b);
        return resp_empty(r, 304);
    }
    return resp_shared(r, status, "application/json", b->json, b->len, release_blob, b);
}

enum shop_err api_product_get(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "product", &id))
        return r->pb.err;
    return answer_page(r, 200, id);
}

enum shop_err api_product_create(struct req *r)
{
    json_t *body;
    int64_t id;
    if (req_json(r, &body) != SHOP_OK || catalog_create(r->shop, &r->who, body, &id, &r->pb))
        return r->pb.err;
    resp_header(r, "Location", arena_printf(r->arena, "/v1/products/%lld", (long long)id));
    return answer_page(r, 201, id);
}

enum shop_err api_product_update(struct req *r)
{
    json_t *body;
    int64_t id;
    if (!req_param_id(r, "id", "product", &id))
        return r->pb.err;
    if (req_json(r, &body) != SHOP_OK || catalog_update(r->shop, &r->who, id, body, &r->pb))
        return r->pb.err;
    return answer_page(r, 200, id);
}

enum shop_err api_variant_update(struct req *r)
{
    json_t *body;
    int64_t id, product_id;
    if (!req_param_id(r, "id", "variant", &id))
        return r->pb.err;
    if (req_json(r, &body) != SHOP_OK ||
        catalog_variant_update(r->shop, &r->who, id, body, &product_id, &r->pb))
        return r->pb.err;
    return answer_page(r, 200, product_id);
}

typedef enum shop_err (*transition_fn)(struct shop *, const struct principal *, int64_t,
                                       struct problem *);

static enum shop_err transition(struct req *r, transition_fn fn)
{
    int64_t id;
    if (!req_param_id(r, "id", "product", &id) || fn(r->shop, &r->who, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_page(r, 200, id);
}

enum shop_err api_product_submit(struct req *r)
{
    return transition(r, catalog_submit);
}

enum shop_err api_product_unpublish(struct req *r)
{
    return transition(r, catalog_unpublish);
}

enum shop_err api_product_approve(struct req *r)
{
    return transition(r, catalog_approve);
}

enum shop_err api_product_reject(struct req *r)
{
    int64_t id;
    json_t *body;
    const char *reason = NULL;
    if (!req_param_id(r, "id", "product", &id) || req_json_or_empty(r, &body) != SHOP_OK)
        return r->pb.err;
    if (!jx_str(body, "reason", NULL, JX_OPTIONAL, 1, 500, &reason, &r->pb) && r->pb.err)
        return r->pb.err;
    if (catalog_reject(r->shop, &r->who, id, reason ? reason : "rejected by review", &r->pb))
        return r->pb.err;
    return answer_page(r, 200, id);
}

enum shop_err api_seller_products(struct req *r)
{
    int64_t limit = 20, seller = 0;
    int status = -1;
    req_query_int(r, "limit", 1, 100, &limit);
    req_query_int(r, "seller_id", 1, INT64_MAX, &seller);
    const char *s = req_query(r, "status");
    if (s && (status = product_status_parse(s)) < 0)
        problem_field(&r->pb, SHOP_INVALID, "status",
                      "must be draft, pending_review, published or rejected");
    if (r->pb.err)
        return r->pb.err;
    json_t *out;
    if (catalog_list_for_seller(r->shop, &r->who, seller, status, (int)limit,
                                req_query(r, "cursor"), &out, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, out);
}
