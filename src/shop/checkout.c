/* checkout.c — the checkout saga (CHK-1) and payment reconciliation.
 *
 * A checkout is three steps around one slow outside call, each step one
 * write transaction (so each is atomic and durable, and concurrent
 * checkouts share commits):
 *
 *   1. begin   claim the Idempotency-Key; read the cart; price it
 *              (promotions as the cart shows them — shop/promo.h —,
 *              shipping, tax); check the tenders (stored cards must exist and not have
 *              expired — refused before any gateway call; store credit must
 *              cover its part); create the order (pending_payment) with line
 *              snapshots; record promotion uses (409 naming one whose
 *              limit was reached); reserve every line (all or nothing: 409
 *              listing each short line); the fraud check (fraud.h: facts read
 *              in this transaction, verdict stored with the order; reject →
 *              all of the above rolled back, the key's answer the 422);
 *              debit store credit; lock the cart.
 *              Any failure here changes nothing at all.
 *   2. pay     charge the card through the gateway (payment.c: retries,
 *              backoff, breaker) with the idempotency key "order-<id>-card";
 *              a held order's card is only authorized.
 *   3. settle  captured → complete: payment captured, order paid,
 *              reservations consumed, cart lines removed, the key's stored
 *              answer is the order (201), order.confirmed.
 *              declined → fail: reservations released, promotion uses and
 *              store credit returned, the order deleted (no half order), the key's
 *              stored answer is the 402.
 *              unavailable (retries exhausted, breaker open) → fail as
 *              above but the key is forgotten, so the same key may be
 *              retried later (503).
 *              held (verdict hold, authorized) → on_hold: reservations
 *              kept until an admin decides (fraud.h), cart emptied, the
 *              key's answer the order (201, status on_hold).
 *              timeout → the payment is "unknown"; the order stays
 *              pending_payment with its stock reserved, and the request
 *              answers 201 with that order, which is also the key's stored
 *              answer (a replay gets this first response; GET
 *              /v1/orders/{id} shows how it settled). Reconciliation
 *              settles it.
 *
 * States of a card payment row:
 *     pending ──authorized (held)──► authorized ──approve──► captured
 *        │                               └──reject──► voided
 *     pending ──captured──► captured
 *        │  └──declined/unavailable──► (order deleted with it)
 *        └──timeout──► unknown ──reconcile──► captured | failed
 *
 * Invariants:
 *  - A 2xx is sent only after the step that produced it has committed.
 *  - Every order in pending_payment has exactly its lines reserved, and
 *    either a card payment in pending/unknown or none (store credit only).
 *  - The gateway is charged at most once per order: every attempt, retry
 *    and reconciliation uses the same key, and complete/fail are
 *    conditional on the order still being pending_payment — if
 *    reconciliation cancelled it first, a late capture is voided.
 *  - Idempotency-Key (per user): a second request with the same key gets
 *    409 while the first runs, 422 when its body differs, else the stored
 *    answer with Idempotent-Replayed.
 *
 * Files: this one has the request, the saga (place) and reconciliation;
 * checkout_begin.c step 1, checkout_settle.c step 3, checkout_steps.h what
 * they share.
 *
 * Reconciliation (checkout_reconcile, run by housekeeping) picks card
 * payments that are unknown, or pending past their deadline, or pending
 * under a process instance that is not this one (it died), asks the
 * gateway for the charge made with the key, and completes or cancels the
 * order. A cancelled order stays visible (the client may have its 201).
 */
#include "shop/checkout.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recs/recs.h"
#include "shop/address.h"
#include "shop/cart.h"
#include "shop/checkout_steps.h"
#include "shop/fraud.h"
#include "shop/order.h"
#include "shop/payment.h"
#include "shop/pricing.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/log.h"

/* ---- the request ---------------------------------------------------------------- */

static enum shop_err read_request(json_t *body, struct arena *a, struct checkout_in *in,
                                  struct problem *pb)
{
    memset(in, 0, sizeof *in);
    json_t *inline_addr = NULL;
    bool has_id =
        jx_int(body, "shipping_address_id", NULL, JX_OPTIONAL, 1, INT64_MAX, &in->address_id, pb);
    bool has_inline = jx_object(body, "shipping_address", NULL, JX_OPTIONAL, 16, &inline_addr, pb);
    if (has_id && has_inline)
        problem_field(pb, SHOP_INVALID, "shipping_address",
                      "give shipping_address_id or shipping_address, not both");
    else if (!has_id && !has_inline && !pb->err)
        problem_field(pb, SHOP_INVALID, "shipping_address_id",
                      "is required (or an inline shipping_address)");
    if (has_inline) {
        struct problem apb = {0};
        if (address_from_json(inline_addr, false, a, &in->addr, &apb) != SHOP_OK)
            for (int i = 0; i < apb.nfields; i++)
                problem_field(pb, SHOP_INVALID,
                              arena_printf(a, "shipping_address.%s", apb.fields[i].field), "%s",
                              apb.fields[i].message);
        problem_clear(&apb);
    }
    const char *method = "standard";
    jx_str(body, "shipping_method", NULL, JX_OPTIONAL, 1, 16, &method, pb);
    in->method = pricing_method_parse(method);
    if (in->method == SHIP_METHOD_COUNT)
        problem_field(pb, SHOP_INVALID, "shipping_method", "must be standard or express");

    json_t *pays;
    if (!jx_array(body, "payments", NULL, JX_REQUIRED, TENDERS_MAX, &pays, pb))
        return pb->err;
    if (json_array_size(pays) == 0)
        return problem_field(pb, SHOP_INVALID, "payments", "needs at least one tender");
    int cards = 0, credits = 0, open = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pays, i, p)
    {
        struct tender_in *t = &in->tenders[in->ntenders++];
        char f[32];
        snprintf(f, sizeof f, "payments[%zu]", i);
        if (!json_is_object(p)) {
            problem_field(pb, SHOP_INVALID, f, "must be an object");
            continue;
        }
        bool sc = false;
        char fm[80], fs[80], fa[80];
        snprintf(fm, sizeof fm, "%s.payment_method_id", f);
        snprintf(fs, sizeof fs, "%s.store_credit", f);
        snprintf(fa, sizeof fa, "%s.amount_cents", f);
        bool has_method =
            jx_int(p, "payment_method_id", fm, JX_OPTIONAL, 1, INT64_MAX, &t->method_id, pb);
        jx_bool(p, "store_credit", fs, JX_OPTIONAL, &sc, pb);
        t->store_credit = sc;
        t->has_amount =
            jx_int(p, "amount_cents", fa, JX_OPTIONAL, 1, 10000000000LL, &t->amount, pb);
        if (has_method == sc)
            problem_field(pb, SHOP_INVALID, fm, "give payment_method_id or store_credit: true");
        cards += has_method;
        credits += sc;
        open += !t->has_amount;
    }
    if (cards > 1)
        problem_field(pb, SHOP_INVALID, "payments", "at most one card per order");
    if (credits > 1)
        problem_field(pb, SHOP_INVALID, "payments", "store credit appears once");
    if (open > 1)
        problem_field(pb, SHOP_INVALID, "payments", "only one tender may omit amount_cents");
    return pb->err;
}

/* A digest of the request in canonical form (sorted keys): the same request
 * with other whitespace or key order is the same request. */
static void request_hash(json_t *body, char out[65])
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)(text ? text : ""),
                       text ? strlen(text) : 0, NULL, 0);
    free(text);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* ---- the saga ---------------------------------------------------------------------- */

/* The order document as committed, read on this thread's connection. */
static char *render_order(struct shop *shop, int64_t order_id, size_t *len)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    char *text = order_text(db, order_id, len);
    db_read_end(db);
    return text;
}

static const char *decline_detail(const char *code)
{
    if (!strcmp(code, "insufficient_funds"))
        return "the card has insufficient funds";
    if (!strcmp(code, "expired_card"))
        return "the card has expired";
    if (!strcmp(code, "incorrect_cvc"))
        return "the card's security code is incorrect";
    return "the card was declined";
}

/* Settles a failed attempt whose order nobody holds yet. Returns the error
 * for the client, with `pb` describing it. */
static enum shop_err settle_failure(struct shop *shop, struct settle_job *sj, enum shop_err err,
                                    const char *code, struct problem *pb)
{
    sj->err = err;
    sj->code = code;
    sj->detail = err == SHOP_PAYMENT ? decline_detail(code)
                                     : "the payment gateway is unavailable; try again shortly";
    sj->forget_key = err != SHOP_PAYMENT;
    struct problem wpb = {0};
    if (store_write(shop->store, checkout_fail_write, sj, &wpb) != SHOP_OK) {
        /* Reconciliation will settle it; the answer stays "try again". */
        log_event(LOG_ERROR, "checkout.fail", "{s:I, s:s}", "order", (json_int_t)sj->order_id,
                  "detail", wpb.detail);
        problem_clear(&wpb);
    }
    problem_extra(pb, "code", json_string(code));
    if (err == SHOP_UNAVAILABLE)
        pb->retry_after = 5;
    return problem_set(pb, err, "%s", sj->detail);
}

/* The cart's new prices count as shown: the 409 that named the promotion
 * told the shopper (promo.h, Limits). */
struct shown_job {
    int64_t cart_id, now;
};

static enum shop_err prices_shown_write(struct db *db, void *arg, struct problem *pb)
{
    struct shown_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE carts SET updated_at = ? WHERE id = ?"
                                     " AND updated_at < ?");
    if (!st)
        return db_fail(db, pb, "marking the cart's prices as shown");
    stmt_bind_i64(st, 1, j->now);
    stmt_bind_i64(st, 2, j->cart_id);
    stmt_bind_i64(st, 3, j->now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK
                                      : db_fail(db, pb, "marking the cart's prices as shown");
}

/* The saga, with `a` for what the request and begin allocate (the placed
 * order's strings live there until its answer is rendered). */
static enum shop_err saga(struct shop *shop, const struct principal *who, const char *key,
                          json_t *body, const struct flash_req *flash, struct arena *a,
                          struct checkout_result *out, struct problem *pb)
{
    memset(out, 0, sizeof *out);
    struct checkout_in in;
    char hash[65];
    enum shop_err e = read_request(body, a, &in, pb);
    if (e != SHOP_OK)
        return e;
    request_hash(body, hash);
    struct begin_job j = {.shop = shop,
                          .who = who,
                          .key = key,
                          .hash = hash,
                          .in = &in,
                          .a = a,
                          .flash = flash,
                          .now = clock_now_ms()};
    e = store_write(shop->store, checkout_begin_write, &j, pb);
    if (e != SHOP_OK) {
        free(j.replay_body); /* a run that found it may have been rolled back */
        if (e == SHOP_CONFLICT && j.promo_refused_cart) {
            /* If this fails the next checkout answers the same 409 again. */
            struct shown_job sj = {j.promo_refused_cart, clock_now_ms()};
            struct problem spb = {0};
            if (store_write(shop->store, prices_shown_write, &sj, &spb) != SHOP_OK)
                log_event(LOG_WARN, "checkout.prices_shown_failed", "{s:s}", "detail", spb.detail);
            problem_clear(&spb);
        }
        return e;
    }

    if (j.replay) {
        out->replayed = true;
        if (j.replay_outcome == SHOP_OK) {
            /* The first request created this order: answer as it did (an
             * answer not stored — an order whose payment's outcome was not
             * known, settled by reconciliation before its answer could be
             * stored — is the order as it is now). */
            out->order_id = j.replay_order;
            if (*j.replay_body) {
                out->order = j.replay_body;
                out->order_len = strlen(j.replay_body);
                return SHOP_OK;
            }
            free(j.replay_body);
            out->order = render_order(shop, j.replay_order, &out->order_len);
            return out->order ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "the order vanished");
        }
        json_t *stored = json_loads(j.replay_body, 0, NULL);
        free(j.replay_body);
        const char *code = json_string_value(json_object_get(stored, "code"));
        if (code)
            problem_extra(pb, "code", json_string(code));
        problem_set(pb, (enum shop_err)j.replay_outcome, "%s",
                    json_string_value(json_object_get(stored, "detail"))
                        ? json_string_value(json_object_get(stored, "detail"))
                        : "the first request with this key failed");
        json_decref(stored);
        return pb->err;
    }

    if (j.rejected) {
        char reasons[FRAUD_REASONS_MAX];
        fraud_reasons_text(j.verdict.reasons, reasons);
        log_event(LOG_INFO, "checkout.rejected", "{s:I, s:i, s:s, s:s}", "user",
                  (json_int_t)who->user_id, "score", j.verdict.score, "reasons", reasons, "ip",
                  who->ip ? who->ip : "");
        problem_extra(pb, "code", json_string("order_rejected"));
        return problem_set(pb, SHOP_REJECTED, CHECKOUT_REJECTED_DETAIL);
    }

    /* A held order's card is authorized only: an admin decides (fraud.h). */
    bool hold = j.verdict.decision == FRAUD_HOLD;
    struct settle_job sj = {.order_id = j.order_id,
                            .payment_id = j.card_payment_id,
                            .card_token = j.card_token,
                            .head = &j.head,
                            .cart_id = j.cart_id,
                            .placed = &j.placed,
                            .reserved = &j.reserved};
    enum pay_outcome pay = PAY_OK;
    struct gw_result r = {0};
    if (j.card_payment_id) {
        char ref[32];
        snprintf(ref, sizeof ref, "order-%lld", (long long)j.order_id);
        pay = hold ? payment_authorize(shop, j.card_token, j.card_amount, j.currency, j.card_key,
                                       ref, &r)
                   : payment_charge(shop, j.card_token, j.card_amount, j.currency, j.card_key, ref,
                                    &r);
    }
    switch (pay) {
    case PAY_OK:
        snprintf(sj.charge_id, sizeof sj.charge_id, "%s", r.id);
        e = store_write(shop->store, hold ? checkout_hold_write : checkout_complete_write, &sj, pb);
        if (e == SHOP_CONFLICT && j.card_payment_id) {
            /* Reconciliation cancelled the order first: give the money back. */
            struct gw_result vr;
            char vkey[80];
            snprintf(vkey, sizeof vkey, "%s-void", j.card_key);
            payment_void(shop, r.id, vkey, &vr);
        }
        break;
    case PAY_DECLINED:
        e = settle_failure(shop, &sj, SHOP_PAYMENT, r.code[0] ? r.code : "card_declined", pb);
        break;
    case PAY_UNAVAILABLE:
    case PAY_NOT_FOUND:
        e = settle_failure(shop, &sj, SHOP_UNAVAILABLE, r.code[0] ? r.code : "processing_error",
                           pb);
        break;
    case PAY_UNKNOWN: {
        /* Leave it to reconciliation; the client gets the pending order,
         * and so does a replay of the key (SPEC §0: the first response). */
        struct unknown_job uj = {.payment_id = j.card_payment_id,
                                 .order_id = j.order_id,
                                 .head = &j.head,
                                 .placed = &j.placed};
        struct problem upb = {0};
        if (store_write(shop->store, checkout_unknown_write, &uj, &upb) == SHOP_OK) {
            sj.order = uj.order;
            sj.order_len = uj.order_len;
        } else { /* the key stays in progress until reconciliation settles it */
            free(uj.order);
            sj.order = render_order(shop, j.order_id, &sj.order_len);
        }
        problem_clear(&upb);
        e = sj.order ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "the order vanished");
        break;
    }
    }
    checkout_products_changed(shop, j.products, j.nproducts);
    if (e == SHOP_OK && pay == PAY_OK && !hold)
        recs_bought(shop->recs, recs_user_key(who->user_id, 0), j.products, j.nproducts);
    if (e == SHOP_OK) {
        out->order = sj.order;
        out->order_len = sj.order_len;
        out->order_id = j.order_id;
    } else {
        free(sj.order);
    }
    return e;
}

static enum shop_err place(struct shop *shop, const struct principal *who, const char *key,
                           json_t *body, const struct flash_req *flash, struct checkout_result *out,
                           struct problem *pb)
{
    struct arena *a = arena_new();
    enum shop_err e = saga(shop, who, key, body, flash, a, out, pb);
    arena_free(a);
    return e;
}

enum shop_err checkout_place(struct shop *shop, const struct principal *who, const char *key,
                             json_t *body, struct checkout_result *out, struct problem *pb)
{
    return place(shop, who, key, body, NULL, out, pb);
}

enum shop_err checkout_place_flash(struct shop *shop, const struct principal *who, const char *key,
                                   json_t *body, int64_t sale_id, const char *token,
                                   int64_t quantity, struct checkout_result *out,
                                   struct problem *pb)
{
    struct flash_req f = {.sale_id = sale_id, .quantity = quantity, .token = token};
    return place(shop, who, key, body, &f, out, pb);
}

/* ---- reconciliation ------------------------------------------------------------------ */

struct pending {
    int64_t order_id, payment_id;
    char key[64];
    bool hold; /* its verdict was hold: an authorization, settled to on_hold */
};

/* Settles one pending order by asking the gateway what happened. */
static bool settle_order(struct shop *shop, const struct pending *p)
{
    struct settle_job sj = {.order_id = p->order_id, .payment_id = p->payment_id};
    struct gw_result r;
    enum pay_outcome pay = p->payment_id ? payment_status(shop, p->key, &r) : PAY_OK;
    struct problem pb = {0};
    enum shop_err e;
    if (pay == PAY_OK) {
        snprintf(sj.charge_id, sizeof sj.charge_id, "%s", p->payment_id ? r.id : "");
        e = store_write(shop->store, p->hold ? checkout_hold_write : checkout_complete_write, &sj,
                        &pb);
    } else if (pay == PAY_NOT_FOUND || pay == PAY_DECLINED) {
        sj.cancel_reason = "payment_not_captured";
        sj.code = pay == PAY_DECLINED && r.code[0] ? r.code : "not_captured";
        e = store_write(shop->store, checkout_fail_write, &sj, &pb);
    } else {
        return false; /* the gateway cannot say now; try again later */
    }
    free(sj.order);
    if (e != SHOP_OK)
        log_event(LOG_WARN, "reconcile.failed", "{s:I, s:s}", "order", (json_int_t)p->order_id,
                  "detail", pb.detail);
    problem_clear(&pb);
    int64_t ids[CART_LINES_MAX];
    struct db *db = store_db(shop->store);
    int n = order_products(db, p->order_id, ids, CART_LINES_MAX);
    db_release(db);
    checkout_products_changed(shop, ids, n);
    log_event(LOG_INFO, "reconcile.settled", "{s:I, s:s}", "order", (json_int_t)p->order_id,
              "outcome",
              pay != PAY_OK ? "cancelled"
              : p->hold     ? "on_hold"
                            : "captured");
    return e == SHOP_OK;
}

enum shop_err checkout_reconcile(struct shop *shop, int *settled, struct problem *pb)
{
    struct pending list[64];
    int n = 0;
    int64_t now = clock_now_ms();
    struct db *db = store_db(shop->store);
    /* Card payments the saga gave up on, or whose process is gone (another
     * process's saga is left alone while that process beats: work/leases.h);
     * and orders without a card whose saga never finished. */
    struct stmt *st = db_prepare(
        db, "SELECT o.id, coalesce(p.id, 0), coalesce(p.idempotency_key, ''),"
            " coalesce(o.fraud_decision, '') FROM orders o"
            " LEFT JOIN payments p ON p.order_id = o.id AND p.tender = 'card'"
            " WHERE o.status = 'pending_payment' AND (p.status = 'unknown'"
            "  OR (p.status = 'pending' AND (p.deadline_at < ?1 OR (p.owner_instance <> ?2"
            "   AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = p.owner_instance"
            "   AND i.heartbeat_at >= ?4))))"
            "  OR (p.id IS NULL AND (o.created_at < ?1 - ?3 OR EXISTS (SELECT 1 FROM reservations"
            "   r WHERE r.order_id = o.id AND r.status = 'active' AND r.expires_at < ?1))))"
            " ORDER BY o.id LIMIT 64");
    if (!st)
        return db_fail(db, pb, "finding payments to reconcile");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, shop->instance_id);
    stmt_bind_i64(st, 3, shop->cfg.payment_deadline_ms);
    stmt_bind_i64(st, 4, now - shop->cfg.lease_ms);
    while (n < 64 && stmt_step(st) == STMT_ROW) {
        list[n].order_id = stmt_i64(st, 0);
        list[n].payment_id = stmt_i64(st, 1);
        snprintf(list[n].key, sizeof list[n].key, "%s", stmt_text(st, 2));
        list[n].hold = !strcmp(stmt_text(st, 3), "hold");
        n++;
    }
    db_release(db);
    int done = 0;
    for (int i = 0; i < n; i++)
        done += settle_order(shop, &list[i]);
    if (settled)
        *settled = done;
    return SHOP_OK;
}

struct purge_job {
    int64_t before, deleted;
};

static enum shop_err purge_keys_write(struct db *db, void *arg, struct problem *pb)
{
    struct purge_job *j = arg;
    j->deleted = 0;
    struct stmt *st = db_prepare(db, "DELETE FROM idempotency_keys WHERE created_at < ? AND"
                                     " status = 'done'");
    if (!st)
        return db_fail(db, pb, "purging idempotency keys");
    stmt_bind_i64(st, 1, j->before);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "purging idempotency keys");
    j->deleted = db_changes(db);
    return SHOP_OK;
}

enum shop_err checkout_purge_keys(struct shop *shop, int64_t *deleted, struct problem *pb)
{
    struct purge_job j = {.before = clock_now_ms() - shop->cfg.idempotency_ttl_ms};
    enum shop_err e = store_write(shop->store, purge_keys_write, &j, pb);
    if (deleted)
        *deleted = j.deleted;
    return e;
}
