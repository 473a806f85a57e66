/* search_api.h — what browse (GET /v1/products), search (GET /v1/search)
 * and suggest share: argument parsing and the answer path (api/search.c),
 * and rendering (api/search_json.c).
 */
#ifndef SHOP_API_SEARCH_API_H
#define SHOP_API_SEARCH_API_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "http/req.h"
#include "search/search.h"

/** Parses q (search only, required), category, brand, min_price,
 *  max_price, min_rating, in_stock, sort, limit and cursor. On bad input
 *  fills r->pb naming every bad field and returns false. */
bool api_search_params(struct req *r, bool text, struct search_params *p);

/** Parses, runs (or finds in the result cache) and answers a browse
 *  (`text` false) or search request. */
enum shop_err api_search_answer(struct req *r, bool text);

/** The JSON of a browse (`text` false) or search answer; malloc'd, the
 *  caller frees it. */
char *api_search_render(const struct search_result *res, bool text, size_t *len);

/** The JSON of a suggest answer; malloc'd. */
char *api_suggest_render(const struct search_suggestion *s, int n, size_t *len);

#endif
