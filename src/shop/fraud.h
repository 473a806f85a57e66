/* fraud.h — fraud rules for checkout and the review of held orders (CHK-5).
 *
 * Every checkout is scored inside the checkout saga's begin step (shop/
 * checkout.c), in its write transaction, after the lines are reserved and
 * before the card is charged — no extra round trip to the writer. The rules
 * (thresholds and points are configuration, shop/config.h, SHOPD_FRAUD_*):
 *
 *   velocity_user           the user placed ≥ USER_ORDERS orders in the window
 *   velocity_card           the card (its gateway token) paid ≥ CARD_ORDERS
 *   velocity_ip             the client address placed ≥ IP_ORDERS
 *   new_account_high_value  the account is younger than NEW_ACCOUNT_HOURS and
 *                           the order's total is ≥ HIGH_VALUE_CENTS
 *   country_mismatch        the card's billing country (given when it was
 *                           added) differs from the shipping country
 *   repeated_declines       ≥ DECLINES declined card payments by the user, or
 *                           by the card, in the window
 *
 * A count threshold N lets N through and fires on the next; 0 turns a rule
 * off. The score is the sum of the fired rules' points; score ≥ REJECT_SCORE
 * rejects, ≥ HOLD_SCORE holds, anything less approves. fraud_score() is the
 * whole decision and is pure (facts in, verdict out: tests/unit/test_fraud.c).
 *
 * Cheap by construction: the facts are five counts and one primary-key read,
 * each count a range of an index ((user_id, id), (card_token, created_at),
 * (client_ip, created_at), fraud_declines (user_id, at) and (card_token, at))
 * read at most N rows deep (`LIMIT N` under the count: a buyer with ten
 * thousand orders costs what one with N does). A rule that is off costs no
 * query. The client address is the peer's, or the X-Forwarded-For address
 * the trusted proxies (SHOPD_TRUSTED_PROXIES) vouch for (http/clientip.h).
 *
 * Outcomes:
 *   approve  the saga goes on as before (authorize and capture → paid).
 *   hold     the card is authorized but not captured; the order becomes
 *            on_hold (201 with status "on_hold"); its stock stays reserved
 *            and its reservations do not expire while it is held
 *            (expires_at moves to "never"); the cart is emptied as for a
 *            paid order. An admin decides:
 *              approve: on_hold → paid — captures the authorization, consumes
 *                the reservations, order.confirmed;
 *              reject:  on_hold → cancelled — voids the authorization,
 *                releases the stock, returns store credit, order.cancelled.
 *   reject   nothing is charged and nothing reserved: the order and its
 *            reservations are rolled back inside the begin transaction (the
 *            reservation is still tried first, so a short line answers 409 as
 *            CHK-1 orders the steps), and the Idempotency-Key's stored answer
 *            is the 422 …/order-rejected. The problem does not say which
 *            rules fired (that would teach a fraudster the thresholds); the
 *            log does (checkout.rejected).
 *
 * The verdict (decision, score, reasons) is stored with the order. Admins see
 * it as the order's `fraud` member; a customer sees the status (on_hold) and
 * nothing of the score or the reasons, for the same reason as above.
 *
 * Review state machine of a held order (orders.fraud_review, then the
 * status; each step is one write, conditional on the one before):
 *
 *     on_hold, review NULL ──claim(approved)──► on_hold, approved ──capture──► paid
 *                         ├──claim(rejected)──► on_hold, rejected ──void─────► cancelled
 *                         └──claim(withdrawn)─► on_hold, withdrawn ─void─────► cancelled
 *
 * "withdrawn" is the customer's: ORD-3 lets them cancel an order that has
 * not shipped, and a held one has not (POST /v1/orders/{id}/cancel, the
 * whole order; order_cancel.c routes it here). It settles as a rejection
 * does, with cancel_reason "cancelled_by_customer".
 *
 * The claim makes the decisions exclusive (the second is 409) and makes
 * a decision repeatable: a retried approve (the admin's browser, a crash
 * between the gateway call and the last write) claims again, captures again
 * with the same idempotency key ("<payment key>-capture": the gateway moves
 * a charge to captured once; a second capture of it is a no-op) and finishes;
 * an approve of an order already paid by approval answers the order as it
 * is. Never two captures, never a capture after a void.
 *
 * Reconciliation (checkout.c) never treats a held order as stuck: it only
 * looks at pending_payment orders; and a pending_payment order whose verdict
 * was hold and whose authorization's outcome was unknown is settled to
 * on_hold, never captured.
 */
#ifndef SHOP_SHOP_FRAUD_H
#define SHOP_SHOP_FRAUD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct db;
struct shop;
struct shop_config;

enum fraud_decision { FRAUD_APPROVE, FRAUD_HOLD, FRAUD_REJECT };

enum fraud_rule {
    FRAUD_VELOCITY_USER,
    FRAUD_VELOCITY_CARD,
    FRAUD_VELOCITY_IP,
    FRAUD_NEW_ACCOUNT_HIGH_VALUE,
    FRAUD_COUNTRY_MISMATCH,
    FRAUD_REPEATED_DECLINES,
    FRAUD_RULE_COUNT
};

/** Thresholds and points (from shop_config; see config.h for each). */
struct fraud_rules {
    bool enabled;
    int64_t window_ms;
    int user_orders, card_orders, ip_orders, declines; /* 0: rule off */
    int64_t new_account_ms, high_value_cents;
    int points[FRAUD_RULE_COUNT];
    int hold_score, reject_score;
};

/** What the rules look at. Counts are within the window and capped at the
 *  rule's threshold (that is all a rule needs to know). */
struct fraud_facts {
    int64_t user_orders, card_orders, ip_orders;
    int64_t user_declines, card_declines;
    int64_t account_age_ms;
    int64_t total_cents;
    char billing_country[3]; /* "" when the card has none */
    char ship_country[3];
};

struct fraud_verdict {
    enum fraud_decision decision;
    int score;
    unsigned reasons; /* bit (1u << enum fraud_rule) per rule that fired */
};

void fraud_rules_from_config(const struct shop_config *cfg, struct fraud_rules *out);

/** The decision: pure, no I/O. */
void fraud_score(const struct fraud_rules *r, const struct fraud_facts *f,
                 struct fraud_verdict *out);

const char *fraud_rule_name(enum fraud_rule rule);
const char *fraud_decision_name(enum fraud_decision d);

/** The reasons as a JSON array of rule names (["velocity_ip", …]) in `out`
 *  (FRAUD_REASONS_MAX bytes hold every rule). */
#define FRAUD_REASONS_MAX 192
void fraud_reasons_text(unsigned reasons, char out[FRAUD_REASONS_MAX]);

/** Inside a write, before fraud_facts_read: makes checkouts with the same
 *  card score one at a time while the card rule is on (shop/keylock.h). On
 *  PostgreSQL writers side by side would each count only the orders
 *  committed before them and all pass a limit. A card is rarely in two
 *  checkouts at once, so it is locked before its count is read, saving a
 *  second read. The user's count needs no lock of its own: checkout_begin
 *  already holds one per customer for the whole write. Nothing to do where
 *  writes run alone (SQLite). */
enum shop_err fraud_lock_card(struct db *db, const struct fraud_rules *r, const char *card_token,
                              struct problem *pb);

/** Inside a write, after fraud_facts_read: the same for checkouts from one
 *  address, while its count is below its limit. An address many customers
 *  share (an office, a carrier's NAT) would make every checkout wait for
 *  the one before if it were locked first; a count that has reached its
 *  limit needs no lock (more orders cannot un-reach it). *locked says
 *  whether it took the lock: then the facts must be read again. */
enum shop_err fraud_lock_address(struct db *db, const struct fraud_rules *r,
                                 const struct fraud_facts *f, const char *ip, bool *locked,
                                 struct problem *pb);

/** Inside a transaction: reads the facts for a checkout by `user_id` paying
 *  with `card_token` (NULL: no card) from `ip` (NULL: unknown), at `now`,
 *  for an order of `total_cents` shipping to `ship_country`, the card billed
 *  in `billing_country` ("" or NULL: unknown). Only the rules that are on
 *  cost a query. False when a statement failed. */
bool fraud_facts_read(struct db *db, const struct fraud_rules *r, int64_t user_id,
                      const char *card_token, const char *ip, int64_t now, struct fraud_facts *out);

/** Inside a write: records a declined card payment for the declines rule. */
enum shop_err fraud_decline_record(struct db *db, int64_t user_id, const char *card_token,
                                   const char *code, int64_t now, struct problem *pb);

/** Adds `fraud: {decision, score, reasons, review}` to an order's tree when
 *  it was scored (the admin's view). Inside a transaction. */
void fraud_attach(struct db *db, int64_t order_id, json_t *order);

/** Admin: orders on hold, oldest first: {data: [order with fraud], next_cursor}. */
enum shop_err fraud_holds(struct shop *shop, int limit, const char *cursor, json_t **out,
                          struct problem *pb);

/** Admin: decides a held order (see the review state machine above). On
 *  success *out is the order (with fraud). SHOP_CONFLICT when the order is
 *  not on hold (or the other decision was taken), SHOP_NOT_FOUND when
 *  absent, SHOP_UNAVAILABLE when the gateway could not be reached (nothing
 *  changed but the claim; the same decision may be retried). */
enum shop_err fraud_approve(struct shop *shop, int64_t order_id, json_t **out, struct problem *pb);
enum shop_err fraud_reject(struct shop *shop, int64_t order_id, json_t **out, struct problem *pb);

/** The customer cancels their held order (the caller has checked it is
 *  theirs): as fraud_reject, recorded as withdrawn. */
enum shop_err fraud_withdraw(struct shop *shop, int64_t order_id, struct problem *pb);

#endif
