#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define MAX_SEGS 12

struct seg {
    const char *text; /* literal, or the parameter's name */
    size_t len;
    bool param;
};

struct compiled {
    const struct route *route;
    struct seg segs[MAX_SEGS];
    int nsegs;
};

struct router {
    struct compiled *routes;
    size_t n;
};

const char *http_method_name(enum http_method m)
{
    static const char *const names[] = {"?", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                        "OPTIONS"};
    return (unsigned)m < sizeof names / sizeof names[0] ? names[m] : "?";
}

enum http_method http_method_parse(const char *s)
{
    for (int m = HTTP_GET; m <= HTTP_OPTIONS; m++)
        if (!strcmp(s, http_method_name((enum http_method)m)))
            return (enum http_method)m;
    return 0;
}

/* Splits "/a/{b}/c" into segments pointing into `path`. */
static int split(const char *path, struct seg *segs)
{
    int n = 0;
    const char *p = path;
    if (*p != '/')
        return -1;
    while (*p == '/') {
        p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        if (n == MAX_SEGS)
            return -1;
        segs[n].text = start;
        segs[n].len = (size_t)(p - start);
        segs[n].param = false;
        n++;
    }
    return *p ? -1 : n;
}

struct router *router_new(const struct route *routes, size_t n)
{
    struct router *rt = xcalloc(1, sizeof *rt);
    rt->routes = xcalloc(n, sizeof *rt->routes);
    rt->n = n;
    for (size_t i = 0; i < n; i++) {
        struct compiled *c = &rt->routes[i];
        c->route = &routes[i];
        c->nsegs = split(routes[i].pattern, c->segs);
        if (c->nsegs < 0) {
            fprintf(stderr, "bad route pattern %s\n", routes[i].pattern);
            abort();
        }
        int nparams = 0;
        for (int k = 0; k < c->nsegs; k++) {
            struct seg *s = &c->segs[k];
            if (s->len > 2 && s->text[0] == '{' && s->text[s->len - 1] == '}') {
                s->param = true;
                s->text++;
                s->len -= 2;
                if (++nparams > REQ_MAX_PARAMS)
                    abort();
            }
        }
    }
    return rt;
}

void router_free(struct router *rt)
{
    if (!rt)
        return;
    free(rt->routes);
    free(rt);
}

static bool segs_match(const struct compiled *c, const struct seg *segs, int n)
{
    if (c->nsegs != n)
        return false;
    for (int k = 0; k < n; k++) {
        const struct seg *p = &c->segs[k];
        if (p->param) {
            if (segs[k].len == 0)
                return false;
        } else if (p->len != segs[k].len || memcmp(p->text, segs[k].text, p->len) != 0) {
            return false;
        }
    }
    return true;
}

int router_match(const struct router *rt, enum http_method m, const char *path, struct req *r,
                 char *allow, size_t allow_len)
{
    struct seg segs[MAX_SEGS];
    int n = split(path, segs);
    if (n < 0)
        return ROUTER_NOT_FOUND;
    enum http_method want = m == HTTP_HEAD ? HTTP_GET : m;
    bool other = false;
    size_t used = 0;
    if (allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < rt->n; i++) {
        const struct compiled *c = &rt->routes[i];
        if (!segs_match(c, segs, n))
            continue;
        if (c->route->method != want) {
            if (!other || !strstr(allow, http_method_name(c->route->method))) {
                int w = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
                                 http_method_name(c->route->method));
                if (w > 0 && (size_t)w < allow_len - used)
                    used += (size_t)w;
            }
            other = true;
            continue;
        }
        int np = 0;
        for (int k = 0; k < n; k++) {
            if (!c->segs[k].param)
                continue;
            r->param_names[np] = arena_strndup(r->arena, c->segs[k].text, c->segs[k].len);
            r->params[np] = arena_strndup(r->arena, segs[k].text, segs[k].len);
            np++;
        }
        r->route = c->route;
        return (int)i;
    }
    return other ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

size_t router_count(const struct router *rt)
{
    return rt->n;
}

const struct route *router_route(const struct router *rt, size_t i)
{
    return rt->routes[i].route;
}
