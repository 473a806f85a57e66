/* search_params.h — the query arguments shared by browse (GET /v1/products)
 * and search (GET /v1/search), and their one answer path (api/search.c).
 */
#ifndef SHOP_API_SEARCH_PARAMS_H
#define SHOP_API_SEARCH_PARAMS_H

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

#endif
