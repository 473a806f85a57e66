/* search_json.c — renders browse, search and suggest answers straight into
 * a byte buffer (search_api.h).
 *
 * These are the hottest answers of the shop and each is rendered once per
 * cache miss; building a jansson tree for them cost more than the query
 * itself (one allocation per value). The shapes are fixed and described in
 * docs/openapi.yaml (Listing, SearchResult, the suggest answer); strings are
 * escaped per RFC 8259.
 */
#include <stdio.h>
#include <string.h>

#include "api/search_api.h"
#include "util/buf.h"
#include "util/clock.h"

#define ANSWER_MAX (8u * 1024 * 1024) /* far above 100 items with facets */

static void raw(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* A JSON string (buf.h). */
static void str(struct buf *b, const char *s)
{
    buf_json_string(b, s);
}

static void num(struct buf *b, int64_t v)
{
    buf_json_int(b, v);
}

static void item(struct buf *b, const struct search_item *it)
{
    raw(b, "{\"id\":");
    num(b, it->id);
    raw(b, ",\"title\":");
    str(b, it->title);
    raw(b, ",\"brand\":");
    str(b, it->brand);
    raw(b, ",\"category\":{\"id\":");
    num(b, it->category_id);
    raw(b, ",\"name\":");
    str(b, it->category_name);
    raw(b, "},\"currency\":");
    str(b, it->currency);
    raw(b, ",\"price_cents\":");
    num(b, it->price_cents);
    raw(b, ",\"max_price_cents\":");
    num(b, it->max_price_cents);
    /* The average to two decimals, rounded half up, from integers. */
    int64_t c = it->rating_count;
    int64_t a100 = c ? ((int64_t)it->rating_sum * 200 + c) / (2 * c) : 0;
    raw(b, ",\"rating\":{\"average\":");
    num(b, a100 / 100);
    if (a100 % 100) {
        char frac[4] = {'.', (char)('0' + a100 % 100 / 10), (char)('0' + a100 % 10), 0};
        if (frac[2] == '0')
            frac[2] = 0;
        raw(b, frac);
    }
    raw(b, ",\"count\":");
    num(b, c);
    raw(b, it->in_stock ? "},\"in_stock\":true,\"image\":" : "},\"in_stock\":false,\"image\":");
    if (it->image)
        str(b, it->image);
    else
        raw(b, "null");
    raw(b, ",\"created_at\":");
    if (it->created_at) {
        char ts[RFC3339_LEN];
        clock_fmt(it->created_at, ts);
        str(b, ts);
    } else {
        raw(b, "null");
    }
    raw(b, "}");
}

static void facets(struct buf *b, const struct search_result *res)
{
    raw(b, ",\"facets\":{\"brand\":[");
    for (int i = 0; i < res->nbrands; i++) {
        raw(b, i ? ",{\"value\":" : "{\"value\":");
        str(b, res->brands[i].value);
        raw(b, ",\"count\":");
        num(b, res->brands[i].count);
        raw(b, "}");
    }
    raw(b, "],\"category\":[");
    for (int i = 0; i < res->ncategories; i++) {
        raw(b, i ? ",{\"value\":" : "{\"value\":");
        num(b, res->categories[i].id);
        raw(b, ",\"name\":");
        str(b, res->categories[i].value);
        raw(b, ",\"count\":");
        num(b, res->categories[i].count);
        raw(b, "}");
    }
    raw(b, "],\"price\":[");
    for (int i = 0; i < res->nprices; i++) {
        raw(b, i ? ",{\"from_cents\":" : "{\"from_cents\":");
        num(b, res->prices[i].from_cents);
        raw(b, ",\"to_cents\":");
        if (res->prices[i].to_cents < 0)
            raw(b, "null");
        else
            num(b, res->prices[i].to_cents);
        raw(b, ",\"count\":");
        num(b, res->prices[i].count);
        raw(b, "}");
    }
    raw(b, "],\"rating\":[");
    for (int i = 0; i < SEARCH_RATING_BUCKETS; i++) {
        raw(b, i ? ",{\"min\":" : "{\"min\":");
        num(b, res->rating_min[i]);
        raw(b, ",\"count\":");
        num(b, res->rating_count[i]);
        raw(b, "}");
    }
    raw(b, "]}");
}

char *api_search_render(const struct search_result *res, bool text, size_t *len)
{
    struct buf b;
    buf_init(&b, ANSWER_MAX);
    raw(&b, "{\"data\":[");
    for (int i = 0; i < res->nitems; i++) {
        if (i)
            raw(&b, ",");
        item(&b, &res->items[i]);
    }
    raw(&b, "],\"total\":");
    num(&b, res->total);
    raw(&b, ",\"next_cursor\":");
    if (res->next_cursor)
        str(&b, res->next_cursor);
    else
        raw(&b, "null");
    if (res->has_facets)
        facets(&b, res);
    if (text) {
        raw(&b, ",\"corrected_query\":");
        if (res->corrected_query)
            str(&b, res->corrected_query);
        else
            raw(&b, "null");
    }
    raw(&b, "}");
    return buf_steal(&b, len);
}

char *api_suggest_render(const struct search_suggestion *s, int n, size_t *len)
{
    struct buf b;
    buf_init(&b, ANSWER_MAX);
    raw(&b, "{\"suggestions\":[");
    for (int i = 0; i < n; i++) {
        raw(&b, i ? ",{\"text\":" : "{\"text\":");
        str(&b, s[i].text);
        if (s[i].product_id) {
            raw(&b, ",\"product_id\":");
            num(&b, s[i].product_id);
        }
        raw(&b, "}");
    }
    raw(&b, "]}");
    return buf_steal(&b, len);
}
