/* auth.c — who is asking, from a request's head: the bearer token, the
 * session cookie (and the CSRF checks a cookie-authenticated write needs),
 * the guest token; and the client's X-Request-Id. Split from server.c so
 * that these header readers run without a listening server (tests/fuzz). */
#include "http/auth.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "shop/account.h"
#include "util/token.h"

bool http_request_id_valid(const char *given)
{
    if (!given)
        return false;
    size_t n = strlen(given);
    bool ok = n > 0 && n <= REQ_ID_LEN;
    for (size_t i = 0; ok && i < n; i++) {
        char c = given[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    return ok;
}

/* A cookie rides along on every request the browser makes to us, whoever's
 * page made it; so a write it authenticates must prove it comes from our own
 * pages: an Origin (when the browser sends one) naming this host, and the
 * X-CSRF-Token header only our pages can know (token_csrf of the session,
 * handed out by the login answer and GET /v1/me). Reads are not checked:
 * another site's page cannot read their answers. */
static bool cookie_write_allowed(struct req *r)
{
    const char *site = req_header(r, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
        problem_set(&r->pb, SHOP_FORBIDDEN, "a cookie-authenticated write from another site (%s)",
                    site);
        return false;
    }
    const char *origin = req_header(r, "Origin");
    const char *host = req_header(r, "Host");
    if (origin) {
        const char *rest = !strncasecmp(origin, "https://", 8)  ? origin + 8
                           : !strncasecmp(origin, "http://", 7) ? origin + 7
                                                                : NULL;
        if (!rest || !host || strcasecmp(rest, host) != 0) {
            problem_set(&r->pb, SHOP_FORBIDDEN,
                        "a cookie-authenticated write from another origin is refused");
            return false;
        }
    }
    const char *given = req_header(r, "X-CSRF-Token");
    char want[TOKEN_LEN + 1];
    token_csrf(r->session_cookie, want);
    if (!given || strlen(given) != TOKEN_LEN || sodium_memcmp(given, want, TOKEN_LEN) != 0) {
        problem_field(&r->pb, SHOP_FORBIDDEN, "X-CSRF-Token",
                      "a write authenticated by the session cookie needs the X-CSRF-Token header "
                      "the login answered with (csrf_token)");
        return false;
    }
    return true;
}

/* Resolves the caller and checks the route's requirement. A bad token only
 * matters where credentials are needed: public pages ignore it. */
enum shop_err http_authenticate(struct req *r, enum auth_need need)
{
    struct problem bad = {0};
    const char *authz = req_header(r, "Authorization");
    const char *token = NULL;
    bool cookie = false;
    if (authz && !strncasecmp(authz, "Bearer ", 7))
        token = authz + 7;
    else if (!authz)
        cookie = (token = req_cookie(r, "shopd_session")) != NULL;
    else
        problem_set(&bad, SHOP_UNAUTHENTICATED, "use Authorization: Bearer <token>");
    if (token && account_authenticate(r->shop, token, &r->who, &bad) != SHOP_OK) {
        memset(&r->who, 0, sizeof r->who);
        cookie = false;
    }
    if (cookie) {
        r->session_cookie = token;
        if (r->method != HTTP_GET && r->method != HTTP_HEAD && r->method != HTTP_OPTIONS &&
            !cookie_write_allowed(r))
            return r->pb.err;
    }
    const char *guest = req_header(r, "X-Guest-Token");
    if (guest) {
        struct problem gpb = {0};
        if (account_guest_resolve(r->shop, guest, &r->who.guest_id, &gpb) != SHOP_OK && !bad.err)
            bad = gpb;
    }
    r->who.ip = r->ip;
    switch (need) {
    case AUTH_NONE:
        return SHOP_OK;
    case AUTH_ANY:
        if (r->who.user_id || r->who.guest_id)
            return SHOP_OK;
        break;
    case AUTH_USER:
        if (r->who.user_id)
            return SHOP_OK;
        break;
    case AUTH_SELLER:
        if (r->who.user_id && (r->who.role == ROLE_SELLER || r->who.role == ROLE_ADMIN))
            return SHOP_OK;
        if (r->who.user_id)
            return problem_set(&r->pb, SHOP_FORBIDDEN, "this needs a seller or admin account");
        break;
    case AUTH_ADMIN:
        if (r->who.role == ROLE_ADMIN)
            return SHOP_OK;
        if (r->who.user_id)
            return problem_set(&r->pb, SHOP_FORBIDDEN, "this needs an admin account");
        break;
    }
    if (bad.err) {
        r->pb = bad;
        return bad.err;
    }
    return problem_set(&r->pb, SHOP_UNAUTHENTICATED,
                       need == AUTH_ANY ? "log in or send a guest token (X-Guest-Token)"
                                        : "log in first (Authorization: Bearer <token>)");
}
