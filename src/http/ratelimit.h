/* ratelimit.h — token buckets per client address, per user and global, per
 * route class (OPS-3).
 *
 * Every route names a rate class (router.h). For each class and scope the
 * table in ratelimit.c sets a rate (tokens per second) and a burst (the
 * bucket's size); SHOPD_RATE_<CLASS>_<SCOPE>=rate/burst overrides one entry
 * and SHOPD_RATE_LIMIT=off turns limiting off (shop/config.c). A request
 * takes one token from each bucket that applies: the class's global bucket
 * and its client address's before authentication (so floods with bad tokens
 * cost no database work), its user's after. An empty bucket answers 429
 * with Retry-After; every limited route's answers carry the IETF draft
 * headers (draft-ietf-httpapi-ratelimit-headers):
 *
 *     RateLimit-Policy: "ip";q=100;w=1, "user";q=20;w=2
 *     RateLimit: "ip";r=37;t=1, "user";r=19;t=1
 *
 * q is the burst, w the seconds an empty bucket takes to fill, r the tokens
 * left and t the seconds until the bucket is full again.
 *
 * Buckets are GCRA cells: one timestamp each (the theoretical arrival time
 * of the next request), so a check is a compare and an add. Per-address and
 * per-user cells live in a fixed table of shards, each a mutex and a small
 * open-addressed array: memory is bounded, a lookup touches one shard, and a
 * full shard reuses the slot of an idle client (a bucket that has refilled
 * is indistinguishable from a new one) before any other. Global cells are a
 * single atomic each, updated lock-free.
 *
 * Several processes (STO-3). Buckets live in each process's memory. A
 * global limit is the shop's: each process takes an even share of it (its
 * rate divided by the processes alive, which the lease keeper counts,
 * work/leases.h), so N processes behind a balancer admit about the
 * configured rate together. Per-address and per-user buckets stay per
 * process: a client whose requests are spread over N processes gets up to N
 * times its rate. Balance by source address (haproxy `balance source`; the
 * comment in deploy/haproxy.cfg) to keep a client on one process and its
 * buckets exact; behind a proxy, per-address buckets need the client's
 * address in X-Forwarded-For from a proxy in SHOPD_TRUSTED_PROXIES
 * (http/clientip.h). The login throttle and flash-sale limits are in the database and
 * hold across processes whatever the balancing.
 */
#ifndef SHOP_HTTP_RATELIMIT_H
#define SHOP_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "http/router.h"
#include "util/buf.h"

enum rl_scope { RL_IP, RL_USER, RL_GLOBAL, RL_SCOPES };

/** What the buckets a request touched said, for the headers. */
struct rl_result {
    int n;
    struct {
        enum rl_scope scope;
        int64_t quota, window_s, remaining, reset_s;
    } p[RL_SCOPES];
    int retry_after_s; /* > 0 when refused */
};

struct ratelimit;

/** The table: defaults, then SHOPD_RATE_<CLASS>_<SCOPE>. With `enabled`
 *  false every check admits and no headers are added. */
struct ratelimit *ratelimit_new(bool enabled);
void ratelimit_free(struct ratelimit *rl);

/** Takes one token from bucket (cls, scope, key) at monotonic time `now_ns`
 *  and records it in `res`. False when the bucket was empty (nothing taken;
 *  res->retry_after_s says when to come back). True, recording nothing, for
 *  an unlimited entry. `key` identifies the client within the scope (any
 *  value for RL_GLOBAL). */
bool ratelimit_take(struct ratelimit *rl, enum rate_class cls, enum rl_scope scope, uint64_t key,
                    int64_t now_ns, struct rl_result *res);

/** A key for a client address (a string). */
uint64_t ratelimit_key(const char *s);

/** The header values for `res` (empty strings when nothing was limited). */
void ratelimit_format(const struct rl_result *res, char *policy, size_t policy_len, char *state,
                      size_t state_len);

/** How many processes share the shop's global limits (1 by default; the
 *  lease keeper reports changes). */
void ratelimit_set_processes(struct ratelimit *rl, int n);

/** Refusals by class and scope (Prometheus text). */
void ratelimit_render_metrics(struct ratelimit *rl, struct buf *out);

/** "read", "write", …; "" for RATE_NONE. */
const char *ratelimit_class_name(enum rate_class c);

#endif
