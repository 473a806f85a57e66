/* fuzz_search.c — the search query parser and analyzer (src/search) on a
 * real index (the harness's seeded shop): the query arguments through
 * api_search_params (what GET /v1/search and GET /v1/products check), then
 * search_query (tokenising, folding, stop words, stemming, prefix
 * completion, typo correction, filters, cursors, facets) and the answer's
 * rendering; then the next page through the cursor it gave. Suggestions go
 * through their handler.
 *
 * Input: byte 0 picks the mode (0 search, 1 browse, 2 suggest), byte 1 the
 * sort name (one of seven, the seventh unknown), byte 2 flags (bit 0: send
 * in_stock, bit 1 its value, bits 2-7: limit 0..63, 0 = not sent); the rest
 * is q, brand, cursor, min_rating and category separated by NUL bytes
 * (missing parts are not sent).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/search_api.h"
#include "harness.h"

static const char *const sorts[] = {"relevance", "popularity", "price_asc", "price_desc",
                                    "rating",    "newest",     "cheapest"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 4096)
        return 0;
    struct shop *shop = fz_shop();
    int mode = data[0] % 3;
    char *text = malloc(size - 3 + 1);
    memcpy(text, data + 3, size - 3);
    text[size - 3] = '\0';
    const char *part[5] = {0};
    const char *p = text, *end = text + (size - 3);
    for (int i = 0; i < 5 && p <= end; i++) {
        part[i] = p;
        p += strlen(p) + 1;
    }

    struct fz_conn c = {0};
    char limit[8];
    if (part[0])
        fz_add(&c, FZ_QUERY, "q", part[0]);
    if (part[1])
        fz_add(&c, FZ_QUERY, "brand", part[1]);
    if (part[2])
        fz_add(&c, FZ_QUERY, "cursor", part[2]);
    if (part[3])
        fz_add(&c, FZ_QUERY, "min_rating", part[3]);
    if (part[4])
        fz_add(&c, FZ_QUERY, "category", part[4]);
    if (data[1] % 8 < 7)
        fz_add(&c, FZ_QUERY, "sort", sorts[data[1] % 8 % 7]);
    if (data[2] & 1)
        fz_add(&c, FZ_QUERY, "in_stock", data[2] & 2 ? "true" : "false");
    if (data[2] >> 2) {
        snprintf(limit, sizeof limit, "%d", data[2] >> 2);
        fz_add(&c, FZ_QUERY, "limit", limit);
    }

    struct req r;
    fz_req_init(&r, &c);
    if (mode == 2) {
        r.method = HTTP_GET;
        r.path = "/v1/search/suggest";
        (void)api_search_suggest(&r);
    } else {
        bool is_text = mode == 0;
        struct search_params sp;
        if (api_search_params(&r, is_text, &sp)) {
            for (int page = 0; page < 2; page++) {
                struct search_result res;
                struct problem pb = {0};
                if (search_query(shop->search, &sp, r.arena, &res, &pb) != SHOP_OK) {
                    problem_clear(&pb);
                    break;
                }
                size_t len;
                char *json = api_search_render(&res, is_text, &len);
                if (!json)
                    abort(); /* every answer must encode */
                free(json);
                if (!res.next_cursor)
                    break;
                sp.cursor = res.next_cursor;
            }
        }
    }
    fz_req_done(&r);
    free(text);
    return 0;
}
