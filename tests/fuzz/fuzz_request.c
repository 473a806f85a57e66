/* fuzz_request.c — the request path without a listening server: the
 * request target and head as libmicrohttpd would hand them over, through
 * what server.c's dispatch does with them (the query's UTF-8 check, the
 * route table match, X-Request-Id, authentication: bearer token, session
 * cookie and its CSRF checks, guest token) into the matched handler, whose
 * query (limit, cursor, filters, sort…), path-parameter and header
 * (Idempotency-Key…) parsing is shopd's own.
 *
 * Input: "METHOD TARGET\n" then "Name: value\n" lines, an empty line, the
 * body. The target is percent-decoded as libmicrohttpd does (path, then
 * query arguments split on & and =, '+' a space); an encoded NUL is refused
 * as server.c's check_head does. In a header value (cookies included)
 * "$ADMIN" becomes "Bearer <the seeded admin's session token>", "$TOKEN"
 * that token alone, "$CSRF" its CSRF token and "$GUEST" a guest session's
 * token, so that the fuzzer need not guess 43 random characters; a route whose authentication fails still runs,
 * as the seeded admin, when the input's first header is "X-Fuzz-As: admin"
 * (so that every handler is reachable). No write commits (harness.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "harness.h"
#include "http/auth.h"
#include "http/router.h"
#include "util/utf8.h"

static struct router *router;
static bool debug; /* FUZZ_DEBUG=1: a line per input saying what it reached */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* In place; '+' to a space in query parts. */
static void unescape(char *s, bool plus)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        int h, l;
        if (*p == '%' && (h = hexval(p[1])) >= 0 && (l = hexval(p[2])) >= 0) {
            *w++ = (char)(h * 16 + l);
            p += 2;
        } else if (plus && *p == '+') {
            *w++ = ' ';
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

static void add_query(struct fz_conn *c, char *q)
{
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        unescape(kv, true);
        if (eq)
            unescape(eq, true);
        fz_add(c, FZ_QUERY, kv, eq); /* a key without '=' has a NULL value */
    }
}

static void add_cookies(struct fz_conn *c, char *v)
{
    for (char *save = NULL, *kv = strtok_r(v, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        while (*kv == ' ')
            kv++;
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq++ = '\0';
        fz_add(c, FZ_COOKIE, kv, eq);
    }
}

/* The value with each $ADMIN, $TOKEN, $CSRF and $GUEST replaced (in a
 * static buffer when any is; values are short). */
static char *substitute(char *v)
{
    static char bufs[FZ_MAX_VALUES][256];
    static int next;
    if (!strchr(v, '$'))
        return v;
    char *out = bufs[next++ % FZ_MAX_VALUES];
    size_t n = 0;
    for (const char *p = v; *p && n < 255;) {
        size_t skip = 0;
        if (!strncmp(p, "$ADMIN", 6)) {
            snprintf(out + n, 256 - n, "Bearer %s", fz_admin_token());
            skip = 6;
        } else if (!strncmp(p, "$TOKEN", 6)) {
            snprintf(out + n, 256 - n, "%s", fz_admin_token());
            skip = 6;
        } else if (!strncmp(p, "$CSRF", 5)) {
            snprintf(out + n, 256 - n, "%s", fz_admin_csrf());
            skip = 5;
        } else if (!strncmp(p, "$GUEST", 6)) {
            snprintf(out + n, 256 - n, "%s", fz_guest_token());
            skip = 6;
        }
        if (skip) {
            n = strlen(out);
            p += skip;
        } else {
            out[n++] = *p++;
            out[n] = '\0';
        }
    }
    out[n] = '\0';
    return out;
}

static bool skipped(const struct route *rt)
{
    /* /metrics reads the listening server; the faults hook would disarm the
     * harness's commit fault. */
    return !strcmp(rt->pattern, "/metrics") || !strncmp(rt->pattern, "/v1/admin/faults", 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    struct shop *shop = fz_shop();
    if (!router) {
        router = router_new(api_routes, api_routes_count);
        debug = getenv("FUZZ_DEBUG") != NULL;
    }
    (void)shop;

    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    /* The body: after the first empty line (by length: it may hold NULs). */
    const char *body = "";
    size_t body_len = 0;
    for (size_t i = 0; i + 1 < size; i++)
        if (text[i] == '\n' && text[i + 1] == '\n') {
            text[i] = '\0';
            body = text + i + 2;
            body_len = size - i - 2;
            break;
        }

    struct fz_conn c = {0};
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    char *method = line ? line : "";
    char *target = NULL;
    if (line && (target = strchr(line, ' ')))
        *target++ = '\0';
    if (!target || *target != '/' || strcasestr(target, "%00")) {
        free(text);
        return 0;
    }
    bool as_admin = false;
    int nheaders = 0;
    for (char *h; (h = strtok_r(NULL, "\n", &save));) {
        char *colon = strchr(h, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (nheaders++ == 0 && !strcmp(h, "X-Fuzz-As") && !strcmp(v, "admin")) {
            as_admin = true;
            continue;
        }
        v = substitute(v);
        if (!strcasecmp(h, "Cookie"))
            add_cookies(&c, v);
        else
            fz_add(&c, FZ_HEADER, h, v);
    }
    char *q = strchr(target, '?');
    if (q) {
        *q++ = '\0';
        add_query(&c, q);
    }
    unescape(target, false);

    struct req r;
    fz_req_init(&r, &c);
    r.path = target;
    (void)http_request_id_valid(req_header(&r, "X-Request-Id"));
    bool utf8 = true;
    for (int i = 0; i < c.n; i++)
        if (c.kind[i] == FZ_QUERY)
            utf8 = utf8 && utf8_valid(c.key[i], strlen(c.key[i])) &&
                   (!c.value[i] || utf8_valid(c.value[i], strlen(c.value[i])));
    r.method = http_method_parse(method);
    char allow[128];
    int idx = utf8 && r.method ? router_match(router, r.method, target, &r, allow, sizeof allow)
                               : ROUTER_NOT_FOUND;
    if (idx >= 0 && !skipped(r.route)) {
        r.body = body;
        r.body_len = body_len;
        enum shop_err e = http_authenticate(&r, r.route->auth);
        if (e != SHOP_OK && as_admin) {
            problem_clear(&r.pb);
            r.session_cookie = NULL;
            r.who = (struct principal){.user_id = fz_admin_id, .role = ROLE_ADMIN, .trusted = true,
                                       .ip = r.ip};
            e = SHOP_OK;
        }
        if (e == SHOP_OK)
            fz_handle(&r);
        if (debug)
            fprintf(stderr, "%s %s: auth %s, status %d\n", method, r.route->pattern,
                    shop_err_name(e), r.status);
    } else if (debug) {
        fprintf(stderr, "%s %s: no route (%d)\n", method, target, idx);
    }
    fz_req_done(&r);
    free(text);
    return 0;
}
