/* checkout.h — placing an order (CHK-1, CHK-3) and settling payments whose
 * outcome is unknown (CHK-2 reconciliation). The saga is described at the
 * top of checkout.c.
 */
#ifndef SHOP_SHOP_CHECKOUT_H
#define SHOP_SHOP_CHECKOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/account.h"
#include "util/problem.h"

struct shop;

#define IDEMPOTENCY_KEY_MAX 255

/** What a checkout answered. `replayed` when it is the stored answer of an
 *  earlier request with the same Idempotency-Key. On SHOP_OK `order` is the
 *  order (201); on an error `pb` says why. */
struct checkout_result {
    char *order;      /* the order document, JSON text (malloc'd: the caller frees) */
    size_t order_len;
    int64_t order_id;
    bool replayed;
};

/** Places an order from the caller's cart. `body` is the request:
 *  {shipping_address_id | shipping_address:{…}, payments:[{payment_method_id |
 *  store_credit:true, amount_cents?}], shipping_method}. */
enum shop_err checkout_place(struct shop *shop, const struct principal *who, const char *key,
                             json_t *body, struct checkout_result *out, struct problem *pb);

/** A flash-sale purchase: the same saga, with the sale (at its price, with
 *  the caller's purchase token) instead of the cart as the source of the one
 *  line. `body` has the checkout fields (address, payments, method). */
enum shop_err checkout_place_flash(struct shop *shop, const struct principal *who, const char *key,
                                   json_t *body, int64_t sale_id, const char *token,
                                   int64_t quantity, struct checkout_result *out,
                                   struct problem *pb);

/** Settles orders whose card payment is unknown (a timeout) or was left
 *  pending by a process that died, by asking the gateway what happened:
 *  captured → the order proceeds; not captured → it is cancelled and its
 *  stock released. Also settles orders whose reservations expired.
 *  *settled gets how many orders were settled. */
enum shop_err checkout_reconcile(struct shop *shop, int *settled, struct problem *pb);

/** Forgets Idempotency-Keys older than the configured lifetime. */
enum shop_err checkout_purge_keys(struct shop *shop, int64_t *deleted, struct problem *pb);

#endif
