/* payment.h — payment methods (ACC-4), store credit (CHK-3) and resilient
 * calls to the payment gateway (CHK-2).
 *
 * Cards are checked here (Luhn, expiry, CVC shape) before the gateway ever
 * sees them, then tokenized; only the token, brand, last4 and expiry are
 * stored. The number and CVC are never stored or logged.
 *
 * Every gateway call goes through payment_call(): transient failures
 * (GW_UNAVAILABLE) are retried up to cfg.gateway_attempts times with
 * exponential backoff and full jitter; a timeout is never retried blindly
 * (the outcome is unknown: the caller asks `status` instead). A circuit
 * breaker counts consecutive transient failures; at cfg.breaker_failures it
 * opens and calls fail fast (PAY_UNAVAILABLE) for cfg.breaker_open_ms, then
 * one trial call is let through (half-open): success closes it, failure
 * opens it again.
 *
 * Store credit is a ledger (store_credit_entries); the balance is its sum
 * and is only ever changed inside write functions, and a debit is checked
 * against it under the customer's credit lock (keylock.h), so it cannot go
 * below zero under concurrency, with one process or many.
 *
 * The breaker is each process's own: a process learns that the gateway is
 * failing from its own calls (a few more calls in all with N processes
 * before every one of them fails fast), which also keeps one process's bad
 * network path from stopping the others' payments.
 */
#ifndef SHOP_SHOP_PAYMENT_H
#define SHOP_SHOP_PAYMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ext/gateway.h"
#include "util/buf.h"
#include "util/problem.h"

struct shop;
struct db;
struct payments;

struct payment_method {
    int64_t id, user_id;
    char token[64], brand[16], last4[5];
    char billing_country[3]; /* ISO 3166-1 alpha-2, "" when not given */
    int exp_month, exp_year;
};

enum pay_outcome {
    PAY_OK,          /* captured / refunded / found captured */
    PAY_DECLINED,    /* refused for good (code in the result) */
    PAY_UNAVAILABLE, /* failing now, or the breaker is open; nothing happened */
    PAY_UNKNOWN,     /* timed out: may or may not have happened */
    PAY_NOT_FOUND,   /* status: no such charge was made */
};

struct payments *payments_new(struct shop *shop, struct gateway *gw);
void payments_free(struct payments *p);
struct gateway *payments_gateway(struct payments *p);

/** Adds a card from {type:"card", number, exp_month, exp_year, cvc,
 *  billing_country?} (billing_country: two letters, for the fraud rules). */
enum shop_err payment_method_add(struct shop *shop, int64_t user_id, json_t *body, json_t **out,
                                 struct problem *pb);
/** The user's cards, newest first, a page of at most `limit` after the
 *  card `before` (0: from the newest): {data:[method], next_cursor}, the
 *  cursor being the last card's id while more follow. */
enum shop_err payment_method_list(struct shop *shop, int64_t user_id, int limit, int64_t before,
                                  json_t **out, struct problem *pb);
enum shop_err payment_method_delete(struct shop *shop, int64_t user_id, int64_t id,
                                    struct problem *pb);
/** Reads one of the user's (not deleted) methods inside a transaction: 1,
 *  0 when there is no such method, -1 when the read failed. */
int payment_method_read(struct db *db, int64_t user_id, int64_t id, struct payment_method *out);
bool payment_method_expired(const struct payment_method *m, int64_t now_ms);
json_t *payment_method_json(const struct payment_method *m);

/** True when `digits` (only digits) passes the Luhn check. */
bool payment_luhn_valid(const char *digits);

/** Gateway calls with retries, backoff and the circuit breaker. */
enum pay_outcome payment_charge(struct shop *shop, const char *token, int64_t amount_cents,
                                const char *currency, const char *key, const char *order_ref,
                                struct gw_result *out);
/** Authorizes without capturing (a held order, shop/fraud.h). */
enum pay_outcome payment_authorize(struct shop *shop, const char *token, int64_t amount_cents,
                                   const char *currency, const char *key, const char *order_ref,
                                   struct gw_result *out);
/** Captures an authorization; repeating it is harmless (the gateway moves a
 *  charge to captured once). */
enum pay_outcome payment_capture(struct shop *shop, const char *charge_id, const char *key,
                                 struct gw_result *out);
enum pay_outcome payment_refund(struct shop *shop, const char *charge_id, int64_t amount_cents,
                                const char *key, const char *order_ref, struct gw_result *out);
enum pay_outcome payment_void(struct shop *shop, const char *charge_id, const char *key,
                              struct gw_result *out);
enum pay_outcome payment_status(struct shop *shop, const char *key, struct gw_result *out);

/** Store credit. store_credit_balance is SHOP_OK with the balance, or
 *  SHOP_INTERNAL when it could not be read (never a balance of 0 then).
 *  store_credit_add appends an entry inside a write; a debit (amount < 0)
 *  larger than the balance is SHOP_CONFLICT and changes nothing. */
enum shop_err store_credit_balance(struct db *db, int64_t user_id, int64_t *balance,
                                   struct problem *pb);
enum shop_err store_credit_add(struct db *db, int64_t user_id, int64_t amount_cents,
                               const char *currency, const char *reason, int64_t order_id,
                               struct problem *pb);
enum shop_err store_credit_get(struct shop *shop, int64_t user_id, json_t **out,
                               struct problem *pb);
enum shop_err store_credit_grant(struct shop *shop, int64_t user_id, int64_t amount_cents,
                                 const char *reason, json_t **out, struct problem *pb);

/** Breaker state and call counts for /metrics. */
void payments_render_metrics(struct payments *p, struct buf *out);

#endif
