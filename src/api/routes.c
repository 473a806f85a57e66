/* routes.c — the API: method, path, handler, who may call it, rate class.
 * Keep it in the order of API.md; docs/openapi.yaml describes each entry.
 */
#include "api/routes.h"

#include "api/handlers.h"

const struct route api_routes[] = {
    /* operations */
    {HTTP_GET, "/healthz", api_healthz, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/readyz", api_readyz, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/metrics", api_metrics, AUTH_NONE, RATE_NONE},

    /* accounts */
    {HTTP_POST, "/v1/auth/register", api_register, AUTH_NONE, RATE_AUTH},
    {HTTP_POST, "/v1/auth/login", api_login, AUTH_NONE, RATE_AUTH},
    {HTTP_POST, "/v1/auth/logout", api_logout, AUTH_USER, RATE_WRITE},
    {HTTP_POST, "/v1/guest", api_guest_new, AUTH_NONE, RATE_AUTH},
    {HTTP_GET, "/v1/me", api_me, AUTH_USER, RATE_READ},
    {HTTP_GET, "/v1/me/addresses", api_addresses_list, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/me/addresses", api_address_create, AUTH_USER, RATE_WRITE},
    {HTTP_PATCH, "/v1/me/addresses/{id}", api_address_update, AUTH_USER, RATE_WRITE},
    {HTTP_DELETE, "/v1/me/addresses/{id}", api_address_delete, AUTH_USER, RATE_WRITE},

    /* catalog browse and search */
    {HTTP_GET, "/v1/products", api_products_browse, AUTH_NONE, RATE_SEARCH},
    {HTTP_GET, "/v1/search", api_search, AUTH_NONE, RATE_SEARCH},
    {HTTP_GET, "/v1/search/suggest", api_search_suggest, AUTH_NONE, RATE_SEARCH},
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];
