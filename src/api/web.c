/* web.c — serves the storefront (/) and the admin console (/admin/) from the
 * assets built into the binary (api/web_assets.h).
 *
 * The two HTML pages are revalidated on every load (no-cache + ETag: a new
 * build shows at once); everything they load sits under
 * /assets/<version>/, where the version is a digest of all assets, so those
 * URLs never change meaning and are cached for a year (immutable). Each
 * asset exists precompressed: a client that accepts gzip gets those bytes
 * without any work per request. Pages carry a Content-Security-Policy that
 * allows script only from this origin (no inline script, no eval), so an
 * injected string can never run even if some page forgot to escape it.
 */
#include <string.h>
#include <strings.h>

#include "api/common.h"
#include "api/handlers.h"
#include "api/web_assets.h"

#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "      \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'self'; frame-ancestors 'none'"

static const struct web_asset *find(const char *name)
{
    for (const struct web_asset *a = web_assets; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

/* True when Accept-Encoding lists gzip (or *) without refusing it by q=0. */
static bool accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    for (const char *p = ae; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t name = strcspn(p, ";, \t");
        bool match = (name == 4 && !strncasecmp(p, "gzip", 4)) || (name == 1 && *p == '*');
        if (match) {
            const char *q = p + name;
            const char *end = p + n;
            bool zero = false;
            for (; q < end; q++)
                if (q[0] == 'q' && q + 2 <= end && q[1] == '=') {
                    zero = q[2] == '0' && strspn(q + 3, ".0") == (size_t)(end - (q + 3));
                    break;
                }
            if (!zero)
                return true;
        }
        p += n;
    }
    return false;
}

static bool etag_listed(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    if (!strcmp(inm, "*"))
        return true;
    return strstr(inm, etag) != NULL;
}

static void noop_release(void *cls)
{
    (void)cls;
}

static enum shop_err serve(struct req *r, const struct web_asset *a, const char *cache)
{
    bool gz = accepts_gzip(req_header(r, "Accept-Encoding"));
    const char *etag = gz ? a->gz_etag : a->etag;
    resp_header(r, "ETag", etag);
    resp_header(r, "Cache-Control", cache);
    resp_header(r, "Vary", "Accept-Encoding");
    if (!strncmp(a->ctype, "text/html", 9)) {
        resp_header(r, "Content-Security-Policy", WEB_CSP);
        resp_header(r, "Referrer-Policy", "same-origin");
        resp_header(r, "X-Frame-Options", "DENY");
    }
    if (etag_listed(req_header(r, "If-None-Match"), etag))
        return resp_empty(r, 304);
    if (gz)
        resp_header(r, "Content-Encoding", "gzip");
    return resp_shared(r, 200, a->ctype, gz ? a->gz : a->data, gz ? a->gz_len : a->len,
                       noop_release, NULL);
}

static enum shop_err page(struct req *r, const char *name)
{
    const struct web_asset *a = find(name);
    if (!a)
        return problem_set(&r->pb, SHOP_NOT_FOUND, "this build has no %s", name);
    return serve(r, a, "no-cache");
}

enum shop_err api_web_storefront(struct req *r)
{
    return page(r, "index.html");
}

enum shop_err api_web_admin(struct req *r)
{
    return page(r, "admin.html");
}

enum shop_err api_web_admin_redirect(struct req *r)
{
    resp_header(r, "Location", "/admin/");
    return resp_empty(r, 308);
}

enum shop_err api_web_asset(struct req *r)
{
    const char *version = req_param(r, "version");
    const char *name = req_param(r, "name");
    const struct web_asset *a = find(name);
    if (!a || strstr(name, ".html"))
        return problem_set(&r->pb, SHOP_NOT_FOUND, "no asset %s", name);
    /* An older page asking for its assets after an upgrade gets today's, not
     * to be kept: its URL may name other bytes. */
    return serve(r, a,
                 !strcmp(version, web_assets_version) ? "public, max-age=31536000, immutable"
                                                       : "no-cache");
}
