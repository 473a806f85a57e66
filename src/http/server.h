/* server.h — the HTTP server: libmicrohttpd (epoll, internal thread pool)
 * in front of the route table.
 *
 * Each request gets an arena, an id (X-Request-Id, echoed or generated), a
 * principal resolved from its token, a route and a handler call; the answer
 * is counted in /metrics and written to the access log. Bodies over 1 MiB
 * are refused with 413 before they are read.
 */
#ifndef SHOP_HTTP_SERVER_H
#define SHOP_HTTP_SERVER_H

#include <stdbool.h>

#include "util/problem.h"

struct shop;
struct http_server;
struct buf;

struct http_opts {
    const char *host; /* NULL: 127.0.0.1 */
    int port;         /* 0: any free port */
    int threads;      /* event threads (reads); 0: 8 per core */
    int workers;      /* blocking workers (writes); 0: HTTP_DEFAULT_WORKERS */
    const char *access_log; /* path, "-" or "off" */
};

#define HTTP_MAX_BODY (1024 * 1024)
/* Writes block until they commit and group commit needs many in flight to
 * batch them (Little's law: 5,000 orders/s at 10 ms is 50 at once). */
#define HTTP_DEFAULT_WORKERS 64

/** Starts serving. NULL on failure with the reason in `pb`. */
struct http_server *http_start(struct shop *shop, const struct http_opts *o, struct problem *pb);

/** The port actually bound. */
int http_port(const struct http_server *hs);

/** Stops accepting, lets requests in flight finish (up to `grace_ms`),
 *  then closes every connection and frees the server. */
void http_stop(struct http_server *hs, int grace_ms);

/** Appends the server's metrics (requests, latencies) in Prometheus text. */
void http_render_metrics(struct http_server *hs, struct buf *out);

/** How many processes of the shop are alive: they share its global rate
 *  limits (http/ratelimit.h). `hs` is a struct http_server; the signature
 *  fits leases_on_processes. */
void http_set_processes(void *hs, int n);

#endif
