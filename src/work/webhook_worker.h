/* webhook_worker.h — sends webhook deliveries (OPS-4; shop/webhook.h is the
 * essay).
 *
 * One thread per process drives a libcurl multi handle. While this process
 * holds the lease "webhooks" (one process of the shop at a time) it claims
 * due deliveries — when woken after the consumer committed new ones, and
 * every SHOPD_WEBHOOK_SCAN_MS for retries — at most SHOPD_WEBHOOK_INFLIGHT in
 * flight and SHOPD_WEBHOOK_CONCURRENCY per subscription, signs each attempt,
 * POSTs it over kept-alive connections (the multi handle's cache) with
 * SHOPD_WEBHOOK_TIMEOUT_MS per request, and records each round's answers in
 * one write. Nothing here runs on a request's thread or holds the writer
 * while waiting on a receiver: a slow or dead receiver costs its own
 * subscription's slots and nothing else.
 */
#ifndef SHOP_WORK_WEBHOOK_WORKER_H
#define SHOP_WORK_WEBHOOK_WORKER_H

#include "util/buf.h"
#include "util/problem.h"

struct shop;
struct webhook_worker;

/** Starts the worker. NULL (reason in `pb`) on failure. */
struct webhook_worker *webhook_worker_start(struct shop *shop, struct problem *pb);

/** Wakes the worker to claim new deliveries now (any thread). NULL: nothing. */
void webhook_worker_kick(struct webhook_worker *w);

/** Stops it: requests in flight are abandoned (their claims expire and they
 *  are sent again later: at least once). */
void webhook_worker_stop(struct webhook_worker *w);

/** Appends shopd_webhook_* series (Prometheus text). */
void webhook_worker_render_metrics(struct webhook_worker *w, struct buf *out);

#endif
