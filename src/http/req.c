/* req.c — request accessors and answer builders for handlers (req.h). */
#include "http/req.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonx.h"

const char *req_query(struct req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_cookie(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *req_param(struct req *r, const char *name)
{
    for (int i = 0; i < REQ_MAX_PARAMS && r->param_names[i]; i++)
        if (!strcmp(r->param_names[i], name))
            return r->params[i];
    return NULL;
}

/* A positive decimal integer that fits in int64, nothing else. */
static bool parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

bool req_param_id(struct req *r, const char *name, const char *what, int64_t *id)
{
    const char *s = req_param(r, name);
    if (parse_id(s, id))
        return true;
    problem_set(&r->pb, SHOP_NOT_FOUND, "no %s with id %s", what, s ? s : "?");
    return false;
}

static bool json_content_type(const char *ct)
{
    if (!ct)
        return true; /* lenient: curl -d without -H still works */
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 16 && !strncasecmp(ct, "application/json", 16))
        return true;
    return n > 5 && !strncasecmp(ct + n - 5, "+json", 5);
}

enum shop_err req_json(struct req *r, json_t **out)
{
    if (r->json) {
        *out = r->json;
        return SHOP_OK;
    }
    if (!json_content_type(req_header(r, "Content-Type")))
        return problem_set(&r->pb, SHOP_MEDIA_TYPE, "send the body as application/json");
    enum shop_err e = jx_parse_object(r->body, r->body_len, &r->json, &r->pb);
    if (e == SHOP_OK)
        *out = r->json;
    return e;
}

enum shop_err req_json_or_empty(struct req *r, json_t **out)
{
    if (r->body_len == 0) {
        if (!r->json)
            r->json = json_object();
        *out = r->json;
        return SHOP_OK;
    }
    return req_json(r, out);
}

bool req_query_int(struct req *r, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const char *s = req_query(r, key);
    if (!s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        problem_field(&r->pb, SHOP_INVALID, key, "must be an integer between %lld and %lld",
                      (long long)min, (long long)max);
        return false;
    }
    *out = v;
    return true;
}

static void set_out(struct req *r, int status, const char *ctype, char *data, size_t len,
                    void (*release)(void *), void *cls)
{
    if (r->out_free)
        r->out_free(r->out_free_cls);
    r->status = status;
    r->ctype = ctype;
    r->out = data;
    r->out_len = len;
    r->out_free = release;
    r->out_free_cls = cls;
}

static void free_cls(void *cls)
{
    free(cls);
}

enum shop_err resp_json(struct req *r, int status, json_t *v)
{
    size_t len;
    char *s = jx_dump(v, &len);
    json_decref(v);
    if (!s)
        return problem_set(&r->pb, SHOP_INTERNAL, "cannot encode the answer");
    set_out(r, status, "application/json", s, len, free_cls, s);
    return SHOP_OK;
}

enum shop_err resp_json_text(struct req *r, int status, char *text, size_t len)
{
    set_out(r, status, "application/json", text, len, free_cls, text);
    return SHOP_OK;
}

enum shop_err resp_bytes(struct req *r, int status, const char *ctype, const char *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return problem_set(&r->pb, SHOP_INTERNAL, "out of memory");
    memcpy(copy, data, len);
    set_out(r, status, ctype, copy, len, free_cls, copy);
    return SHOP_OK;
}

enum shop_err resp_shared(struct req *r, int status, const char *ctype, const char *data,
                          size_t len, void (*release)(void *cls), void *cls)
{
    set_out(r, status, ctype, (char *)data, len, release, cls);
    return SHOP_OK;
}

enum shop_err resp_empty(struct req *r, int status)
{
    set_out(r, status, NULL, NULL, 0, NULL, NULL);
    return SHOP_OK;
}

void resp_header(struct req *r, const char *name, const char *value)
{
    if (r->nheaders == REQ_MAX_HEADERS)
        return;
    r->headers[r->nheaders].name = arena_strdup(r->arena, name);
    r->headers[r->nheaders].value = arena_strdup(r->arena, value);
    r->nheaders++;
}
