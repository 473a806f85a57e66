/* server.c — libmicrohttpd glue: request lifecycle, auth, dispatch, answer.
 *
 * libmicrohttpd calls on_request several times per request (the two-call
 * pattern keep-alive depends on): first with no body (we set up the request
 * state), then once per body chunk (we append, bounded), then a final time
 * with no data (we dispatch and queue the answer). on_completed frees the
 * request state after the answer has been sent or the connection dropped.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <microhttpd.h>
#include <semaphore.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/routes.h"
#include "http/accesslog.h"
#include "http/auth.h"
#include "http/clientip.h"
#include "http/metrics.h"
#include "http/problem_http.h"
#include "http/ratelimit.h"
#include "http/router.h"
#include "shop/shop.h"
#include "shop/shedding.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/log.h"
#include "util/token.h"
#include "util/utf8.h"
#include "util/xalloc.h"

struct rstate;

/* A worker waiting for a request. It is handed one directly and woken on its
 * own semaphore, so it does not wake into contention for the pool's lock (a
 * condition variable shared by all made a context switch per request). */
struct idle_worker {
    sem_t wake;
    struct rstate *rs; /* the request handed over; NULL: stop */
    struct idle_worker *next;
};

/* The blocking workers, those idle, and the requests waiting for one. */
struct workers {
    pthread_t *threads;
    int n;
    pthread_mutex_t mu;
    struct idle_worker *idle;
    struct rstate *head, *tail;
    bool stop;
};

struct http_server {
    struct MHD_Daemon *d;
    struct shop *shop;
    struct router *router;
    struct metrics *metrics;
    struct workers workers;
    struct ratelimit *rl;
    struct proxies *proxies; /* SHOPD_TRUSTED_PROXIES (clientip.h) */
    int port;
    int64_t body_timeout_ns;
    unsigned idle_timeout_s;
    _Atomic int inflight;
};

/* A body over HTTP_MAX_BODY is read and dropped (so an ordinary client sees
 * the 413 instead of a reset connection) unless it declares more than this. */
#define HTTP_DISCARD_MAX (64 * 1024 * 1024)
/* A connection's memory (libmicrohttpd's pool: the request head, the read
 * buffer): a head that does not fit is a 431. libmicrohttpd zeroes the
 * whole pool between the requests of a connection, so its size is paid on
 * every request: at 64 KiB the memset was a tenth of a cached product
 * page's CPU, at 32 KiB (libmicrohttpd's default) a twentieth. */
#define HTTP_CONNECTION_MEMORY (32 * 1024)

/* Per-request state, from the first call to on_completed. */
struct rstate {
    struct req req;
    struct buf body;
    bool started;       /* on_request has seen the request's head */
    bool rejected;      /* refused from its head alone (r->pb says why); the connection closes */
    bool nul;           /* the request target has an encoded NUL */
    const char *target; /* the request target as received (path and query, still encoded) */
    bool too_large;
    size_t seen; /* body bytes received, kept or not */
    int64_t t0;
    int64_t db0; /* the thread's database time when dispatch began */
    int route_idx;
    /* handed to a worker */
    const char *url, *method;
    bool ready; /* the worker has answered; written before the resume */
    struct rstate *next;
};

/* ---- small helpers ------------------------------------------------------- */

static void request_id(struct req *r)
{
    const char *given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (http_request_id_valid(given)) {
        memcpy(r->id, given, strlen(given) + 1);
        return;
    }
    static _Thread_local uint64_t state;
    if (!state)
        state = token_rand64() | 1;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    snprintf(r->id, sizeof r->id, "%016llx", (unsigned long long)state);
}

/* Every X-Forwarded-For field, in order, joined with ", " (RFC 9110 §5.3:
 * the same as one field listing them). A proxy that appends a field of its
 * own (haproxy's `option forwardfor`) leaves the client's first: reading
 * only the first would believe whatever the client wrote there. */
struct xff {
    struct arena *arena;
    char *joined;
};

static enum MHD_Result join_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    struct xff *x = cls;
    if (key && value && !strcasecmp(key, "X-Forwarded-For"))
        x->joined = x->joined ? arena_printf(x->arena, "%s, %s", x->joined, value)
                              : arena_strdup(x->arena, value);
    return MHD_YES;
}

static void client_ip(struct req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char peer[48] = "unknown";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, sizeof peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof peer);
    }
    struct xff xff = {r->arena, NULL};
    if (proxies_trust(r->server->proxies, peer))
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_xff, &xff);
    clientip_resolve(r->server->proxies, peer, xff.joined, r->ip, sizeof r->ip);
    const char *proto = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    r->tls = proto && !strcasecmp(proto, "https") && proxies_trust(r->server->proxies, peer);
}

static void render_problem(struct req *r)
{
    if (r->pb.err == SHOP_OK)
        problem_set(&r->pb, SHOP_INTERNAL, "the handler gave no answer");
    json_t *body = problem_body(&r->pb, r->id);
    int status = problem_status(r->pb.err);
    if (r->out_free)
        r->out_free(r->out_free_cls);
    r->out_free = NULL;
    if (resp_json(r, status, body) != SHOP_OK) {
        /* Never send nothing: a problem that cannot be encoded (it should
         * not happen: problem.c keeps details UTF-8) still gets its status. */
        const char *fallback =
            arena_printf(r->arena,
                         "{\"type\":\"about:blank\",\"title\":\"Error\",\"status\":%d,"
                         "\"detail\":\"the problem could not be encoded\",\"errors\":[]}",
                         status);
        resp_bytes(r, status, "application/json", fallback, strlen(fallback));
    }
    r->ctype = "application/problem+json";
    if (r->pb.retry_after > 0)
        resp_header(r, "Retry-After", arena_printf(r->arena, "%d", r->pb.retry_after));
    if (r->pb.err == SHOP_METHOD && r->pb.extra) {
        json_t *allow = json_object_get(r->pb.extra, "allow");
        if (json_is_string(allow))
            resp_header(r, "Allow", json_string_value(allow));
    }
    if (r->pb.err == SHOP_UNAUTHENTICATED)
        resp_header(r, "WWW-Authenticate", "Bearer");
}

/* ---- dispatch ------------------------------------------------------------- */

/* OPS-3: takes a token from the route class's global and per-address
 * buckets (before authentication) or from its per-user bucket (after). */
static enum shop_err admit(struct http_server *hs, struct req *r, struct rl_result *rl, bool user)
{
    enum rate_class cls = r->route->rate;
    int64_t now = clock_mono_ns();
    bool ok;
    if (user)
        ok = !r->who.user_id ||
             ratelimit_take(hs->rl, cls, RL_USER, (uint64_t)r->who.user_id, now, rl);
    else
        ok = ratelimit_take(hs->rl, cls, RL_GLOBAL, 0, now, rl) &&
             ratelimit_take(hs->rl, cls, RL_IP, ratelimit_key(r->ip), now, rl);
    if (ok)
        return SHOP_OK;
    r->pb.retry_after = rl->retry_after_s;
    return problem_set(&r->pb, SHOP_RATE_LIMITED,
                       "too many %s requests from this %s; retry in %d s",
                       ratelimit_class_name(cls), user ? "account" : "address", rl->retry_after_s);
}

/* OPS-3: a route the shop's load-shedding level leaves out gets 503 with
 * Retry-After (shop/shedding.h). */
static bool is_read(const struct req *r)
{
    return r->method == HTTP_GET || r->method == HTTP_HEAD;
}

static enum shop_err shed(struct http_server *hs, struct req *r)
{
    int level = shop_shed_level(hs->shop);
    if (shedding_route_allowed(level, is_read(r), r->route->pattern))
        return SHOP_OK;
    r->pb.retry_after = hs->shop->cfg.shed_retry_after_s;
    return problem_set(&r->pb, SHOP_UNAVAILABLE,
                       "the shop is under heavy load (shedding level %d): only browsing, carts "
                       "and checkout are served; retry in %d s",
                       level, r->pb.retry_after);
}

static enum MHD_Result utf8_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    struct req *r = cls;
    if (utf8_valid(key, strlen(key)) && (!value || utf8_valid(value, strlen(value))))
        return MHD_YES;
    problem_field(&r->pb, SHOP_INVALID, key, "must be UTF-8 text");
    return MHD_NO;
}

/* Every query parameter (decoded) must be UTF-8: handlers may quote or store
 * them, and JSON cannot carry anything else. Fills r->pb when one is not. */
static bool query_is_utf8(struct req *r)
{
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, utf8_arg, r);
    return r->pb.err == SHOP_OK;
}

static void dispatch(struct http_server *hs, struct rstate *rs, const char *url, const char *method)
{
    struct req *r = &rs->req;
    r->method = http_method_parse(method);
    if (!r->path)
        r->path = url;
    rs->route_idx = -1;
    rs->db0 = store_thread_db_ns();
    uint64_t read_failures = store_thread_read_failures(), read_errors = store_thread_read_errors();
    uint64_t writes = store_thread_writes();
    struct rl_result rl = {0};

    enum shop_err e;
    if (rs->rejected) {
        e = r->pb.err;
        resp_header(r, "Connection", "close");
    } else if (!query_is_utf8(r)) {
        e = r->pb.err;
    } else if (rs->too_large) {
        e = problem_set(&r->pb, SHOP_TOO_LARGE, "the request body is over %d bytes", HTTP_MAX_BODY);
    } else if (!r->method) {
        /* A method no route has (FOO, TRACE, …): 405 with what the resource
         * allows (RFC 9110 §15.5.6), or 404 when there is no resource. */
        char allow[128];
        if (router_match(hs->router, HTTP_OPTIONS, url, r, allow, sizeof allow) ==
            ROUTER_NOT_FOUND) {
            e = problem_set(&r->pb, SHOP_NOT_FOUND, "no resource at %s", url);
        } else {
            problem_extra(&r->pb, "allow", json_string(allow));
            e = problem_set(&r->pb, SHOP_METHOD, "method %s is not supported; use %s", method,
                            allow);
        }
    } else {
        char allow[128];
        int idx = router_match(hs->router, r->method, url, r, allow, sizeof allow);
        if (idx == ROUTER_NOT_FOUND) {
            e = problem_set(&r->pb, SHOP_NOT_FOUND, "no resource at %s", url);
        } else if (idx == ROUTER_BAD_METHOD && r->method == HTTP_OPTIONS) {
            resp_header(r, "Allow", allow);
            e = resp_empty(r, 204);
        } else if (idx == ROUTER_BAD_METHOD) {
            problem_extra(&r->pb, "allow", json_string(allow));
            e = problem_set(&r->pb, SHOP_METHOD, "%s is not allowed here; use %s", method, allow);
        } else {
            rs->route_idx = idx;
            r->body = rs->body.data ? rs->body.data : "";
            r->body_len = rs->body.len;
            e = admit(hs, r, &rl, false);
            if (e == SHOP_OK)
                e = http_authenticate(r, r->route->auth);
            if (e == SHOP_OK)
                e = admit(hs, r, &rl, true);
            if (e == SHOP_OK)
                e = shed(hs, r);
            if (e == SHOP_OK)
                e = r->route->handler(r);
        }
    }
    /* A request that saw a read fail answers 500 (503 when the database
     * was only busy): what the handler made of the failure (a list cut
     * short, "no such order") is not the answer. A 4xx would say the
     * request was wrong and changed nothing, which a failed read cannot
     * tell. Only the success of a write that committed stands: the change
     * is durable, and a failed statement inside the write failed it
     * (writer.c). */
    int status = e != SHOP_OK ? problem_status(r->pb.err) : r->status;
    bool success_of_a_write = !is_read(r) && status < 400 && store_thread_writes() != writes;
    if (status < 500 && !success_of_a_write && store_thread_read_failures() != read_failures) {
        problem_clear(&r->pb);
        r->nheaders = 0;
        if (store_thread_read_errors() != read_errors) {
            e = problem_set(&r->pb, SHOP_INTERNAL, "a database read failed while answering");
        } else {
            r->pb.retry_after = 1;
            e = problem_set(&r->pb, SHOP_UNAVAILABLE, "the database is busy; try again");
        }
    }
    if (e != SHOP_OK || r->status == 0)
        render_problem(r);
    if (rl.n) {
        char policy[256], state[256];
        ratelimit_format(&rl, policy, sizeof policy, state, sizeof state);
        resp_header(r, "RateLimit-Policy", policy);
        resp_header(r, "RateLimit", state);
    }
    db_release(store_db(hs->shop->store));
}

static enum MHD_Result answer(struct http_server *hs, struct rstate *rs)
{
    struct req *r = &rs->req;
    struct MHD_Response *resp;
    if (r->out_free)
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r->out_len, r->out,
                                                                      r->out_free, r->out_free_cls);
    else
        resp = MHD_create_response_from_buffer(r->out_len, r->out ? r->out : (char *)"",
                                               MHD_RESPMEM_MUST_COPY);
    r->out_free = NULL; /* MHD owns it now */
    if (!resp)
        return MHD_NO;
    if (r->ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    /* OPS-3 level 2: public reads may be cached longer by clients and CDNs. */
    bool shopper_read = r->route && is_read(r) && r->route->auth != AUTH_ADMIN &&
                        r->route->rate != RATE_NONE;
    if (shopper_read && r->status == 200 && r->route->auth == AUTH_NONE &&
        shop_shed_level(hs->shop) >= 2) {
        char cc[48];
        snprintf(cc, sizeof cc, "public, max-age=%d", hs->shop->cfg.shed_max_age_s);
        MHD_add_response_header(resp, "Cache-Control", cc);
    }
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* Stopping: no connection is left idle for a client (a balancer) to
     * send its next request on just as the connection closes (http_stop). */
    if (atomic_load(&hs->shop->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);

    int64_t dur = clock_mono_ns() - rs->t0;
    metrics_observe(hs->metrics, rs->route_idx, r->status, dur, store_thread_db_ns() - rs->db0,
                    problem_is_stock_conflict(&r->pb));
    if (shopper_read)
        shedding_observe_read(hs->shop->shedding, dur);
    accesslog_write(r, http_method_name(r->method), r->path ? r->path : "?", r->status, r->out_len,
                    dur);
    return ok;
}

/* ---- the blocking workers ----------------------------------------------- */

static bool writes(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* A write whose handler never waits for the database (api_inline_writes):
 * the hand-over to a worker and back would cost more than the request. */
static bool answers_inline(struct http_server *hs, struct rstate *rs, const char *url,
                           const char *method)
{
    enum http_method m = http_method_parse(method);
    char allow[128];
    if (!m || rs->rejected || rs->too_large ||
        router_match(hs->router, m, url, &rs->req, allow, sizeof allow) < 0)
        return false;
    for (const route_handler *h = api_inline_writes; *h; h++)
        if (*h == rs->req.route->handler)
            return true;
    return false;
}

static void workers_push(struct workers *w, struct rstate *rs)
{
    rs->next = NULL;
    pthread_mutex_lock(&w->mu);
    struct idle_worker *iw = w->idle;
    if (iw) {
        w->idle = iw->next;
        iw->rs = rs;
    } else if (w->tail) {
        w->tail->next = rs;
        w->tail = rs;
    } else {
        w->head = w->tail = rs;
    }
    pthread_mutex_unlock(&w->mu);
    if (iw)
        sem_post(&iw->wake);
}

/* The next request: a queued one, else one handed over while idle. NULL
 * when stopping with the queue drained. */
static struct rstate *workers_next(struct workers *w, struct idle_worker *self)
{
    pthread_mutex_lock(&w->mu);
    struct rstate *rs = w->head;
    bool wait = false;
    if (rs) {
        w->head = rs->next;
        if (!w->head)
            w->tail = NULL;
    } else if (!w->stop) {
        self->rs = NULL;
        self->next = w->idle;
        w->idle = self;
        wait = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (!wait)
        return rs;
    while (sem_wait(&self->wake) != 0 && errno == EINTR)
        ;
    return self->rs;
}

static void *worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "http-worker");
    struct http_server *hs = arg;
    struct idle_worker self = {0};
    sem_init(&self.wake, 0, 0);
    struct rstate *rs;
    while ((rs = workers_next(&hs->workers, &self))) {
        dispatch(hs, rs, rs->url, rs->method);
        rs->ready = true;
        MHD_resume_connection(rs->req.conn);
    }
    sem_destroy(&self.wake);
    return NULL;
}

static bool workers_start(struct http_server *hs, int n)
{
    struct workers *w = &hs->workers;
    pthread_mutex_init(&w->mu, NULL);
    w->threads = xcalloc((size_t)n, sizeof *w->threads);
    for (; w->n < n; w->n++)
        if (pthread_create(&w->threads[w->n], NULL, worker_main, hs) != 0)
            return false;
    return true;
}

/* Finishes the queue, then stops the workers. */
static void workers_stop(struct workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    struct idle_worker *iw = w->idle;
    w->idle = NULL;
    pthread_mutex_unlock(&w->mu);
    while (iw) {
        struct idle_worker *next = iw->next; /* read first: a woken worker's slot goes away */
        iw->rs = NULL;
        sem_post(&iw->wake);
        iw = next;
    }
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    pthread_mutex_destroy(&w->mu);
}

/* MHD calls this with the request target as received (still percent-encoded,
 * query included) before it decodes it in place; the decoded copy handlers see
 * is a C string, so an encoded NUL would silently cut a path parameter or a
 * query value ("/v1/me/addresses/2%00junk" would act on address 2). The
 * request's state starts here; what it returns is the request's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct http_server *hs = cls;
    struct rstate *rs = xcalloc(1, sizeof *rs);
    rs->t0 = clock_mono_ns();
    rs->req.shop = hs->shop;
    rs->req.server = hs;
    rs->req.conn = c;
    rs->req.arena = arena_new();
    buf_init(&rs->body, HTTP_MAX_BODY);
    rs->nul = uri && strcasestr(uri, "%00") != NULL;
    rs->target = uri ? arena_strndup(rs->req.arena, uri, 1024) : "?";
    atomic_fetch_add(&hs->inflight, 1);
    return rs;
}

/* Counts the Content-Length fields and whether they differ. */
struct lengths {
    int n;
    bool differ;
    const char *first;
};

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct lengths *l = cls;
    if (strcasecmp(key, "Content-Length") != 0)
        return MHD_YES;
    if (l->n++ == 0)
        l->first = value;
    else if (!value || !l->first || strcmp(value, l->first) != 0)
        l->differ = true;
    return MHD_YES;
}

/* Refuses, from its head alone, a request whose meaning is ambiguous: an
 * encoded NUL in its target, an HTTP/1.1 request without Host (RFC 9112
 * §3.2), or a body framed by a Transfer-Encoding other than chunked (§6.3:
 * 400, then close; libmicrohttpd would instead read such a body until the
 * client closes), by both Transfer-Encoding and Content-Length (§6.1), or by
 * Content-Length fields that disagree (§6.3; libmicrohttpd would take the
 * first, a proxy in front may take the last: request smuggling). True when
 * refused. */
static bool check_head(struct rstate *rs, const char *version)
{
    struct req *r = &rs->req;
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
    struct lengths cl = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_length, &cl);
    if (rs->nul) {
        r->path = rs->target;
        problem_set(&r->pb, SHOP_BAD_REQUEST, "the request target has an encoded NUL (%%00)");
    } else if (te && strcasecmp(te, "chunked") != 0) {
        problem_set(&r->pb, SHOP_BAD_REQUEST,
                    "Transfer-Encoding %s is not supported; send Content-Length or chunked", te);
    } else if (te && MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length")) {
        problem_set(&r->pb, SHOP_BAD_REQUEST, "send Content-Length or Transfer-Encoding, not both");
    } else if (cl.differ) {
        problem_set(&r->pb, SHOP_BAD_REQUEST, "the Content-Length fields disagree");
    } else if (version && !strcmp(version, MHD_HTTP_VERSION_1_1) &&
               !MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host")) {
        problem_set(&r->pb, SHOP_BAD_REQUEST, "an HTTP/1.1 request must carry Host");
    } else {
        return false;
    }
    rs->rejected = true;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct http_server *hs = cls;
    struct rstate *rs = *con_cls;
    if (!rs) /* not seen by on_uri: cannot happen, but cheap to survive */
        rs = *con_cls = on_uri(hs, url, c);
    if (!rs->started) {
        rs->started = true;
        /* The head is complete: from now on the connection may idle longer
         * than a new one that has not yet said what it wants. */
        const union MHD_ConnectionInfo *ti =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_TIMEOUT);
        if (!ti || ti->connection_timeout != hs->idle_timeout_s)
            MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, hs->idle_timeout_s);
        request_id(&rs->req);
        client_ip(&rs->req);
        if (check_head(rs, version)) {
            dispatch(hs, rs, url, method);
            return answer(hs, rs);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > HTTP_MAX_BODY)
            rs->too_large = true;
        if (declared > HTTP_DISCARD_MAX) {
            /* Too big even to read and discard: answer now; the connection
             * closes after the answer. */
            dispatch(hs, rs, url, method);
            return answer(hs, rs);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        rs->seen += *upload_size;
        if (rs->seen > HTTP_DISCARD_MAX)
            return MHD_NO; /* a stream without end: drop the connection */
        if (clock_mono_ns() - rs->t0 > hs->body_timeout_ns)
            return MHD_NO; /* a body trickling in for too long: drop the connection */
        if (!rs->too_large && !buf_append(&rs->body, upload, *upload_size))
            rs->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rs->ready) /* a worker answered while the connection was suspended */
        return answer(hs, rs);
    if (rs->req.status) /* answered on the first call */
        return MHD_YES;
    if (writes(method) && hs->workers.n > 0 && !answers_inline(hs, rs, url, method)) {
        rs->url = arena_strdup(rs->req.arena, url);
        rs->method = arena_strdup(rs->req.arena, method);
        MHD_suspend_connection(c);
        workers_push(&hs->workers, rs);
        return MHD_YES;
    }
    dispatch(hs, rs, url, method);
    return answer(hs, rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)c;
    (void)code;
    struct http_server *hs = cls;
    struct rstate *rs = *con_cls;
    if (!rs)
        return;
    if (rs->req.out_free)
        rs->req.out_free(rs->req.out_free_cls);
    json_decref(rs->req.json);
    problem_clear(&rs->req.pb);
    buf_free(&rs->body);
    arena_free(rs->req.arena);
    free(rs);
    *con_cls = NULL;
    atomic_fetch_sub(&hs->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_event(LOG_WARN, "http.mhd", "{s:s}", "message", msg);
}

/* ---- lifecycle ------------------------------------------------------------ */

struct http_server *http_start(struct shop *shop, const struct http_opts *o, struct problem *pb)
{
    struct http_server *hs = xcalloc(1, sizeof *hs);
    hs->shop = shop;
    hs->router = router_new(api_routes, api_routes_count);
    hs->metrics = metrics_new(hs->router);
    hs->rl = ratelimit_new(shop->cfg.rate_limit);
    hs->proxies = proxies_parse(shop->cfg.trusted_proxies, pb);
    if (!hs->proxies)
        goto fail;
    hs->idle_timeout_s = (unsigned)shop->cfg.http_idle_timeout_s;
    hs->body_timeout_ns = (int64_t)shop->cfg.http_body_timeout_s * 1000000000;
    if (!accesslog_open(o->access_log)) {
        problem_set(pb, SHOP_INVALID, "cannot open the access log %s", o->access_log);
        goto fail;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = o->threads > 0 ? (unsigned)o->threads : (unsigned)(ncpu > 0 ? ncpu * 8 : 16);
    if (threads < 2)
        threads = 2; /* a pool of one stalls under many connections */

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    const char *host = o->host ? o->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        problem_set(pb, SHOP_INVALID, "--host must be an IPv4 address, not %s", host);
        goto fail;
    }
    int nworkers = o->workers > 0 ? o->workers : HTTP_DEFAULT_WORKERS;
    if (!workers_start(hs, nworkers)) {
        problem_set(pb, SHOP_INTERNAL, "cannot start %d HTTP workers", nworkers);
        goto fail;
    }
    hs->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        (uint16_t)o->port, NULL, NULL, on_request, hs, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)shop->cfg.http_header_timeout_s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, hs,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, hs, MHD_OPTION_END);
    if (!hs->d) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot listen on %s:%d (in use?)", host, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(hs->d, MHD_DAEMON_INFO_BIND_PORT);
    hs->port = di ? di->port : o->port;
    log_event(LOG_INFO, "http.listening", "{s:s, s:i, s:i, s:i}", "host", host, "port", hs->port,
              "threads", (int)threads, "workers", nworkers);
    return hs;
fail:
    if (hs->workers.threads)
        workers_stop(&hs->workers);
    accesslog_close();
    ratelimit_free(hs->rl);
    proxies_free(hs->proxies);
    metrics_free(hs->metrics);
    router_free(hs->router);
    free(hs);
    return NULL;
}

int http_port(const struct http_server *hs)
{
    return hs->port;
}

void http_stop(struct http_server *hs, int grace_ms)
{
    if (!hs)
        return;
    /* The listening socket is closed only once the daemon has stopped, as
     * MHD_quiesce_daemon's documentation asks of threaded daemons: each of
     * its threads takes the socket out of its own epoll set when it sees
     * the quiesce, and one that did so after the socket was closed got
     * EBADF and aborted the process ("Failed to remove listen FD from
     * epoll set"). */
    /* A balancer keeps sending requests until its health check sees
     * /readyz answer 503 (the caller set shop->stopping): stopping to accept
     * at once would fail those sent meanwhile, and closing an idle kept-alive
     * connection races the request the balancer is writing on it (haproxy
     * answers that 502). So serve on for SHOPD_STOP_DRAIN_MS, every answer
     * closing its connection, before the quiesce. */
    int64_t drain = hs->shop->cfg.stop_drain_ms;
    if (drain > 0) {
        log_event(LOG_INFO, "http.draining", "{s:I}", "ms", (json_int_t)drain);
        clock_sleep_ms(drain);
    }
    MHD_socket fd = MHD_quiesce_daemon(hs->d);
    int64_t deadline = clock_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&hs->inflight) > 0 && clock_mono_ns() < deadline)
        clock_sleep_ms(10);
    int left = atomic_load(&hs->inflight);
    /* Every suspended connection is resumed before the daemon stops. */
    workers_stop(&hs->workers);
    MHD_stop_daemon(hs->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    log_event(LOG_INFO, "http.stopped", "{s:i}", "unfinished", left);
    accesslog_close();
    ratelimit_free(hs->rl);
    proxies_free(hs->proxies);
    metrics_free(hs->metrics);
    router_free(hs->router);
    free(hs);
}

void http_set_processes(void *hs, int n)
{
    ratelimit_set_processes(((struct http_server *)hs)->rl, n);
}

void http_render_metrics(struct http_server *hs, struct buf *out)
{
    metrics_render(hs->metrics, out);
    ratelimit_render_metrics(hs->rl, out);
}
