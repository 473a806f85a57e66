/* req.h — what an API handler sees of an HTTP request, and how it answers.
 *
 * A handler is `enum shop_err handler(struct req *r)`. It reads the request
 * through the req_* functions, calls the domain, and answers with one resp_*
 * call, whose SHOP_OK it returns. To fail, it returns an error with `r->pb`
 * filled (problem_set / problem_field, or a domain call that filled it): the
 * server renders it as application/problem+json. Everything a handler
 * allocates comes from `r->arena` and is freed when the request ends.
 */
#ifndef SHOP_HTTP_REQ_H
#define SHOP_HTTP_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shop/account.h"
#include "util/arena.h"
#include "util/problem.h"

struct shop;
struct route;
struct MHD_Connection;
struct http_server;

enum http_method {
    HTTP_GET = 1,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_PATCH,
    HTTP_DELETE,
    HTTP_OPTIONS,
};

#define REQ_MAX_PARAMS 4
#define REQ_MAX_HEADERS 12
#define REQ_ID_LEN 16

struct resp_header {
    const char *name, *value;
};

struct req {
    struct shop *shop;
    struct arena *arena;
    enum http_method method;
    const char *path;
    const struct route *route;
    const char *param_names[REQ_MAX_PARAMS];
    const char *params[REQ_MAX_PARAMS];
    const char *body;
    size_t body_len;
    struct principal who; /* who is asking (zero when anonymous) */
    char id[REQ_ID_LEN + 1];
    char ip[48];
    struct problem pb;
    /* Set when a session cookie (not a bearer token) authenticated the
     * request: the cookie's token, from which the CSRF token derives. */
    const char *session_cookie;
    bool tls; /* the client reached us over TLS (a trusted proxy's X-Forwarded-Proto) */

    /* The answer, set by resp_*. */
    int status;
    const char *ctype;
    char *out;
    size_t out_len;
    void (*out_free)(void *cls);
    void *out_free_cls;
    struct resp_header headers[REQ_MAX_HEADERS];
    int nheaders;

    /* Server internals. */
    struct http_server *server;
    struct MHD_Connection *conn;
    json_t *json;
};

/** A query-string argument (decoded), or NULL. */
const char *req_query(struct req *r, const char *key);

/** A request header, or NULL. */
const char *req_header(struct req *r, const char *name);

/** A cookie, or NULL. */
const char *req_cookie(struct req *r, const char *name);

/** A path parameter from the route pattern (`{id}`), or NULL. */
const char *req_param(struct req *r, const char *name);

/** A path parameter as a positive id. On failure (not a positive integer)
 *  fills r->pb with SHOP_NOT_FOUND naming `what` and returns false. */
bool req_param_id(struct req *r, const char *name, const char *what, int64_t *id);

/** The body as a JSON object (parsed once, owned by the request). On
 *  failure fills r->pb (400 malformed, 415 not JSON) and returns the error. */
enum shop_err req_json(struct req *r, json_t **out);

/** Like req_json, but an empty body reads as an empty object. */
enum shop_err req_json_or_empty(struct req *r, json_t **out);

/** Parses an optional query argument as an integer in [min, max]; absent
 *  leaves *out untouched. Bad values add a SHOP_INVALID field problem. */
bool req_query_int(struct req *r, const char *key, int64_t min, int64_t max, int64_t *out);

/** Answers with JSON (steals `v`). Returns SHOP_OK. */
enum shop_err resp_json(struct req *r, int status, json_t *v);

/** Answers with JSON already encoded (steals `text`, malloc'd). */
enum shop_err resp_json_text(struct req *r, int status, char *text, size_t len);

/** Answers with a copy of `len` bytes. */
enum shop_err resp_bytes(struct req *r, int status, const char *ctype, const char *data, size_t len);

/** Answers with bytes the caller keeps alive until `release(cls)` is called
 *  (after they are sent): a cache's shared, reference-counted buffer. */
enum shop_err resp_shared(struct req *r, int status, const char *ctype, const char *data, size_t len,
                          void (*release)(void *cls), void *cls);

/** Answers with no body (204, 304). */
enum shop_err resp_empty(struct req *r, int status);

/** Adds a response header (both strings copied). */
void resp_header(struct req *r, const char *name, const char *value);

#endif
