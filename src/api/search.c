/* search.c — GET /v1/search and GET /v1/search/suggest (SRC-1…6), and the
 * argument parsing and answer path browse shares (search_api.h).
 *
 * Answers are rendered once and kept in the search module's result cache,
 * keyed by the normalised request and valid for the catalog version they
 * were computed at; a hit is sent from the shared buffer without a copy
 * (X-Cache: hit|miss says which).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/search_api.h"
#include "shop/shop.h"
#include "shop/shedding.h"
#include "util/jsonx.h"

#define SUGGEST_TTL_MS 2000 /* suggestions also depend on the query log */

/* ---- arguments ------------------------------------------------------------------- */

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80                  ? 0
                : *p >= 0xC2 && *p <= 0xDF ? 1
                : *p >= 0xE0 && *p <= 0xEF ? 2
                : *p >= 0xF0 && *p <= 0xF4 ? 3
                                           : -1;
        if (n < 0)
            return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
            (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
            return false;
        p += n + 1;
    }
    return true;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n", *s))
            return false;
    return true;
}

/* A text argument of 1..max code points (not only spaces) or absent. */
static const char *text_arg(struct req *r, const char *key, size_t max, bool required)
{
    const char *v = req_query(r, key);
    if (!v || blank(v)) {
        if (required || v)
            problem_field(&r->pb, SHOP_INVALID, key,
                          required ? "is required" : "must not be empty");
        return NULL;
    }
    if (!utf8_valid(v)) {
        problem_field(&r->pb, SHOP_INVALID, key, "must be UTF-8 text");
        return NULL;
    }
    if (jx_utf8_len(v) > max) {
        problem_field(&r->pb, SHOP_INVALID, key, "must be at most %zu characters", max);
        return NULL;
    }
    return v;
}

/* "0".."5" with up to three decimals → thousandths. */
static bool parse_rating(const char *s, int32_t *milli)
{
    if (s[0] < '0' || s[0] > '5')
        return false;
    int32_t v = (s[0] - '0') * 1000, scale = 100;
    const char *p = s + 1;
    if (*p == '.') {
        p++;
        if (!*p)
            return false;
        for (; *p && scale > 0; p++, scale /= 10) {
            if (*p < '0' || *p > '9')
                return false;
            v += (*p - '0') * scale;
        }
    }
    if (*p || v > 5000)
        return false;
    *milli = v;
    return true;
}

static bool parse_positive(const char *s, int64_t *out)
{
    if (!*s || strlen(s) > 18)
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return v > 0;
}

bool api_search_params(struct req *r, bool text, struct search_params *p)
{
    *p = (struct search_params){.min_price = -1,
                                .max_price = -1,
                                .in_stock = -1,
                                .limit = 20,
                                /* OPS-3 level 2: no facets (shop/shedding.h) */
                                .facets = shop_shed_level(r->shop) < 2,
                                .sort = text ? SEARCH_SORT_RELEVANCE : SEARCH_SORT_POPULARITY};
    if (text)
        p->q = text_arg(r, "q", SEARCH_Q_MAX, true);
    const char *v = req_query(r, "category");
    if (v && !parse_positive(v, &p->category_id))
        problem_field(&r->pb, SHOP_INVALID, "category", "must be a category id");
    p->brand = text_arg(r, "brand", SEARCH_BRAND_MAX, false);
    int64_t lo = -1, hi = -1;
    req_query_int(r, "min_price", 0, 1000000000000LL, &lo);
    req_query_int(r, "max_price", 0, 1000000000000LL, &hi);
    if (lo >= 0 && hi >= 0 && lo > hi)
        problem_field(&r->pb, SHOP_INVALID, "min_price", "must not be more than max_price");
    p->min_price = lo;
    p->max_price = hi;
    v = req_query(r, "min_rating");
    if (v && !parse_rating(v, &p->min_rating_milli))
        problem_field(&r->pb, SHOP_INVALID, "min_rating",
                      "must be a number from 0 to 5 (at most three decimals)");
    v = req_query(r, "in_stock");
    if (v) {
        if (!strcmp(v, "true"))
            p->in_stock = 1;
        else if (!strcmp(v, "false"))
            p->in_stock = 0;
        else
            problem_field(&r->pb, SHOP_INVALID, "in_stock", "must be true or false");
    }
    v = req_query(r, "sort");
    if (v && (!search_sort_parse(v, &p->sort) || (!text && p->sort == SEARCH_SORT_RELEVANCE)))
        problem_field(&r->pb, SHOP_INVALID, "sort", "must be one of %s",
                      text ? "relevance, price_asc, price_desc, rating, newest, popularity"
                           : "price_asc, price_desc, rating, newest, popularity");
    int64_t limit = 20;
    req_query_int(r, "limit", 1, SEARCH_LIMIT_MAX, &limit);
    p->limit = (int)limit;
    v = req_query(r, "cursor");
    if (v && strlen(v) > SEARCH_CURSOR_MAX)
        problem_field(&r->pb, SHOP_INVALID, "cursor", "is not a next_cursor of this listing");
    else if (v && *v)
        p->cursor = v;
    return r->pb.err == SHOP_OK;
}

/* ---- cursors of one listing --------------------------------------------------------------- */

/* A next_cursor is the search module's keyset cursor (search/cursor.c) and
 * ".", then eight hex digits naming the listing it belongs to: a hash of
 * the normalised filters, text and sort (not the limit). A cursor of
 * another listing would be read as a position in this one and skip or
 * repeat products, so it is refused like a malformed one. */
static uint32_t listing_tag(const struct search_params *p, bool text, struct arena *a)
{
    struct search_params l = *p;
    l.limit = 0;
    l.cursor = NULL;
    l.facets = false;
    size_t len;
    const char *key = search_cache_key(text ? "search" : "browse", &l, a, &len);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

/* Checks p->cursor's listing and leaves the module's cursor in it. */
static bool cursor_unwrap(struct req *r, bool text, struct search_params *p)
{
    if (!p->cursor)
        return true;
    const char *dot = strrchr(p->cursor, '.');
    char want[9];
    snprintf(want, sizeof want, "%08x", (unsigned)listing_tag(p, text, r->arena));
    if (!dot || strcmp(dot + 1, want) != 0) {
        problem_field(&r->pb, SHOP_INVALID, "cursor",
                      "is not a next_cursor of this listing and sort");
        return false;
    }
    p->cursor = arena_strndup(r->arena, p->cursor, (size_t)(dot - p->cursor));
    return true;
}

static const char *cursor_wrap(struct req *r, bool text, const struct search_params *p,
                               const char *inner)
{
    if (!inner)
        return NULL;
    return arena_printf(r->arena, "%s.%08x", inner, (unsigned)listing_tag(p, text, r->arena));
}

/* ---- answering ----------------------------------------------------------------------- */

static void free_cls(void *p)
{
    free(p);
}

/* Sends the rendered `data` (taking it) and keeps it in the cache under
 * `key` when there is one. */
static enum shop_err answer(struct req *r, const char *key, size_t klen, uint64_t version,
                            int64_t ttl_ms, char *data, size_t len, int64_t aux, const char *note)
{
    if (!data)
        return problem_set(&r->pb, SHOP_INTERNAL, "cannot encode the answer");
    if (!key)
        return resp_shared(r, 200, "application/json", data, len, free_cls, data);
    struct search_cached *c =
        search_cache_put(r->shop->search, key, klen, version, ttl_ms, data, len, aux, note);
    free(data);
    const char *bytes = search_cached_data(c, &len, NULL);
    resp_header(r, "X-Cache", "miss");
    return resp_shared(r, 200, "application/json", bytes, len, search_cached_release, c);
}

static bool cached(struct req *r, const char *key, size_t klen, int64_t *aux, const char **note)
{
    struct search_cached *c = key ? search_cache_get(r->shop->search, key, klen) : NULL;
    if (!c)
        return false;
    size_t len;
    const char *data = search_cached_data(c, &len, aux);
    if (note)
        *note = search_cached_note(c); /* lives as long as the response holds c */
    resp_header(r, "X-Cache", "hit");
    resp_shared(r, 200, "application/json", data, len, search_cached_release, c);
    return true;
}

enum shop_err api_search_answer(struct req *r, bool text)
{
    struct search_params p;
    if (!api_search_params(r, text, &p) || !cursor_unwrap(r, text, &p))
        return r->pb.err;
    struct search *s = r->shop->search;
    char *key = NULL;
    size_t klen = 0, len;
    int64_t total;
    if (search_cache_enabled(s)) {
        key = search_cache_key(text ? (p.facets ? "search" : "search-lean")
                                    : (p.facets ? "browse" : "browse-lean"),
                               &p, r->arena, &klen);
        const char *ran;
        if (cached(r, key, klen, &total, &ran)) {
            if (text && total > 0)
                search_record_query(s, ran ? ran : p.q);
            return SHOP_OK;
        }
    }
    struct search_result res;
    if (search_query(s, &p, r->arena, &res, &r->pb) != SHOP_OK)
        return r->pb.err;
    if (!p.facets) { /* shed (shop/shedding.h): the shape stays, the counts go */
        res.has_facets = true;
        res.nbrands = res.ncategories = res.nprices = 0;
        for (int i = 0; i < SEARCH_RATING_BUCKETS; i++) {
            res.rating_min[i] = SEARCH_RATING_BUCKETS - i; /* 4, 3, 2, 1 */
            res.rating_count[i] = 0;
        }
    }
    if (text && res.total > 0)
        search_record_query(s, res.corrected_query ? res.corrected_query : p.q);
    res.next_cursor = cursor_wrap(r, text, &p, res.next_cursor);
    char *data = api_search_render(&res, text, &len);
    return answer(r, key, klen, res.version, 0, data, len, res.total, res.corrected_query);
}

/* ---- handlers ----------------------------------------------------------------------------- */

enum shop_err api_search(struct req *r)
{
    return api_search_answer(r, true);
}

enum shop_err api_search_suggest(struct req *r)
{
    const char *q = text_arg(r, "q", SEARCH_PREFIX_MAX, true);
    int64_t limit = SEARCH_SUGGESTIONS;
    req_query_int(r, "limit", 1, SEARCH_SUGGESTIONS, &limit);
    if (r->pb.err != SHOP_OK)
        return r->pb.err;
    struct search *s = r->shop->search;
    char *key = NULL;
    size_t klen = 0;
    if (search_cache_enabled(s)) {
        struct search_params p = {.q = q, .limit = (int)limit};
        key = search_cache_key("suggest", &p, r->arena, &klen);
        if (cached(r, key, klen, NULL, NULL))
            return SHOP_OK;
    }
    struct search_suggestion *sug;
    uint64_t version;
    int n = search_suggest(s, q, (int)limit, r->arena, &sug, &version);
    size_t len;
    char *data = api_suggest_render(sug, n, &len);
    /* OPS-3 level 2: suggestions are kept ten times longer. */
    int64_t ttl = shop_shed_level(r->shop) >= 2 ? 10 * SUGGEST_TTL_MS : SUGGEST_TTL_MS;
    return answer(r, key, klen, version, ttl, data, len, n, NULL);
}
