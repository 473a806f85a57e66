/* checkout_steps.h — what the checkout saga's files share (private to
 * them): checkout.c runs the saga and reconciliation, checkout_begin.c is
 * step 1, checkout_settle.c step 3. The essay is at the top of checkout.c.
 */
#ifndef SHOP_SHOP_CHECKOUT_STEPS_H
#define SHOP_SHOP_CHECKOUT_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shop/account.h"
#include "shop/address.h"
#include "shop/cart.h"
#include "shop/fraud.h"
#include "shop/order.h"
#include "shop/order_doc.h"
#include "shop/pricing.h"
#include "shop/promo.h"
#include "shop/reservation.h"
#include "util/arena.h"
#include "util/problem.h"

struct db;
struct shop;

#define TENDERS_MAX 3

/* The detail of a rejected order's 422: it names no rule (shop/fraud.h). */
#define CHECKOUT_REJECTED_DETAIL "the order cannot be accepted"


/* ---- the request -------------------------------------------------------- */

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

/* A flash-sale purchase instead of the cart. */
struct flash_req {
    int64_t sale_id, quantity;
    const char *token;
};

/* A line of an order as settle needs it: for its cart, its stock. */
struct bought_line {
    int64_t product_id, variant_id, quantity;
};

/* The order as begin wrote it, which settle moves and renders as its
 * answer (shop/order_doc.h) instead of reading it back. Strings are in the
 * begin job's arena or are literals. */
struct placed_order {
    struct order_doc doc;
    struct order_doc_line lines[CART_LINES_MAX];
    struct order_doc_promotion promotions[PROMO_RULES_MAX];
    struct order_doc_payment payments[TENDERS_MAX];
    struct order_doc_event history[2]; /* placed; settled */
};

/* ---- step 1: begin ------------------------------------------------------ */

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
    /* What settle would otherwise read back: the order's head as created
     * (pending_payment), the order itself, the cart it locked (0: none),
     * the reservation rows it wrote (a cart's; a flash sale's are read). */
    struct order_head head;
    struct placed_order placed;
    int64_t cart_id;
    struct reserved_list reserved;
    struct fraud_verdict verdict; /* CHK-5 (shop/fraud.h) */
    bool rejected;                /* the rules refused it: nothing is left but the key's 422 */
    /* The cart whose promotion reached a limit after it was last shown
     * (promo.h, Limits): its new prices count as shown once the 409 is
     * answered. 0: none. */
    int64_t promo_refused_cart;
};

/* ---- step 3: settle ----------------------------------------------------- */

struct settle_job {
    int64_t order_id, payment_id;
    char charge_id[48];
    /* failing */
    enum shop_err err;         /* the answer to store, for a kept key */
    const char *detail, *code; /* its detail and decline code */
    const char *cancel_reason; /* keep the order, cancelled, with this reason */
    bool forget_key;           /* transient failure: the key may be used again */
    const char *card_token;    /* a decline: the card, for the declines rule */
    char *order;               /* out: the rendered order, JSON text (malloc'd) */
    size_t order_len;
    /* Known from begin (the saga's own settle; reconciliation and the
     * fraud review read them): the order was created pending_payment with
     * this head, as placed, from this cart (cart_id 0: none). NULL: read,
     * and the answer rendered from the rows. */
    const struct order_head *head;
    struct placed_order *placed;
    int64_t cart_id;
    const struct reserved_list *reserved; /* the reservations to consume (NULL: read) */
};

struct unknown_job {
    int64_t payment_id, order_id;
    const struct order_head *head; /* the key to answer with the order */
    struct placed_order *placed;   /* the order, as begin placed it */
    char *order;                   /* out: the order as answered (malloc'd) */
    size_t order_len;
};

/** Step 1, a store_write function over a struct begin_job. */
enum shop_err checkout_begin_write(struct db *db, void *arg, struct problem *pb);

/** Step 3, store_write functions over a struct settle_job: the charge was
 *  captured (or there was none) / the order fails. */
enum shop_err checkout_complete_write(struct db *db, void *arg, struct problem *pb);
enum shop_err checkout_fail_write(struct db *db, void *arg, struct problem *pb);

/** Over a struct settle_job: the order whose verdict was hold has its card
 *  authorized (or has no card): pending_payment → on_hold, the payment
 *  authorized, the reservations kept until an admin decides, the cart
 *  emptied, the key's answer the order. */
enum shop_err checkout_hold_write(struct db *db, void *arg, struct problem *pb);

/** Over a struct unknown_job: the charge's outcome is not known. The
 *  order, still pending_payment, is the key's answer (a replay gets it, as
 *  first given, however reconciliation settles the order). */
enum shop_err checkout_unknown_write(struct db *db, void *arg, struct problem *pb);

/** After an order's stock moved, pages and search must show it. */
void checkout_products_changed(struct shop *shop, const int64_t *ids, int n);

#endif
