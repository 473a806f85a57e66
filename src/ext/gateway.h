/* gateway.h — the payment gateway interface (CHK-2).
 *
 * A gateway is a table of operations over an opaque implementation; shopd
 * ships a simulated one (gateway_sim.c) whose test cards behave as API.md
 * documents. Every call that moves money carries an idempotency key: the
 * gateway answers a repeated key with the first call's result and never
 * charges or refunds twice. Card numbers and CVCs only ever reach
 * `tokenize`; everything else speaks in tokens.
 *
 * Results:
 *   GW_OK           done (captured, refunded, voided, tokenized, found)
 *   GW_DECLINED     the card was refused; `code` says why (final)
 *   GW_UNAVAILABLE  the gateway failed transiently; retrying may work
 *   GW_TIMEOUT      no answer in time: the outcome is unknown — ask `status`
 *   GW_NOT_FOUND    `status`: no charge was ever made with that key
 *
 * Resilience (retries, backoff, circuit breaker) lives in the caller
 * (shop/payment.c), not in the gateways.
 */
#ifndef SHOP_EXT_GATEWAY_H
#define SHOP_EXT_GATEWAY_H

#include <jansson.h>
#include <stdint.h>

#include "util/problem.h"

enum gw_status { GW_OK, GW_DECLINED, GW_UNAVAILABLE, GW_TIMEOUT, GW_NOT_FOUND };

struct gw_card {
    const char *number; /* digits only; validated (Luhn) by the caller */
    int exp_month, exp_year;
    const char *cvc;
};

struct gw_token {
    char token[64];
    char brand[16];
    char last4[5];
};

struct gw_result {
    char id[48];   /* the charge's or refund's id at the gateway */
    char code[32]; /* decline or error code, e.g. card_declined */
    int64_t amount_cents;
};

struct gateway {
    const char *name;
    void *impl;
    enum gw_status (*tokenize)(struct gateway *gw, const struct gw_card *card, struct gw_token *out);
    /** Authorizes `amount` on a token; with `capture` also captures it. */
    enum gw_status (*authorize)(struct gateway *gw, const char *token, int64_t amount_cents,
                                const char *currency, int capture, const char *idempotency_key,
                                const char *order_ref, struct gw_result *out);
    enum gw_status (*capture)(struct gateway *gw, const char *charge_id,
                              const char *idempotency_key, struct gw_result *out);
    enum gw_status (*void_charge)(struct gateway *gw, const char *charge_id,
                                  const char *idempotency_key, struct gw_result *out);
    enum gw_status (*refund)(struct gateway *gw, const char *charge_id, int64_t amount_cents,
                             const char *idempotency_key, const char *order_ref,
                             struct gw_result *out);
    /** What became of the authorize call made with `idempotency_key`:
     *  GW_OK with the charge (captured), GW_DECLINED, or GW_NOT_FOUND. */
    enum gw_status (*status)(struct gateway *gw, const char *idempotency_key, struct gw_result *out);
    /** The gateway's own ledger for an order: charges and refunds (JSON array). */
    json_t *(*ledger)(struct gateway *gw, const char *order_ref);
    void (*destroy)(struct gateway *gw);
};

/** The simulated gateway, keeping its books in the SQLite file `path`
 *  (created when missing). The timing-out test cards take `timeout_ms` to
 *  time out. NULL with the reason in `pb` when the file cannot be opened. */
struct gateway *gateway_sim_new(const char *path, int64_t timeout_ms, struct problem *pb);

#endif
