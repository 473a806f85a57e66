/* browse.c — GET /v1/products: the catalog as a listing (CAT-3).
 *
 * Browse is a search without text, served by the same in-memory index
 * (api/search.c, search/query.c): only published products, filtered by
 * category subtree, brand, price, rating and stock, sorted by popularity
 * (default), price, rating or newest, with stable cursors, the total and
 * the facets of the whole listing.
 */
#include "api/handlers.h"
#include "api/search_api.h"

enum shop_err api_products_browse(struct req *r)
{
    return api_search_answer(r, false);
}
