/* fuzz_bodies.c — the JSON body of every write endpoint (POST, PUT, PATCH
 * in api/routes.c) through its handler: req_json's parser, then the
 * handler's and the domain's validators, and, for a body that passes them,
 * the write function itself, whose batch the harness's commit fault rolls
 * back (harness.h): nothing is ever durable.
 *
 * Input: byte 0 picks the route (modulo the number of write routes, in
 * table order), byte 1 the caller (bits 0-1: the seeded admin's bearer
 * token, the customer's, a guest token, none) and the path parameters'
 * value (bits 2-7: 1 + value); the caller goes through http_authenticate
 * and the route's requirement as on the server (a refused caller never
 * reaches the handler); byte 2
 * whether an Idempotency-Key header is sent (odd: yes, "fuzz-key-<byte>"),
 * the rest is the body. FUZZ_LIST_ROUTES=1 prints the routes and their bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "harness.h"
#include "http/auth.h"
#include "http/router.h"

static const struct route *writes[256];
static size_t nwrites;
static struct router *router;

static void collect(void)
{
    router = router_new(api_routes, api_routes_count);
    for (size_t i = 0; i < api_routes_count && nwrites < 256; i++) {
        const struct route *rt = &api_routes[i];
        if ((rt->method == HTTP_POST || rt->method == HTTP_PUT || rt->method == HTTP_PATCH) &&
            strncmp(rt->pattern, "/v1/admin/faults", 16) != 0)
            writes[nwrites++] = rt;
    }
    if (getenv("FUZZ_LIST_ROUTES"))
        for (size_t i = 0; i < nwrites; i++)
            fprintf(stderr, "%3zu %s %s\n", i, http_method_name(writes[i]->method),
                    writes[i]->pattern);
}

/* The route's pattern with every {param} replaced by `id`. */
static void concrete(const char *pattern, int id, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 24 < cap;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            n += (size_t)snprintf(out + n, cap - n, "%d", id);
            p = e ? e + 1 : p + strlen(p);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 256 * 1024)
        return 0;
    fz_shop();
    if (!router)
        collect();
    const struct route *rt = writes[data[0] % nwrites];
    int who = data[1] & 3, id = 1 + (data[1] >> 2);
    char path[256];
    concrete(rt->pattern, id, path, sizeof path);

    struct fz_conn c = {0};
    char key[24];
    if (data[2] & 1) {
        snprintf(key, sizeof key, "fuzz-key-%u", data[2]);
        fz_add(&c, FZ_HEADER, "Idempotency-Key", key);
    }
    fz_add(&c, FZ_HEADER, "Content-Type", "application/json");
    char bearer[80];
    if (who == 0 || who == 1) {
        snprintf(bearer, sizeof bearer, "Bearer %s", who ? fz_customer_token() : fz_admin_token());
        fz_add(&c, FZ_HEADER, "Authorization", bearer);
    } else if (who == 2) {
        fz_add(&c, FZ_HEADER, "X-Guest-Token", fz_guest_token());
    }
    struct req r;
    fz_req_init(&r, &c);
    r.method = rt->method;
    r.path = path;
    char allow[128];
    if (router_match(router, rt->method, path, &r, allow, sizeof allow) < 0 || r.route != rt) {
        fprintf(stderr, "fuzz_bodies: %s does not route to itself\n", path);
        abort();
    }
    /* A copy of exactly the body's bytes, so ASan sees reads past its end. */
    size_t blen = size - 3;
    char *body = malloc(blen ? blen : 1);
    memcpy(body, data + 3, blen);
    r.body = body;
    r.body_len = blen;
    if (http_authenticate(&r, rt->auth) == SHOP_OK)
        fz_handle(&r);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "%s %s as %d: %d\n", http_method_name(rt->method), rt->pattern, who,
                r.status);
    fz_req_done(&r);
    free(body);
    return 0;
}
