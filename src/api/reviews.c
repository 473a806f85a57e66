/* reviews.c — product reviews (ENG-1): /v1/products/{id}/reviews,
 * /v1/reviews/{id}…, and the admin queue. */
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "shop/product_cache.h"
#include "shop/review.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/jsonx.h"

static bool private_view(const struct req *r, const struct review *rv)
{
    return r->who.role == ROLE_ADMIN || (r->who.user_id && r->who.user_id == rv->user_id);
}

static json_t *page_json(struct req *r, const struct review_page *p)
{
    json_t *data = json_array();
    for (int i = 0; i < p->n; i++)
        json_array_append_new(data, review_json(&p->items[i], private_view(r, &p->items[i])));
    return json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     p->next_cursor[0] ? json_string(p->next_cursor) : json_null());
}

/* Answers with review `id` as the caller sees it. */
static enum shop_err answer_review(struct req *r, int status, int64_t id)
{
    struct review rv;
    if (review_get(r->shop, r->arena, &r->who, id, &rv, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, status, review_json(&rv, private_view(r, &rv)));
}

static const char *cursor_arg(struct req *r)
{
    const char *cursor = req_query(r, "cursor");
    if (cursor && strlen(cursor) > 64)
        problem_field(&r->pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    return cursor;
}

static void release_blob(void *cls)
{
    product_blob_unref(cls);
}

/* The page a product page links to — the first, default-sorted page as
 * anyone sees it — is kept rendered in shop->review_pages until the
 * product changes (shop_product_changed invalidates it with the product
 * page; a render that started before an invalidation is not kept). It is
 * most of the traffic, and a render costs several times a cached answer
 * (bench/reviews.sh). Signed-in callers may have a review only they see. */
static bool cacheable(const struct req *r, const struct review_query *q)
{
    return !r->who.user_id && q->sort == REVIEW_SORT_HELPFUL && !q->rating && q->limit == 20 &&
           !q->cursor;
}

enum shop_err api_reviews_list(struct req *r)
{
    struct review_query q = {.sort = REVIEW_SORT_HELPFUL, .limit = 20};
    if (!req_param_id(r, "id", "product", &q.product_id))
        return r->pb.err;
    const char *sort = req_query(r, "sort");
    if (sort) {
        int s = review_sort_parse(sort);
        if (s < 0)
            problem_field(&r->pb, SHOP_INVALID, "sort",
                          "must be one of helpful, newest, rating_desc, rating_asc");
        else
            q.sort = (enum review_sort)s;
    }
    int64_t rating = 0, limit = q.limit;
    req_query_int(r, "rating", 1, 5, &rating);
    req_query_int(r, "limit", 1, REVIEW_PAGE_MAX, &limit);
    q.cursor = cursor_arg(r);
    if (r->pb.err)
        return r->pb.err;
    q.rating = (int)rating;
    q.limit = (int)limit;
    struct product_blob *b = NULL;
    uint64_t gen = 0;
    if (cacheable(r, &q)) {
        if ((b = product_cache_get(r->shop->review_pages, q.product_id)))
            return resp_shared(r, 200, "application/json", b->json, b->len, release_blob, b);
        gen = product_cache_generation(r->shop->review_pages, q.product_id);
    }
    struct review_page p;
    uint64_t failed = store_thread_read_failures();
    if (review_list(r->shop, r->arena, &r->who, &q, &p, &r->pb) != SHOP_OK)
        return r->pb.err;
    json_t *page = page_json(r, &p);
    /* Never kept when a read failed: the answer is a 500 (http/server.c),
     * and the cache would serve the short page after it. */
    if (!cacheable(r, &q) || store_thread_read_failures() != failed)
        return resp_json(r, 200, page);
    size_t len;
    char *text = jx_dump(page, &len);
    json_decref(page);
    if (!text)
        return problem_set(&r->pb, SHOP_INTERNAL, "cannot render the reviews");
    b = product_blob_new(q.product_id, 0, 0, text, len);
    free(text);
    product_cache_put(r->shop->review_pages, b, gen);
    return resp_shared(r, 200, "application/json", b->json, b->len, release_blob, b);
}

/* The author's text: every field required for a new review, any for an
 * edit (at least one). */
static bool read_input(struct req *r, json_t *body, enum jx_need need, struct review_input *in)
{
    int64_t rating = 0;
    jx_int(body, "rating", NULL, need, 1, 5, &rating, &r->pb);
    jx_str(body, "title", NULL, need, 1, REVIEW_TITLE_MAX, &in->title, &r->pb);
    jx_str(body, "body", NULL, need, 1, REVIEW_BODY_MAX, &in->body, &r->pb);
    in->rating = (int)rating;
    if (!r->pb.err && need == JX_OPTIONAL && !in->rating && !in->title && !in->body)
        problem_set(&r->pb, SHOP_INVALID, "give at least one of rating, title, body");
    return !r->pb.err;
}

enum shop_err api_review_create(struct req *r)
{
    int64_t product, id;
    json_t *body;
    bool approved;
    struct review_input in = {0};
    if (!req_param_id(r, "id", "product", &product) || req_json(r, &body) != SHOP_OK ||
        !read_input(r, body, JX_REQUIRED, &in) ||
        review_create(r->shop, &r->who, product, &in, &id, &approved, &r->pb) != SHOP_OK)
        return r->pb.err;
    resp_header(r, "Location", arena_printf(r->arena, "/v1/reviews/%lld", (long long)id));
    return answer_review(r, 201, id);
}

enum shop_err api_review_update(struct req *r)
{
    int64_t id;
    json_t *body;
    struct review_input in = {0};
    if (!req_param_id(r, "id", "review", &id) || req_json(r, &body) != SHOP_OK ||
        !read_input(r, body, JX_OPTIONAL, &in) ||
        review_edit(r->shop, &r->who, id, &in, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_review(r, 200, id);
}

enum shop_err api_review_delete(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "review", &id) ||
        review_delete(r->shop, &r->who, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}

enum shop_err api_review_helpful(struct req *r)
{
    int64_t id;
    if (!req_param_id(r, "id", "review", &id) ||
        review_vote_helpful(r->shop, &r->who, id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_empty(r, 204);
}

enum shop_err api_review_reply(struct req *r)
{
    int64_t id;
    json_t *body;
    const char *text = NULL;
    if (!req_param_id(r, "id", "review", &id) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_str(body, "body", NULL, JX_REQUIRED, 1, REVIEW_REPLY_MAX, &text, &r->pb);
    if (r->pb.err || review_reply(r->shop, &r->who, id, text, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_review(r, 201, id);
}

static enum shop_err moderate(struct req *r, bool approve)
{
    int64_t id;
    json_t *body;
    const char *note = NULL;
    if (!req_param_id(r, "id", "review", &id) || req_json_or_empty(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_str(body, "note", NULL, JX_OPTIONAL, 1, REVIEW_NOTE_MAX, &note, &r->pb);
    if (r->pb.err || review_moderate(r->shop, id, approve, note, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_review(r, 200, id);
}

enum shop_err api_admin_review_approve(struct req *r)
{
    return moderate(r, true);
}

enum shop_err api_admin_review_reject(struct req *r)
{
    return moderate(r, false);
}

enum shop_err api_admin_reviews_list(struct req *r)
{
    int status = REVIEW_PENDING;
    const char *s = req_query(r, "status");
    if (s && (status = review_status_parse(s)) < 0)
        problem_field(&r->pb, SHOP_INVALID, "status", "must be one of pending, approved, rejected");
    int64_t limit = 20;
    req_query_int(r, "limit", 1, REVIEW_PAGE_MAX, &limit);
    const char *cursor = cursor_arg(r);
    if (r->pb.err)
        return r->pb.err;
    struct review_page p;
    if (review_admin_list(r->shop, r->arena, (enum review_status)status, (int)limit, cursor, &p,
                          &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 200, page_json(r, &p));
}
