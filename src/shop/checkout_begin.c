/* checkout_begin.c — step 1 of the checkout saga (checkout.c has the
 * essay): in one transaction, claim the key, price the cart, check the
 * tenders, create the order, reserve its lines, debit store credit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/address.h"
#include "shop/cart.h"
#include "shop/checkout_steps.h"
#include "shop/flashsale.h"
#include "shop/fraud.h"
#include "shop/geo.h"
#include "shop/keylock.h"
#include "shop/outbox.h"
#include "shop/payment.h"
#include "shop/pricing.h"
#include "shop/promo.h"
#include "shop/reservation.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/log.h"
#include "util/token.h"
#include "util/xalloc.h"

/* ---- step 1: begin ------------------------------------------------------------- */

struct line {
    int64_t variant_id, product_id, quantity, price, weight, tax;
    int64_t category_id, discount; /* promotions (shop/promo.h) */
    int64_t seller_id;
    const char *sku, *title, *options; /* in the job's arena */
    bool for_sale;
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

/* The cart's lines; a line whose product is not published, or is no longer
 * priced in the cart's currency, is not for sale. */
static enum shop_err read_lines(struct db *db, struct arena *a, int64_t cart, const char *currency,
                                struct line *lines, int *n, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT l.variant_id, v.product_id, l.quantity, v.price_cents,"
                                     " v.weight_grams, v.sku, p.title, v.options, p.status,"
                                     " p.category_id, p.currency, p.seller_id FROM cart_lines l"
                                     " JOIN variants v ON v.id = l.variant_id"
                                     " JOIN products p ON p.id = v.product_id"
                                     " WHERE l.cart_id = ? AND l.saved_for_later = 0 ORDER BY l.id"
                                     " LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading the cart");
    stmt_bind_i64(st, 1, cart);
    stmt_bind_i64(st, 2, CART_LINES_MAX);
    *n = 0;
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        struct line *l = &lines[(*n)++];
        l->variant_id = stmt_i64(st, 0);
        l->product_id = stmt_i64(st, 1);
        l->quantity = stmt_i64(st, 2);
        l->price = stmt_i64(st, 3);
        l->weight = stmt_i64(st, 4);
        l->sku = arena_strdup(a, stmt_text(st, 5));
        l->title = arena_strdup(a, stmt_text(st, 6));
        l->options = arena_strdup(a, stmt_text(st, 7));
        l->for_sale = !strcmp(stmt_text(st, 8), "published") &&
                      (!*currency || !strcmp(stmt_text(st, 10), currency));
        l->category_id = stmt_i64(st, 9);
        l->seller_id = stmt_i64(st, 11);
        l->discount = 0;
    }
    /* A read that failed halfway is no shorter cart: no order of half of it. */
    return rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading the cart");
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
            int64_t balance;
            if (store_credit_balance(db, j->who->user_id, &balance, pb) != SHOP_OK)
                return pb->err;
            if (amount > balance) {
                problem_extra(pb, "store_credit_balance_cents", json_integer(balance));
                return problem_field(pb, SHOP_INVALID, f, "the store credit balance is %lld cents",
                                     (long long)balance);
            }
            *credit_amount = amount;
        } else {
            snprintf(f, sizeof f, "payments[%d].payment_method_id", i);
            int found = payment_method_read(db, j->who->user_id, t->method_id, card);
            if (found < 0)
                return db_fail(db, pb, "reading a payment method");
            if (!found)
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
                                  int64_t subtotal, int64_t discount, int64_t shipping,
                                  int64_t tax, int64_t total, const char *card_token,
                                  struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "INSERT INTO orders (user_id, status, currency, subtotal_cents, shipping_cents,"
            " tax_cents, total_cents, shipping_method, ship_name, ship_line1, ship_line2,"
            " ship_city, ship_region, ship_postal, ship_country, ship_phone, idempotency_key,"
            " created_at, updated_at, flash_sale_id, fraud_decision, fraud_score, fraud_reasons,"
            " client_ip, card_token, discount_cents) VALUES"
            " (?, 'pending_payment', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?)");
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
    if (j->shop->cfg.fraud) { /* unscored orders keep NULL: the admin view shows no verdict */
        char reasons[FRAUD_REASONS_MAX];
        fraud_reasons_text(j->verdict.reasons, reasons);
        stmt_bind_text(st, 20, fraud_decision_name(j->verdict.decision));
        stmt_bind_i64(st, 21, j->verdict.score);
        stmt_bind_text(st, 22, reasons);
    }
    if (j->who->ip)
        stmt_bind_text(st, 23, j->who->ip);
    if (card_token && *card_token)
        stmt_bind_text(st, 24, card_token);
    stmt_bind_i64(st, 25, discount);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating the order");
    j->order_id = db_last_id(db);
    struct placed_order *po = &j->placed;
    po->doc = (struct order_doc){.id = j->order_id,
                                 .user_id = j->who->user_id,
                                 .status = "pending_payment",
                                 .refund_status = "none",
                                 .currency = j->currency,
                                 .shipping_method = pricing_method_name(j->in->method),
                                 .subtotal_cents = subtotal,
                                 .discount_cents = discount,
                                 .shipping_cents = shipping,
                                 .tax_cents = tax,
                                 .total_cents = total,
                                 .ship = *ad,
                                 .created_at = j->now,
                                 .updated_at = j->now,
                                 .lines = po->lines,
                                 .promotions = po->promotions,
                                 .payments = po->payments,
                                 .history = po->history,
                                 .nhistory = 1};
    po->history[0] = (struct order_doc_event){.status = "pending_payment", .at = j->now};
    st = db_prepare(db, "INSERT INTO order_history (order_id, status, at)"
                        " VALUES (?, 'pending_payment', ?)");
    if (!st)
        return db_fail(db, pb, "creating the order");
    stmt_bind_i64(st, 1, j->order_id);
    stmt_bind_i64(st, 2, j->now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "creating the order");
}

/* The lines, each also described in `out` as the order shows it. */
static enum shop_err insert_lines(struct db *db, int64_t order_id, const struct line *lines, int n,
                                  struct order_doc_line *out, struct problem *pb)
{
    for (int i = 0; i < n; i++) {
        struct stmt *st =
            db_prepare(db, "INSERT INTO order_lines (order_id, product_id, variant_id,"
                           " sku, title, options, quantity, unit_price_cents,"
                           " tax_cents, discount_cents, seller_id)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
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
        stmt_bind_i64(st, 10, lines[i].discount);
        stmt_bind_i64(st, 11, lines[i].seller_id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "creating the order lines");
        out[i] = (struct order_doc_line){.product_id = lines[i].product_id,
                                         .variant_id = lines[i].variant_id,
                                         .sku = lines[i].sku,
                                         .title = lines[i].title,
                                         .options = lines[i].options,
                                         .quantity = lines[i].quantity,
                                         .unit_price_cents = lines[i].price,
                                         .discount_cents = lines[i].discount,
                                         .tax_cents = lines[i].tax,
                                         .status = "open"};
        db_last_id_into(db, &out[i].id); /* shown in the answer, after the commit */
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
    struct placed_order *po = &j->placed;
    po->payments[po->doc.npayments++] =
        (struct order_doc_payment){.id = *id,
                                   .tender = tender,
                                   .method_id = card ? card->id : 0,
                                   .brand = card ? arena_strdup(j->a, card->brand) : NULL,
                                   .last4 = card ? arena_strdup(j->a, card->last4) : NULL,
                                   .amount_cents = amount,
                                   .status = status,
                                   .created_at = j->now};
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
    struct stmt *st = db_prepare(db, "SELECT v.sku, v.options, v.weight_grams, p.title,"
                                     " p.seller_id FROM variants v JOIN products p"
                                     " ON p.id = v.product_id"
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
                       .seller_id = stmt_i64(st, 4),
                       .for_sale = true,
                       .sku = arena_strdup(a, stmt_text(st, 0)),
                       .options = arena_strdup(a, stmt_text(st, 1)),
                       .title = arena_strdup(a, stmt_text(st, 3))};
    return SHOP_OK;
}

/* What begin worked out before writing anything. */
struct placing {
    struct line *lines;
    int n;
    int64_t cart;
    const struct address *ad;
    const struct flash_claim *claim;
    int64_t subtotal, discount, shipping, tax, total;
    const struct promo_set *promos;
    const struct promo_outcome *po;
    struct payment_method card;
    int64_t credit_amount, card_amount;
};

/* Writes the order: its lines, reservations, tenders, the key and the cart
 * lock. */
static enum shop_err place_order(struct db *db, struct begin_job *j, const struct placing *p,
                                 struct problem *pb)
{
    /* The order, its lines, its reservations. */
    if (insert_order(db, j, p->ad, p->subtotal, p->discount, p->shipping, p->tax, p->total,
                     p->card_amount > 0 ? p->card.token : NULL, pb) != SHOP_OK)
        return pb->err;
    if (promo_record(db, j->order_id, j->who->user_id, j->now, p->promos, p->po,
                     j->placed.promotions, &j->placed.doc.npromotions, pb) != SHOP_OK) {
        if (pb->err == SHOP_CONFLICT) /* a limit reached since the cart was shown */
            j->promo_refused_cart = p->cart;
        return pb->err;
    }
    if (insert_lines(db, j->order_id, p->lines, p->n, j->placed.lines, pb) != SHOP_OK)
        return pb->err;
    j->placed.doc.nlines = p->n;
    /* What the settle step would otherwise read back. */
    j->head = (struct order_head){.user_id = j->who->user_id,
                                  .total_cents = p->total,
                                  .flash_sale_id = j->flash ? j->flash->sale_id : 0};
    snprintf(j->head.currency, sizeof j->head.currency, "%s", j->currency);
    snprintf(j->head.key, sizeof j->head.key, "%s", j->key);
    j->cart_id = p->cart;
    /* Lines no longer for sale are reported like short ones. */
    json_t *gone = NULL;
    for (int i = 0; i < p->n; i++)
        if (!p->lines[i].for_sale) {
            if (!gone)
                gone = json_array();
            json_array_append_new(gone, json_pack("{s:I, s:s, s:s, s:I, s:i, s:s}", "variant_id",
                                                  (json_int_t)p->lines[i].variant_id, "sku",
                                                  p->lines[i].sku, "title", p->lines[i].title,
                                                  "requested", (json_int_t)p->lines[i].quantity,
                                                  "available", 0, "reason", "not_for_sale"));
        }
    if (gone) {
        problem_extra(pb, "lines", gone);
        return problem_set(pb, SHOP_CONFLICT, "some items are no longer for sale; see lines");
    }
    int64_t expires = j->now + j->shop->cfg.reservation_ttl_ms;
    if (j->flash) {
        if (flashsale_take(db, p->claim, j->who->user_id, j->order_id, expires, pb) != SHOP_OK)
            return pb->err;
    } else {
        struct reserve_line *rl = arena_alloc(j->a, sizeof *rl * (size_t)p->n);
        for (int i = 0; i < p->n; i++)
            rl[i] = (struct reserve_line){.variant_id = p->lines[i].variant_id,
                                          .product_id = p->lines[i].product_id,
                                          .quantity = p->lines[i].quantity,
                                          .sku = p->lines[i].sku,
                                          .title = p->lines[i].title};
        struct geo_point dest;
        struct reserve_where where = {
            geo_locate(p->ad->country, p->ad->postal_code, &dest) ? &dest : NULL,
            &j->shop->cfg.alloc};
        if (reservation_reserve(db, j->order_id, rl, p->n, &where, expires, j->who->user_id,
                                &j->reserved, pb) != SHOP_OK)
            return pb->err;
        for (int i = 0; i < p->n; i++) /* as reservation_reserve recorded them */
            j->placed.lines[i].backordered = rl[i].backordered;
    }

    /* The tenders: store credit is taken now, the card after commit. */
    int64_t pid;
    if (p->credit_amount > 0 &&
        (insert_payment(db, j, "store_credit", NULL, p->credit_amount, "captured", &pid, pb) ||
         store_credit_add(db, j->who->user_id, -p->credit_amount, j->currency, "order", j->order_id,
                          pb)))
        return pb->err;
    if (p->card_amount > 0) {
        if (insert_payment(db, j, "card", &p->card, p->card_amount, "pending", &j->card_payment_id,
                           pb))
            return pb->err;
        j->card_amount = p->card_amount;
    }

    /* The key and the cart lock. */
    struct stmt *st =
        db_prepare(db, "INSERT INTO idempotency_keys (user_id, key, request_hash, status,"
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
    if (p->cart) {
        st = db_prepare(db, "UPDATE carts SET checkout_key = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "locking the cart");
        stmt_bind_text(st, 1, j->key);
        stmt_bind_i64(st, 2, p->cart);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "locking the cart");
    }
    return outbox_emit(db, "order.placed", j->order_id,
                       json_pack("{s:I, s:I, s:I, s:s}", "order_id", (json_int_t)j->order_id,
                                 "user_id", (json_int_t)j->who->user_id, "total_cents",
                                 (json_int_t)p->total, "currency", j->currency),
                       pb);
}

struct trial {
    struct db *db;
    struct begin_job *j;
    const struct placing *p;
};

/* A rejected order, placed to see whether it could have been and then
 * undone: SHOP_REJECTED (the savepoint rolls it back) when it could. */
static enum shop_err reject_trial_write(struct db *db, void *arg, struct problem *pb)
{
    struct trial *t = arg;
    if (place_order(db, t->j, t->p, pb) != SHOP_OK)
        return pb->err;
    return problem_set(pb, SHOP_REJECTED, CHECKOUT_REJECTED_DETAIL);
}

enum shop_err checkout_begin_write(struct db *db, void *arg, struct problem *pb)
{
    struct begin_job *j = arg;
    j->replay = false;
    free(j->replay_body);
    j->replay_body = NULL;
    j->order_id = j->card_payment_id = j->card_amount = 0;
    j->promo_refused_cart = 0;
    /* One checkout of a customer's at a time, whichever process runs it: the
     * key and the cart are checked here and claimed at the end of this
     * write, and a second checkout must see the first's claim (and the
     * first's order, in the fraud rules' count of the customer's). */
    char key[48];
    snprintf(key, sizeof key, "checkout:%lld", (long long)j->who->user_id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    bool seen = false;
    if (check_key(db, j, &seen, pb) != SHOP_OK || seen)
        return pb->err;

    /* The lines: the cart, or the flash sale's one line. On the stack: from
     * an arena a block this size costs a heap-wide merge of free blocks. */
    struct line lines[CART_LINES_MAX];
    int n = 0;
    int64_t cart = 0, shown_at = 0; /* when the cart's prices were last shown */
    char coupon[PROMO_CODE_MAX + 1] = "";
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
        st = db_prepare(db, "SELECT id, coalesce(checkout_key, ''), coalesce(currency, ''),"
                            " coalesce(coupon_code, ''), updated_at FROM carts WHERE user_id = ?");
        if (!st)
            return db_fail(db, pb, "reading the cart");
        stmt_bind_i64(st, 1, j->who->user_id);
        int rc = stmt_step(st);
        if (rc != STMT_ROW) /* a failed read is no empty cart (a 5xx, not a 422) */
            return rc == STMT_DONE ? problem_set(pb, SHOP_INVALID, "your cart is empty")
                                   : db_fail(db, pb, "reading the cart");
        cart = stmt_i64(st, 0);
        if (*stmt_text(st, 1))
            return problem_set(pb, SHOP_CONFLICT, "another checkout of this cart is in progress");
        snprintf(j->currency, sizeof j->currency, "%s", stmt_text(st, 2));
        snprintf(coupon, sizeof coupon, "%s", stmt_text(st, 3));
        shown_at = stmt_i64(st, 4);
        if (read_lines(db, j->a, cart, j->currency, lines, &n, pb) != SHOP_OK)
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
        if (pb->err != SHOP_NOT_FOUND)
            return pb->err;
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
    /* Promotions, as the cart shows them (shop/promo.h); tax on the
     * discounted lines. A flash sale's price takes none. */
    struct promo_set promos;
    struct promo_outcome po;
    promos.n = 0;
    if (!j->flash && !promo_load(db, j->a, coupon, j->who->user_id, j->now, shown_at > 0 ? shown_at : 1,
                               &promos))
        return db_fail(db, pb, "reading the promotions");
    struct promo_line plines[PROMO_LINES_MAX];
    for (int i = 0; i < n && i < PROMO_LINES_MAX; i++)
        plines[i] = (struct promo_line){lines[i].product_id, lines[i].category_id, lines[i].price,
                                        lines[i].quantity};
    promo_price(j->shop, &promos, plines, n, shipping, &po);
    for (int i = 0; i < n; i++) {
        lines[i].discount = po.line_discount[i];
        line_totals[i] -= lines[i].discount;
    }
    int64_t tax = pricing_apply_bp(subtotal - po.goods_discount,
                                   pricing_tax_bp(j->shop->pricing, ad.country, ad.region));
    pricing_allocate(tax, line_totals, n, taxes);
    for (int i = 0; i < n; i++)
        lines[i].tax = taxes[i];
    int64_t total = subtotal - po.discount + shipping + tax;

    /* The tenders — before anything is written. */
    struct placing p = {.lines = lines,
                        .n = n,
                        .cart = cart,
                        .ad = &ad,
                        .claim = &claim,
                        .subtotal = subtotal,
                        .discount = po.discount,
                        .promos = &promos,
                        .po = &po,
                        .shipping = shipping,
                        .tax = tax,
                        .total = total};
    if (plan_tenders(db, j, total, &p.card, &p.credit_amount, &p.card_amount, pb) != SHOP_OK)
        return pb->err;

    /* The fraud check (CHK-5, shop/fraud.h): its facts are read here, in this
     * transaction; its verdict takes effect once the lines are reserved. */
    j->verdict = (struct fraud_verdict){.decision = FRAUD_APPROVE};
    if (j->shop->cfg.fraud) {
        struct fraud_rules rules;
        fraud_rules_from_config(&j->shop->cfg, &rules);
        struct fraud_facts f = {.total_cents = total};
        snprintf(f.ship_country, sizeof f.ship_country, "%s", ad.country ? ad.country : "");
        snprintf(f.billing_country, sizeof f.billing_country, "%s",
                 p.card_amount > 0 ? p.card.billing_country : "");
        const char *card = p.card_amount > 0 ? p.card.token : NULL;
        bool locked;
        if (fraud_lock_card(db, &rules, card, pb) != SHOP_OK)
            return pb->err;
        if (!fraud_facts_read(db, &rules, j->who->user_id, card, j->who->ip, j->now, &f))
            return db_fail(db, pb, "reading the fraud rules' facts");
        if (fraud_lock_address(db, &rules, &f, j->who->ip, &locked, pb) != SHOP_OK)
            return pb->err;
        if (locked && !fraud_facts_read(db, &rules, j->who->user_id, card, j->who->ip, j->now, &f))
            return db_fail(db, pb, "reading the fraud rules' facts");
        fraud_score(&rules, &f, &j->verdict);
    }
    if (j->verdict.decision != FRAUD_REJECT)
        return place_order(db, j, &p, pb);

    /* Rejected: the order is still placed and its lines reserved, in a
     * savepoint, so that a short line answers 409 as the saga's order of
     * steps says; then all of it is rolled back and only the key's answer,
     * the 422, is kept. */
    struct problem tpb = {0};
    struct trial t = {db, j, &p};
    enum shop_err e = store_write(j->shop->store, reject_trial_write, &t, &tpb);
    if (e != SHOP_REJECTED) {
        problem_clear(pb);
        *pb = tpb;
        return e;
    }
    problem_clear(&tpb);
    j->order_id = j->card_payment_id = j->card_amount = 0;
    j->rejected = true;
    st = db_prepare(db, "INSERT INTO idempotency_keys (user_id, key, request_hash, status,"
                        " outcome, response_body, created_at) VALUES (?, ?, ?, 'done', ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording the idempotency key");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_text(st, 2, j->key);
    stmt_bind_text(st, 3, j->hash);
    stmt_bind_i64(st, 4, SHOP_REJECTED);
    stmt_bind_text(st, 5,
                   "{\"detail\":\"" CHECKOUT_REJECTED_DETAIL "\",\"code\":\"order_rejected\"}");
    stmt_bind_i64(st, 6, j->now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording the idempotency key");
}
