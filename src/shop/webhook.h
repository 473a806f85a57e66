/* webhook.h — outgoing webhooks (OPS-4): admins subscribe a URL to outbox
 * event types; every such event is POSTed to it, signed per Standard
 * Webhooks, at least once, retried with backoff for a day.
 *
 * What is stored (migration 0028):
 *   webhooks             a subscription: url, event types (or "*"), its
 *                        secret ("whsec_" + base64 of 24 random bytes) and,
 *                        during a rotation, the previous one with its end
 *   webhook_deliveries   one row per (subscription, outbox event): the exact
 *                        body, its state, attempts, next attempt, the last
 *                        answer. The unique key is what makes the feeding
 *                        consumer idempotent: an event handed over twice
 *                        (the dispatcher is at least once) inserts nothing.
 *
 * Who moves what:
 *   the outbox consumer "webhooks" (work/consumers.c → webhook_on_slice, on
 *   the writer, in the same transaction as its stored position) inserts a
 *   pending delivery for every active subscription that wants the event and
 *   was created before it. The worker (work/webhook_worker.c, one process of
 *   the shop by the lease "webhooks") claims due rows (webhook_claim), POSTs
 *   them over libcurl multi and records the answers (webhook_record).
 *
 * A delivery's state machine (all in webhook_record unless said):
 *
 *   pending ──2xx─────────────────────────────────────────────► delivered
 *   pending ──other answer / no answer, within the retry window──► pending
 *             (attempts + 1, next_at = now + backoff with jitter)
 *   pending ──failure after the retry window (SHOPD_WEBHOOK_RETRY_WINDOW,
 *             24 h from the event)──────────────────────────────► failed
 *   pending ──its subscription disabled (webhook_record, on 410 or
 *             sustained failure)────────────────────────────────► failed
 *
 *   A claim (webhook_claim) moves only next_at, past the request's timeout:
 *   a claimed row is not claimed again while its request may still answer,
 *   and a process that dies mid-request leaves it due again (at least once).
 *   A row is never sent again once recorded delivered.
 *
 * A subscription's state machine:
 *
 *   active ──410 Gone from the receiver──────────────► disabled
 *   active ──every attempt failing for SHOPD_WEBHOOK_DISABLE_AFTER since
 *            the first failure of the run (failing_since; a 2xx clears
 *            it)────────────────────────────────────────► disabled
 *
 *   Disabling fails its pending deliveries and notifies every admin once
 *   (notify_user, key "webhook.disabled:<id>:<time>"), in the same write.
 *
 * Signatures (Standard Webhooks): headers webhook-id ("evt_<event id>", the
 * same on every attempt and for every subscription: receivers dedupe on it),
 * webhook-timestamp (seconds, the attempt's time) and webhook-signature
 * "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" where key is the
 * base64-decoded part of the secret after "whsec_". While a rotation's
 * window is open (SHOPD_WEBHOOK_ROTATION_WINDOW, default 24 h) the header
 * carries both signatures, the new one first, separated by a space.
 */
#ifndef SHOP_SHOP_WEBHOOK_H
#define SHOP_SHOP_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/problem.h"

struct shop;
struct db;
struct outbox_event;

#define WEBHOOK_URL_MAX    2048
#define WEBHOOK_EVENTS_MAX 32  /* event types per subscription */
#define WEBHOOK_EVENT_MAX  64  /* characters of one event type */
#define WEBHOOK_SUBS_MAX   100 /* subscriptions per shop */
#define WEBHOOK_SECRET_LEN 39  /* "whsec_" + base64 of 24 bytes (32) + NUL */
#define WEBHOOK_SIG_MAX    128 /* one or two "v1,<44 chars>" */
#define WEBHOOK_ERROR_MAX  200

/** A subscription as the API shows it. `secret` is set only by
 *  webhook_create and webhook_rotate (it is shown once). */
struct webhook {
    int64_t id;
    char url[WEBHOOK_URL_MAX + 1];
    char events[WEBHOOK_EVENTS_MAX][WEBHOOK_EVENT_MAX + 1];
    int nevents;
    char secret[WEBHOOK_SECRET_LEN + 1];
    int64_t previous_until; /* 0: no rotation window open */
    bool active;
    char disabled_reason[WEBHOOK_ERROR_MAX + 1];
    int64_t created_at;
};

/** Validated input of webhook_create. */
struct webhook_in {
    const char *url;
    const char *events[WEBHOOK_EVENTS_MAX];
    int nevents;
};

/** Checks a URL (http:// or https://, ≤ WEBHOOK_URL_MAX, no spaces or
 *  control characters) and an event type ("*" for all, or one the outbox
 *  writes: outbox_topic_known, e.g. "order.placed"). */
bool webhook_url_ok(const char *url);
bool webhook_event_ok(const char *type);

/** Creates a subscription with a fresh secret. SHOP_CONFLICT when the shop
 *  already has WEBHOOK_SUBS_MAX; nothing changed on failure. */
enum shop_err webhook_create(struct shop *shop, const struct webhook_in *in, struct webhook *out,
                             struct problem *pb);

/** Every subscription, oldest first (at most WEBHOOK_SUBS_MAX). `*out` is
 *  malloc'd (free it), secrets left empty. */
enum shop_err webhook_list(struct shop *shop, struct webhook **out, int *n, struct problem *pb);

/** Deletes a subscription and its delivery log. SHOP_NOT_FOUND when absent. */
enum shop_err webhook_delete(struct shop *shop, int64_t id, struct problem *pb);

/** Starts a rotation: a new secret signs from now on, the old one beside it
 *  until the window ends (a second rotation inside the window replaces the
 *  previous secret by the one current until now). `out` gets the new
 *  secret. SHOP_NOT_FOUND when absent. */
enum shop_err webhook_rotate(struct shop *shop, int64_t id, struct webhook *out,
                             struct problem *pb);

/** One delivery as the log shows it. */
struct webhook_delivery {
    int64_t id, event_id;
    char type[WEBHOOK_EVENT_MAX + 1];
    char status[12]; /* pending | delivered | failed */
    int attempts;
    int64_t created_at, next_at, finished_at; /* 0: none */
    int last_status;                          /* 0: none */
    char last_error[WEBHOOK_ERROR_MAX + 1];
};

/** A page of the subscription's deliveries, newest first, ids below
 *  `before` (0: from the newest); `status` NULL for all. `*out` malloc'd;
 *  `*next` the cursor of the next page or 0. SHOP_NOT_FOUND when the
 *  subscription is absent. */
enum shop_err webhook_deliveries(struct shop *shop, int64_t id, const char *status, int64_t before,
                                 int limit, struct webhook_delivery **out, int *n, int64_t *next,
                                 struct problem *pb);

/** The outbox consumer (work/consumers.c), a slice of events at a time:
 *  queues each event for every active subscription that wants it and
 *  existed when it was written (the subscriptions read once per slice).
 *  Runs inside the dispatcher's write; idempotent per (subscription,
 *  event). */
enum shop_err webhook_on_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                               void *cls, struct problem *pb);

/* ---- the worker's side (work/webhook_worker.c) -------------------------- */

/** A delivery handed to the worker. */
struct webhook_job {
    int64_t id, webhook_id, event_id, created_at;
    int attempts;
    char *url, *body; /* malloc'd; webhook_jobs_free */
    size_t body_len;
    char msg_id[32];
    char secret[WEBHOOK_SECRET_LEN + 1], previous[WEBHOOK_SECRET_LEN + 1];
    /* the answer, set by the worker */
    int http_status; /* 0: none (network error, timeout) */
    char error[WEBHOOK_ERROR_MAX + 1];
};

/** Claims up to `max` due deliveries of active subscriptions, at most
 *  `per_sub - inflight_of(cls, webhook_id)` of each (its requests already in
 *  flight here count against its cap), oldest due first, moving their
 *  next_at to now + `hold_ms` in the same write. `*out` is malloc'd
 *  (webhook_jobs_free). */
enum shop_err webhook_claim(struct shop *shop, int max, int per_sub, int64_t hold_ms,
                            int (*inflight_of)(void *cls, int64_t webhook_id), void *cls,
                            struct webhook_job **out, int *n, struct problem *pb);

/** Records the answers of `n` finished jobs in one write (see the state
 *  machines above). */
enum shop_err webhook_record(struct shop *shop, const struct webhook_job *jobs, int n,
                             struct problem *pb);

void webhook_jobs_free(struct webhook_job *jobs, int n);

/** The webhook-signature header's value for `msg_id`, `ts` and `body`
 *  under `secret` (and `previous` when not empty). False when a secret is
 *  malformed. */
bool webhook_sign(const char *secret, const char *previous, const char *msg_id, int64_t ts,
                  const char *body, size_t len, char out[WEBHOOK_SIG_MAX]);

/** The delay before attempt `attempts` + 1: exponential from `base_ms`,
 *  capped at `max_ms`, with jitter (half fixed, half random). */
int64_t webhook_backoff_ms(int attempts, int64_t base_ms, int64_t max_ms);

#endif
