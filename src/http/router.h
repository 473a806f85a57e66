/* router.h — the route table and its matcher.
 *
 * The API is one `const struct route` table (api/routes.c): method, path
 * pattern with `{name}` parameters, handler, who may call it, and the rate
 * class it is limited by. The router compiles the patterns once.
 */
#ifndef SHOP_HTTP_ROUTER_H
#define SHOP_HTTP_ROUTER_H

#include <stddef.h>

#include "http/req.h"

typedef enum shop_err (*route_handler)(struct req *r);

/** Who may call a route. The server checks it before the handler runs:
 *  401 without the needed credentials, 403 with the wrong role. */
enum auth_need {
    AUTH_NONE,   /* anyone; a valid token still identifies the caller */
    AUTH_ANY,    /* a logged-in user or a guest token */
    AUTH_USER,   /* a logged-in user of any role */
    AUTH_SELLER, /* a seller or an admin */
    AUTH_ADMIN,  /* an admin */
};

/** Rate-limit classes (configured in http/ratelimit.c). */
enum rate_class {
    RATE_NONE,
    RATE_READ,
    RATE_WRITE,
    RATE_AUTH,
    RATE_SEARCH,
    RATE_CHECKOUT,
    RATE_QUEUE,
    RATE_CLASS_COUNT
};

struct route {
    enum http_method method;
    const char *pattern;
    route_handler handler;
    enum auth_need auth;
    enum rate_class rate;
};

struct router;

/** Compiles `n` routes (the table must outlive the router). */
struct router *router_new(const struct route *routes, size_t n);
void router_free(struct router *rt);

#define ROUTER_NOT_FOUND (-1)
#define ROUTER_BAD_METHOD (-2)

/** Matches `path` (no query string). On a match returns the route index and
 *  fills `r->route`, `r->param_names` and `r->params` (copies in r->arena).
 *  ROUTER_BAD_METHOD when the path exists for other methods (`allow` gets
 *  them, comma-separated); ROUTER_NOT_FOUND otherwise. */
int router_match(const struct router *rt, enum http_method m, const char *path, struct req *r,
                 char *allow, size_t allow_len);

size_t router_count(const struct router *rt);
const struct route *router_route(const struct router *rt, size_t i);

const char *http_method_name(enum http_method m);
enum http_method http_method_parse(const char *s);

#endif
