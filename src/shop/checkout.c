/* checkout.c — the checkout saga (CHK-1) and payment reconciliation.
 *
 * A checkout is three steps around one slow outside call, each step one
 * write transaction (so each is atomic and durable, and concurrent
 * checkouts share commits):
 *
 *   1. begin   claim the Idempotency-Key; read the cart; price it (shipping,
 *              tax); check the tenders (stored cards must exist and not have
 *              expired — refused before any gateway call; store credit must
 *              cover its part); create the order (pending_payment) with line
 *              snapshots; reserve every line (all or nothing: 409 listing
 *              each short line); debit store credit; lock the cart.
 *              Any failure here changes nothing at all.
 *   2. pay     charge the card through the gateway (payment.c: retries,
 *              backoff, breaker) with the idempotency key "order-<id>-card".
 *   3. settle  captured → complete: payment captured, order paid,
 *              reservations consumed, cart lines removed, the key's stored
 *              answer is the order (201), order.confirmed.
 *              declined → fail: reservations released, store credit
 *              returned, the order deleted (no half order), the key's
 *              stored answer is the 402.
 *              unavailable (retries exhausted, breaker open) → fail as
 *              above but the key is forgotten, so the same key may be
 *              retried later (503).
 *              timeout → the payment is "unknown"; the order stays
 *              pending_payment with its stock reserved, and the request
 *              answers 201 with that order. Reconciliation settles it.
 *
 * States of a card payment row:
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

#include "shop/address.h"
#include "shop/cart.h"
#include "shop/catalog.h"
#include "shop/changes.h"
#include "shop/flashsale.h"
#include "shop/order.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/pricing.h"
#include "shop/reservation.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/log.h"
#include "util/token.h"
#include "util/xalloc.h"

#define TENDERS_MAX 3

/* ---- the request ---------------------------------------------------------------- */

struct tender_in {
    bool store_credit;
    int64_t method_id;
    int64_t amount;
    bool has_amount;
};

struct checkout_in {
    int64_t address_id;
    struct address addr; /* inline address, when no id */
    enum ship_method method;
    struct tender_in tenders[TENDERS_MAX];
    int ntenders;
};

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

/* ---- step 1: begin ------------------------------------------------------------- */

struct line {
    int64_t variant_id, product_id, quantity, price, weight, tax;
    const char *sku, *title, *options; /* in the job's arena */
    bool for_sale;
};

/* A flash-sale purchase instead of the cart. */
struct flash_req {
    int64_t sale_id, quantity;
    const char *token;
};

struct begin_job {
    struct shop *shop;
    const struct principal *who;
    const char *key, *hash;
    struct checkout_in *in;
    const struct flash_req *flash; /* NULL: the cart */
    struct arena *a;
    int64_t now;
    /* out */
    bool replay;
    int replay_outcome;
    int64_t replay_order; /* the order of a replayed success */
    char *replay_body;    /* malloc'd: the problem of a replayed failure */
    int64_t order_id, card_payment_id, card_amount;
    char card_token[64], card_key[64], currency[4];
    int64_t products[CART_LINES_MAX]; /* whose stock the order moved */
    int nproducts;
};

/* Looks the key up. Returns SHOP_OK with j->replay when there is a stored
 * answer, SHOP_OK when the key is new, or the conflict. */
static enum shop_err check_key(struct db *db, struct begin_job *j, bool *seen, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT request_hash, status, coalesce(outcome, 0),"
                                     " coalesce(response_body, ''), coalesce(order_id, 0)"
                                     " FROM idempotency_keys WHERE user_id = ? AND key = ?");
    if (!st)
        return db_fail(db, pb, "reading the idempotency key");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->key);
    *seen = stmt_step(st) == STMT_ROW;
    if (!*seen)
        return SHOP_OK;
    if (strcmp(stmt_text(st, 0), j->hash) != 0)
        return problem_field(pb, SHOP_INVALID, "Idempotency-Key",
                             "was already used with a different request");
    if (!strcmp(stmt_text(st, 1), "in_progress"))
        return problem_set(pb, SHOP_CONFLICT,
                           "a request with this Idempotency-Key is still being processed");
    j->replay = true;
    j->replay_outcome = (int)stmt_i64(st, 2);
    j->replay_body = xstrdup(stmt_text(st, 3));
    j->replay_order = stmt_i64(st, 4);
    return SHOP_OK;
}

static enum shop_err read_lines(struct db *db, struct arena *a, int64_t cart, struct line *lines,
                                int *n, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT l.variant_id, v.product_id, l.quantity, v.price_cents,"
                                     " v.weight_grams, v.sku, p.title, v.options, p.status"
                                     " FROM cart_lines l JOIN variants v ON v.id = l.variant_id"
                                     " JOIN products p ON p.id = v.product_id"
                                     " WHERE l.cart_id = ? AND l.saved_for_later = 0 ORDER BY l.id"
                                     " LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading the cart");
    stmt_bind_i64(st, 1, cart);
    stmt_bind_i64(st, 2, CART_LINES_MAX);
    *n = 0;
    while (stmt_step(st) == STMT_ROW) {
        struct line *l = &lines[(*n)++];
        l->variant_id = stmt_i64(st, 0);
        l->product_id = stmt_i64(st, 1);
        l->quantity = stmt_i64(st, 2);
        l->price = stmt_i64(st, 3);
        l->weight = stmt_i64(st, 4);
        l->sku = arena_strdup(a, stmt_text(st, 5));
        l->title = arena_strdup(a, stmt_text(st, 6));
        l->options = arena_strdup(a, stmt_text(st, 7));
        l->for_sale = !strcmp(stmt_text(st, 8), "published");
    }
    return SHOP_OK;
}

/* Works out how much each tender pays (store credit first). */
static enum shop_err plan_tenders(struct db *db, struct begin_job *j, int64_t total,
                                  struct payment_method *card, int64_t *credit_amount,
                                  int64_t *card_amount, struct problem *pb)
{
    struct checkout_in *in = j->in;
    int64_t fixed = 0;
    int open = -1;
    for (int i = 0; i < in->ntenders; i++) {
        if (in->tenders[i].has_amount)
            fixed += in->tenders[i].amount;
        else
            open = i;
    }
    if (fixed > total || (open < 0 && fixed != total)) {
        problem_extra(pb, "total_cents", json_integer(total));
        return problem_field(pb, SHOP_INVALID, "payments",
                             "the tenders must add up to the total of %lld cents",
                             (long long)total);
    }
    *credit_amount = *card_amount = 0;
    for (int i = 0; i < in->ntenders; i++) {
        struct tender_in *t = &in->tenders[i];
        int64_t amount = t->has_amount ? t->amount : total - fixed;
        char f[64];
        if (t->store_credit) {
            snprintf(f, sizeof f, "payments[%d].store_credit", i);
            if (strcmp(j->currency, j->shop->cfg.currency) != 0)
                return problem_field(pb, SHOP_INVALID, f, "store credit is in %s, the order in %s",
                                     j->shop->cfg.currency, j->currency);
            int64_t balance = store_credit_balance(db, j->who->user_id);
            if (amount > balance) {
                problem_extra(pb, "store_credit_balance_cents", json_integer(balance));
                return problem_field(pb, SHOP_INVALID, f, "the store credit balance is %lld cents",
                                     (long long)balance);
            }
            *credit_amount = amount;
        } else {
            snprintf(f, sizeof f, "payments[%d].payment_method_id", i);
            if (!payment_method_read(db, j->who->user_id, t->method_id, card))
                return problem_field(pb, SHOP_INVALID, f, "no payment method %lld",
                                     (long long)t->method_id);
            if (payment_method_expired(card, j->now))
                return problem_field(pb, SHOP_INVALID, f, "the card expired %02d/%d",
                                     card->exp_month, card->exp_year);
            *card_amount = amount;
        }
    }
    return SHOP_OK;
}

static enum shop_err insert_order(struct db *db, struct begin_job *j, const struct address *ad,
                                  int64_t subtotal, int64_t shipping, int64_t tax, int64_t total,
                                  struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "INSERT INTO orders (user_id, status, currency, subtotal_cents, shipping_cents,"
            " tax_cents, total_cents, shipping_method, ship_name, ship_line1, ship_line2,"
            " ship_city, ship_region, ship_postal, ship_country, ship_phone, idempotency_key,"
            " created_at, updated_at, flash_sale_id) VALUES"
            " (?, 'pending_payment', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the order");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->currency);
    stmt_bind_i64(st, 3, subtotal);
    stmt_bind_i64(st, 4, shipping);
    stmt_bind_i64(st, 5, tax);
    stmt_bind_i64(st, 6, total);
    stmt_bind_text(st, 7, pricing_method_name(j->in->method));
    stmt_bind_text(st, 8, ad->name);
    stmt_bind_text(st, 9, ad->line1);
    stmt_bind_text(st, 10, ad->line2);
    stmt_bind_text(st, 11, ad->city);
    stmt_bind_text(st, 12, ad->region);
    stmt_bind_text(st, 13, ad->postal_code);
    stmt_bind_text(st, 14, ad->country);
    stmt_bind_text(st, 15, ad->phone);
    stmt_bind_text(st, 16, j->key);
    stmt_bind_i64(st, 17, j->now);
    stmt_bind_i64(st, 18, j->now);
    if (j->flash)
        stmt_bind_i64(st, 19, j->flash->sale_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating the order");
    j->order_id = db_last_id(db);
    st = db_prepare(db, "INSERT INTO order_history (order_id, status, at)"
                        " VALUES (?, 'pending_payment', ?)");
    if (!st)
        return db_fail(db, pb, "creating the order");
    stmt_bind_i64(st, 1, j->order_id);
    stmt_bind_i64(st, 2, j->now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "creating the order");
}

static enum shop_err insert_lines(struct db *db, int64_t order_id, const struct line *lines, int n,
                                  struct problem *pb)
{
    for (int i = 0; i < n; i++) {
        struct stmt *st =
            db_prepare(db, "INSERT INTO order_lines (order_id, product_id, variant_id,"
                           " sku, title, options, quantity, unit_price_cents,"
                           " tax_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "creating the order lines");
        stmt_bind_i64(st, 1, order_id);
        stmt_bind_i64(st, 2, lines[i].product_id);
        stmt_bind_i64(st, 3, lines[i].variant_id);
        stmt_bind_text(st, 4, lines[i].sku);
        stmt_bind_text(st, 5, lines[i].title);
        stmt_bind_text(st, 6, lines[i].options);
        stmt_bind_i64(st, 7, lines[i].quantity);
        stmt_bind_i64(st, 8, lines[i].price);
        stmt_bind_i64(st, 9, lines[i].tax);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "creating the order lines");
    }
    return SHOP_OK;
}

static enum shop_err insert_payment(struct db *db, struct begin_job *j, const char *tender,
                                    const struct payment_method *card, int64_t amount,
                                    const char *status, int64_t *id, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO payments (order_id, tender, payment_method_id,"
                                     " brand, last4, amount_cents, currency, status,"
                                     " idempotency_key, owner_instance, deadline_at, created_at,"
                                     " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording the payment");
    /* Unique per attempt for ever: the order id never repeats, and the random
     * part keeps it unique even against a restored backup. */
    char key[64];
    snprintf(key, sizeof key, "order-%lld-%s-%08x", (long long)j->order_id, tender,
             (unsigned)token_rand64());
    stmt_bind_i64(st, 1, j->order_id);
    stmt_bind_text(st, 2, tender);
    if (card) {
        stmt_bind_i64(st, 3, card->id);
        stmt_bind_text(st, 4, card->brand);
        stmt_bind_text(st, 5, card->last4);
    }
    stmt_bind_i64(st, 6, amount);
    stmt_bind_text(st, 7, j->currency);
    stmt_bind_text(st, 8, status);
    stmt_bind_text(st, 9, key);
    stmt_bind_i64(st, 10, j->shop->instance_id);
    stmt_bind_i64(st, 11, j->now + j->shop->cfg.payment_deadline_ms);
    stmt_bind_i64(st, 12, j->now);
    stmt_bind_i64(st, 13, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the payment");
    *id = db_last_id(db);
    if (card) {
        snprintf(j->card_key, sizeof j->card_key, "%s", key);
        snprintf(j->card_token, sizeof j->card_token, "%s", card->token);
    }
    return SHOP_OK;
}

/* The line of a flash-sale purchase, at the sale's price. */
static enum shop_err flash_line(struct db *db, struct arena *a, const struct flash_claim *c,
                                struct line *l, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT v.sku, v.options, v.weight_grams, p.title"
                                     " FROM variants v JOIN products p ON p.id = v.product_id"
                                     " WHERE v.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the variant");
    stmt_bind_i64(st, 1, c->variant_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_CONFLICT, "the sale's item is gone");
    *l = (struct line){.variant_id = c->variant_id,
                       .product_id = c->product_id,
                       .quantity = c->quantity,
                       .price = c->price_cents,
                       .weight = stmt_i64(st, 2),
                       .for_sale = true,
                       .sku = arena_strdup(a, stmt_text(st, 0)),
                       .options = arena_strdup(a, stmt_text(st, 1)),
                       .title = arena_strdup(a, stmt_text(st, 3))};
    return SHOP_OK;
}

static enum shop_err begin_write(struct db *db, void *arg, struct problem *pb)
{
    struct begin_job *j = arg;
    j->replay = false;
    free(j->replay_body);
    j->replay_body = NULL;
    j->order_id = j->card_payment_id = j->card_amount = 0;
    bool seen = false;
    if (check_key(db, j, &seen, pb) != SHOP_OK || seen)
        return pb->err;

    /* The lines: the cart, or the flash sale's one line. */
    struct line *lines = arena_alloc(j->a, sizeof *lines * CART_LINES_MAX);
    int n = 0;
    int64_t cart = 0;
    struct flash_claim claim;
    struct stmt *st;
    if (j->flash) {
        if (flashsale_check(db, j->shop->token_key, j->flash->sale_id, j->who->user_id,
                            j->flash->token, j->flash->quantity, j->now, &claim, pb) != SHOP_OK ||
            flash_line(db, j->a, &claim, &lines[0], pb) != SHOP_OK)
            return pb->err;
        n = 1;
        snprintf(j->currency, sizeof j->currency, "%s", claim.currency);
    } else {
        st = db_prepare(db, "SELECT id, coalesce(checkout_key, ''), coalesce(currency, '')"
                            " FROM carts WHERE user_id = ?");
        if (!st)
            return db_fail(db, pb, "reading the cart");
        stmt_bind_i64(st, 1, j->who->user_id);
        if (stmt_step(st) != STMT_ROW)
            return problem_set(pb, SHOP_INVALID, "your cart is empty");
        cart = stmt_i64(st, 0);
        if (*stmt_text(st, 1))
            return problem_set(pb, SHOP_CONFLICT, "another checkout of this cart is in progress");
        snprintf(j->currency, sizeof j->currency, "%s", stmt_text(st, 2));
        if (read_lines(db, j->a, cart, lines, &n, pb) != SHOP_OK)
            return pb->err;
        if (n == 0)
            return problem_set(pb, SHOP_INVALID, "your cart is empty");
    }

    j->nproducts = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < j->nproducts && j->products[k] != lines[i].product_id)
            k++;
        if (k == j->nproducts)
            j->products[j->nproducts++] = lines[i].product_id;
    }

    /* Where it goes. */
    struct address ad = j->in->addr;
    if (j->in->address_id &&
        address_read(db, j->a, j->who->user_id, j->in->address_id, &ad, pb) != SHOP_OK) {
        problem_clear(pb);
        return problem_field(pb, SHOP_INVALID, "shipping_address_id", "no address %lld",
                             (long long)j->in->address_id);
    }

    /* The price. */
    int64_t subtotal = 0, weight = 0, line_totals[CART_LINES_MAX], taxes[CART_LINES_MAX];
    for (int i = 0; i < n; i++) {
        line_totals[i] = lines[i].price * lines[i].quantity;
        subtotal += line_totals[i];
        weight += lines[i].weight * lines[i].quantity;
    }
    int64_t shipping = pricing_shipping(j->shop->pricing, j->in->method, weight, subtotal);
    int64_t tax =
        pricing_apply_bp(subtotal, pricing_tax_bp(j->shop->pricing, ad.country, ad.region));
    pricing_allocate(tax, line_totals, n, taxes);
    for (int i = 0; i < n; i++)
        lines[i].tax = taxes[i];
    int64_t total = subtotal + shipping + tax;

    /* The tenders — before anything is written. */
    struct payment_method card = {0};
    int64_t credit_amount = 0, card_amount = 0;
    if (plan_tenders(db, j, total, &card, &credit_amount, &card_amount, pb) != SHOP_OK)
        return pb->err;

    /* The order, its lines, its reservations. */
    if (insert_order(db, j, &ad, subtotal, shipping, tax, total, pb) != SHOP_OK ||
        insert_lines(db, j->order_id, lines, n, pb) != SHOP_OK)
        return pb->err;
    /* Lines no longer for sale are reported like short ones. */
    json_t *gone = NULL;
    for (int i = 0; i < n; i++)
        if (!lines[i].for_sale) {
            if (!gone)
                gone = json_array();
            json_array_append_new(gone, json_pack("{s:I, s:s, s:s, s:I, s:i, s:s}", "variant_id",
                                                  (json_int_t)lines[i].variant_id, "sku",
                                                  lines[i].sku, "title", lines[i].title,
                                                  "requested", (json_int_t)lines[i].quantity,
                                                  "available", 0, "reason", "not_for_sale"));
        }
    if (gone) {
        problem_extra(pb, "lines", gone);
        return problem_set(pb, SHOP_CONFLICT, "some items are no longer for sale; see lines");
    }
    int64_t expires = j->now + j->shop->cfg.reservation_ttl_ms;
    if (j->flash) {
        if (flashsale_take(db, &claim, j->who->user_id, j->order_id, expires, pb) != SHOP_OK)
            return pb->err;
    } else {
        struct reserve_line *rl = arena_alloc(j->a, sizeof *rl * (size_t)n);
        for (int i = 0; i < n; i++)
            rl[i] = (struct reserve_line){.variant_id = lines[i].variant_id,
                                          .product_id = lines[i].product_id,
                                          .quantity = lines[i].quantity,
                                          .sku = lines[i].sku,
                                          .title = lines[i].title};
        if (reservation_reserve(db, j->order_id, rl, n, expires, j->who->user_id, pb) != SHOP_OK)
            return pb->err;
    }

    /* The tenders: store credit is taken now, the card after commit. */
    int64_t pid;
    if (credit_amount > 0 &&
        (insert_payment(db, j, "store_credit", NULL, credit_amount, "captured", &pid, pb) ||
         store_credit_add(db, j->who->user_id, -credit_amount, j->currency, "order", j->order_id,
                          pb)))
        return pb->err;
    if (card_amount > 0) {
        if (insert_payment(db, j, "card", &card, card_amount, "pending", &j->card_payment_id, pb))
            return pb->err;
        j->card_amount = card_amount;
    }

    /* The key and the cart lock. */
    st = db_prepare(db, "INSERT INTO idempotency_keys (user_id, key, request_hash, status,"
                        " order_id, created_at) VALUES (?, ?, ?, 'in_progress', ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording the idempotency key");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->key);
    stmt_bind_text(st, 3, j->hash);
    stmt_bind_i64(st, 4, j->order_id);
    stmt_bind_i64(st, 5, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the idempotency key");
    if (cart) {
        st = db_prepare(db, "UPDATE carts SET checkout_key = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "locking the cart");
        stmt_bind_text(st, 1, j->key);
        stmt_bind_i64(st, 2, cart);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "locking the cart");
    }
    return outbox_emit(db, "order.placed", j->order_id,
                       json_pack("{s:I, s:I, s:I, s:s}", "order_id", (json_int_t)j->order_id,
                                 "user_id", (json_int_t)j->who->user_id, "total_cents",
                                 (json_int_t)total, "currency", j->currency),
                       pb);
}

/* ---- step 3: complete or fail --------------------------------------------------- */

struct settle_job {
    int64_t order_id, payment_id;
    char charge_id[48];
    /* failing */
    enum shop_err err;         /* the answer to store, for a kept key */
    const char *detail, *code; /* its detail and decline code */
    const char *cancel_reason; /* keep the order, cancelled, with this reason */
    bool forget_key;           /* transient failure: the key may be used again */
    char *order;               /* out: the rendered order, JSON text (malloc'd) */
    size_t order_len;
};

/* Finishes the order's idempotency record with its answer. */
static enum shop_err key_done(struct db *db, int64_t order_id, int outcome, const char *body,
                              struct problem *pb)
{
    /* By its primary key (user, key), which the order remembers. */
    struct stmt *st =
        db_prepare(db, "UPDATE idempotency_keys SET status = 'done', outcome = ?1,"
                       " response_body = ?2 WHERE (user_id, key) ="
                       " (SELECT user_id, idempotency_key FROM orders WHERE id = ?3)");
    if (!st)
        return db_fail(db, pb, "storing the answer");
    stmt_bind_i64(st, 1, outcome);
    stmt_bind_text(st, 2, body);
    stmt_bind_i64(st, 3, order_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "storing the answer");
}

/* What an order bought, for its cart and its products' sales counts. */
struct bought {
    int64_t product_id, variant_id, quantity;
};

static int read_bought(struct db *db, int64_t order_id, struct bought *out)
{
    struct stmt *st = db_prepare(db, "SELECT product_id, variant_id, quantity FROM order_lines"
                                     " WHERE order_id = ?");
    int n = 0;
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, order_id);
    while (n < CART_LINES_MAX && stmt_step(st) == STMT_ROW)
        out[n++] = (struct bought){stmt_i64(st, 0), stmt_i64(st, 1), stmt_i64(st, 2)};
    return n;
}

/* Unlocks the cart the order came from (if any), first removing the `n`
 * purchased lines. Statement by statement: `IN (SELECT …)` would cost a
 * temporary table each time. */
static enum shop_err cart_settle(struct db *db, int64_t order_id, const struct bought *lines, int n,
                                 struct problem *pb)
{
    int64_t cart = db_scalar_i64(db,
                                 "SELECT c.id FROM carts c JOIN orders o"
                                 " ON o.user_id = c.user_id AND c.checkout_key = o.idempotency_key"
                                 " WHERE o.id = ?",
                                 order_id, 0);
    if (!cart)
        return SHOP_OK; /* a flash-sale order, or a cart the buyer has since emptied */
    struct stmt *st;
    for (int i = 0; i < n; i++) {
        st = db_prepare(db, "DELETE FROM cart_lines WHERE cart_id = ? AND variant_id = ?"
                            " AND saved_for_later = 0");
        if (!st)
            return db_fail(db, pb, "emptying the cart");
        stmt_bind_i64(st, 1, cart);
        stmt_bind_i64(st, 2, lines[i].variant_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "emptying the cart");
    }
    st = db_prepare(db, "UPDATE carts SET checkout_key = NULL, updated_at = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "unlocking the cart");
    stmt_bind_i64(st, 1, clock_now_ms());
    stmt_bind_i64(st, 2, cart);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "unlocking the cart");
}

static enum shop_err count_sales(struct db *db, const struct bought *lines, int n,
                                 struct problem *pb)
{
    for (int i = 0; i < n; i++) {
        struct stmt *st = db_prepare(db, "UPDATE products SET sales_count = sales_count + ?"
                                         " WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "counting sales");
        stmt_bind_i64(st, 1, lines[i].quantity);
        stmt_bind_i64(st, 2, lines[i].product_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "counting sales");
    }
    return SHOP_OK;
}

static enum shop_err order_event(struct db *db, int64_t order_id, const char *topic,
                                 struct problem *pb)
{
    struct stmt *st =
        db_prepare(db, "SELECT user_id, total_cents, currency FROM orders WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the order");
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading the order");
    json_t *payload = json_pack("{s:I, s:I, s:I, s:s}", "order_id", (json_int_t)order_id, "user_id",
                                (json_int_t)stmt_i64(st, 0), "total_cents",
                                (json_int_t)stmt_i64(st, 1), "currency", stmt_text(st, 2));
    return outbox_emit(db, topic, order_id, payload, pb);
}

/* The order document as JSON text. Encoded where it is rendered: a tree
 * built on one thread and freed on another costs a malloc arena lock per
 * node (they contended in checkout's profile). */
static char *order_text(struct db *db, int64_t order_id, size_t *len)
{
    json_t *o = order_render(db, order_id);
    char *text = o ? jx_dump(o, len) : NULL;
    json_decref(o);
    return text;
}

static enum shop_err complete_write(struct db *db, void *arg, struct problem *pb)
{
    struct settle_job *j = arg;
    free(j->order);
    j->order = NULL;
    if (j->payment_id) {
        struct stmt *st = db_prepare(db, "UPDATE payments SET status = 'captured', gateway_ref = ?,"
                                         " updated_at = ? WHERE id = ? AND status IN ('pending',"
                                         " 'unknown')");
        if (!st)
            return db_fail(db, pb, "recording the payment");
        stmt_bind_text(st, 1, j->charge_id);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, j->payment_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the payment");
        if (db_changes(db) != 1)
            return problem_set(pb, SHOP_CONFLICT, "the payment was settled meanwhile");
    }
    struct bought lines[CART_LINES_MAX];
    int n = read_bought(db, j->order_id, lines);
    if (n < 0)
        return db_fail(db, pb, "reading the order lines");
    if (order_transition(db, j->order_id, ORDER_PAID, "payment captured", pb) != SHOP_OK ||
        reservation_consume(db, j->order_id, pb) != SHOP_OK ||
        flashsale_order_paid(db, j->order_id, pb) != SHOP_OK ||
        cart_settle(db, j->order_id, lines, n, pb) != SHOP_OK ||
        count_sales(db, lines, n, pb) != SHOP_OK)
        return pb->err;
    /* The key's answer is the order itself, rendered when a replay asks.
     * This answer is rendered here, where every page is already in the
     * writer's cache (a reader's cache starts cold after each commit). */
    j->order = order_text(db, j->order_id, &j->order_len);
    enum shop_err e = key_done(db, j->order_id, SHOP_OK, NULL, pb);
    if (e != SHOP_OK)
        return e;
    return order_event(db, j->order_id, "order.confirmed", pb);
}

/* Gives back what begin took: reservations, store credit, the cart lock. */
static enum shop_err undo_begin(struct db *db, int64_t order_id, struct problem *pb)
{
    if (reservation_release(db, order_id, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT o.user_id, p.amount_cents, p.currency FROM payments p"
                                     " JOIN orders o ON o.id = p.order_id WHERE p.order_id = ?"
                                     " AND p.tender = 'store_credit' AND p.status = 'captured'");
    if (!st)
        return db_fail(db, pb, "returning store credit");
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) == STMT_ROW) {
        int64_t user = stmt_i64(st, 0), amount = stmt_i64(st, 1);
        char currency[4];
        snprintf(currency, sizeof currency, "%s", stmt_text(st, 2));
        if (store_credit_add(db, user, amount, currency, "order_failed", order_id, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE payments SET status = 'voided' WHERE order_id = ? AND"
                            " tender = 'store_credit'");
        if (!st)
            return db_fail(db, pb, "returning store credit");
        stmt_bind_i64(st, 1, order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "returning store credit");
    }
    return cart_settle(db, order_id, NULL, 0, pb);
}

static enum shop_err fail_write(struct db *db, void *arg, struct problem *pb)
{
    struct settle_job *j = arg;
    free(j->order);
    j->order = NULL;
    if (flashsale_order_failed(db, j->order_id, pb) != SHOP_OK ||
        undo_begin(db, j->order_id, pb) != SHOP_OK)
        return pb->err;
    if (j->cancel_reason) {
        /* The client may already hold this order: keep it, cancelled. */
        struct stmt *st = db_prepare(db, "UPDATE payments SET status = 'failed', failure_code = ?,"
                                         " updated_at = ? WHERE order_id = ? AND tender = 'card'"
                                         " AND status IN ('pending', 'unknown')");
        if (!st)
            return db_fail(db, pb, "recording the payment");
        stmt_bind_text(st, 1, j->code);
        stmt_bind_i64(st, 2, clock_now_ms());
        stmt_bind_i64(st, 3, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the payment");
        if (order_transition(db, j->order_id, ORDER_CANCELLED, j->cancel_reason, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE orders SET cancel_reason = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "cancelling the order");
        stmt_bind_text(st, 1, j->cancel_reason);
        stmt_bind_i64(st, 2, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "cancelling the order");
        enum shop_err e = key_done(db, j->order_id, SHOP_OK, NULL, pb);
        if (e != SHOP_OK)
            return e;
        return order_event(db, j->order_id, "order.cancelled", pb);
    }
    /* Nothing is left of the attempt but the key's answer (or not even that). */
    struct stmt *st;
    if (j->forget_key) {
        st = db_prepare(db, "DELETE FROM idempotency_keys WHERE (user_id, key) ="
                            " (SELECT user_id, idempotency_key FROM orders WHERE id = ?)");
        if (!st)
            return db_fail(db, pb, "forgetting the idempotency key");
        stmt_bind_i64(st, 1, j->order_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "forgetting the idempotency key");
    } else {
        json_t *ans = json_pack("{s:s, s:s?}", "detail", j->detail, "code", j->code);
        char *body = jx_dump(ans, NULL);
        json_decref(ans);
        enum shop_err e = key_done(db, j->order_id, (int)j->err, body, pb);
        free(body);
        if (e != SHOP_OK)
            return e;
    }
    st = db_prepare(db, "DELETE FROM orders WHERE id = ? AND status = 'pending_payment'");
    if (!st)
        return db_fail(db, pb, "removing the order");
    stmt_bind_i64(st, 1, j->order_id);
    if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the order was settled meanwhile");
    return SHOP_OK;
}

struct unknown_job {
    int64_t payment_id;
};

static enum shop_err unknown_write(struct db *db, void *arg, struct problem *pb)
{
    struct unknown_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE payments SET status = 'unknown', updated_at = ?"
                                     " WHERE id = ? AND status = 'pending'");
    if (!st)
        return db_fail(db, pb, "recording the payment");
    stmt_bind_i64(st, 1, clock_now_ms());
    stmt_bind_i64(st, 2, j->payment_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording the payment");
}

/* After an order's stock moved, pages and search must show it. */
static void products_changed(struct shop *shop, const int64_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        shop_product_stock_moved(shop, ids[i]);
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
    if (store_write(shop->store, fail_write, sj, &wpb) != SHOP_OK) {
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

static enum shop_err place(struct shop *shop, const struct principal *who, const char *key,
                           json_t *body, const struct flash_req *flash, struct checkout_result *out,
                           struct problem *pb)
{
    memset(out, 0, sizeof *out);
    struct arena *a = arena_new();
    struct checkout_in in;
    char hash[65];
    enum shop_err e = read_request(body, a, &in, pb);
    if (e != SHOP_OK) {
        arena_free(a);
        return e;
    }
    request_hash(body, hash);
    struct begin_job j = {.shop = shop,
                          .who = who,
                          .key = key,
                          .hash = hash,
                          .in = &in,
                          .a = a,
                          .flash = flash,
                          .now = clock_now_ms()};
    e = store_write(shop->store, begin_write, &j, pb);
    arena_free(a);
    if (e != SHOP_OK)
        return e;

    if (j.replay) {
        out->replayed = true;
        if (j.replay_outcome == SHOP_OK) {
            /* The first request created this order: answer with it. */
            free(j.replay_body);
            out->order_id = j.replay_order;
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

    struct settle_job sj = {.order_id = j.order_id, .payment_id = j.card_payment_id};
    enum pay_outcome pay = PAY_OK;
    struct gw_result r = {0};
    if (j.card_payment_id) {
        char ref[32];
        snprintf(ref, sizeof ref, "order-%lld", (long long)j.order_id);
        pay = payment_charge(shop, j.card_token, j.card_amount, j.currency, j.card_key, ref, &r);
    }
    switch (pay) {
    case PAY_OK:
        snprintf(sj.charge_id, sizeof sj.charge_id, "%s", r.id);
        e = store_write(shop->store, complete_write, &sj, pb);
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
        /* Leave it to reconciliation; the client gets the pending order. */
        struct unknown_job uj = {.payment_id = j.card_payment_id};
        struct problem upb = {0};
        store_write(shop->store, unknown_write, &uj, &upb);
        problem_clear(&upb);
        sj.order = render_order(shop, j.order_id, &sj.order_len);
        e = sj.order ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "the order vanished");
        break;
    }
    }
    products_changed(shop, j.products, j.nproducts);
    if (e == SHOP_OK) {
        out->order = sj.order;
        out->order_len = sj.order_len;
        out->order_id = j.order_id;
    } else {
        free(sj.order);
    }
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
        e = store_write(shop->store, complete_write, &sj, &pb);
    } else if (pay == PAY_NOT_FOUND || pay == PAY_DECLINED) {
        sj.cancel_reason = "payment_not_captured";
        sj.code = pay == PAY_DECLINED && r.code[0] ? r.code : "not_captured";
        e = store_write(shop->store, fail_write, &sj, &pb);
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
    products_changed(shop, ids, n);
    log_event(LOG_INFO, "reconcile.settled", "{s:I, s:s}", "order", (json_int_t)p->order_id,
              "outcome", pay == PAY_OK ? "captured" : "cancelled");
    return e == SHOP_OK;
}

enum shop_err checkout_reconcile(struct shop *shop, int *settled, struct problem *pb)
{
    struct pending list[64];
    int n = 0;
    int64_t now = clock_now_ms();
    struct db *db = store_db(shop->store);
    /* Card payments the saga gave up on, or whose process is gone; and
     * orders without a card whose saga never finished. */
    struct stmt *st = db_prepare(
        db, "SELECT o.id, coalesce(p.id, 0), coalesce(p.idempotency_key, '') FROM orders o"
            " LEFT JOIN payments p ON p.order_id = o.id AND p.tender = 'card'"
            " WHERE o.status = 'pending_payment' AND (p.status = 'unknown'"
            "  OR (p.status = 'pending' AND (p.deadline_at < ?1 OR p.owner_instance <> ?2))"
            "  OR (p.id IS NULL AND (o.created_at < ?1 - ?3 OR EXISTS (SELECT 1 FROM reservations"
            "   r WHERE r.order_id = o.id AND r.status = 'active' AND r.expires_at < ?1))))"
            " ORDER BY o.id LIMIT 64");
    if (!st)
        return db_fail(db, pb, "finding payments to reconcile");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, shop->instance_id);
    stmt_bind_i64(st, 3, shop->cfg.payment_deadline_ms);
    while (n < 64 && stmt_step(st) == STMT_ROW) {
        list[n].order_id = stmt_i64(st, 0);
        list[n].payment_id = stmt_i64(st, 1);
        snprintf(list[n].key, sizeof list[n].key, "%s", stmt_text(st, 2));
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
