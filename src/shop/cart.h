/* cart.h — carts for users and guests (CRT-1…4, ACC-2).
 *
 * A cart belongs to a user or to a guest session. Lines are per variant
 * (quantity 1–CART_QTY_MAX, at most CART_LINES_MAX lines, one currency per
 * cart). Adding checks live availability (409 with `available` when short)
 * but reserves nothing: stock is only held at checkout. While a checkout of
 * the cart is in flight the cart is locked (409).
 *
 * The summary is recomputed from live prices on every read: lines, subtotal,
 * discount (promotions and the cart's coupon, shop/promo.h: which rule gave
 * what, per line and in total), shipping and tax for a destination (query,
 * else the user's default address; tax on the discounted goods), total, and
 * warnings when a price changed since the line was added, stock fell below
 * the quantity, or the cart's coupon gives nothing (and why).
 *
 * On login or registration the guest cart merges into the user's: per
 * variant the larger quantity wins; then the guest cart is gone.
 * Idle carts are purged: guests' after cfg.guest_cart_ttl_ms, users' after
 * cfg.user_cart_ttl_ms.
 */
#ifndef SHOP_SHOP_CART_H
#define SHOP_SHOP_CART_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/account.h"
#include "shop/pricing.h"
#include "util/problem.h"

struct shop;
struct db;

#define CART_LINES_MAX 100
#define CART_QTY_MAX 99

/** Where the summary prices shipping and tax; all optional. */
struct cart_dest {
    const char *country, *region;
    enum ship_method method;
};

enum shop_err cart_get(struct shop *shop, const struct principal *who, const struct cart_dest *dest,
                       json_t **out, struct problem *pb);

/* Every change answers with the cart as it is after the change (*out, a new
 * reference), priced for `dest`. */

/** Adds `quantity` of a variant (to an existing line of it, or a new one). */
enum shop_err cart_add(struct shop *shop, const struct principal *who, int64_t variant_id,
                       int64_t quantity, const struct cart_dest *dest, json_t **out,
                       struct problem *pb);

/** Sets a line's quantity. */
enum shop_err cart_set_quantity(struct shop *shop, const struct principal *who, int64_t line_id,
                                int64_t quantity, const struct cart_dest *dest, json_t **out,
                                struct problem *pb);

enum shop_err cart_remove(struct shop *shop, const struct principal *who, int64_t line_id,
                          const struct cart_dest *dest, json_t **out, struct problem *pb);

/** Moves a line to "saved for later" or back to the cart. */
enum shop_err cart_save_for_later(struct shop *shop, const struct principal *who, int64_t line_id,
                                  bool saved, const struct cart_dest *dest, json_t **out,
                                  struct problem *pb);

/** Puts coupon `code` (case-insensitive) on the cart. SHOP_NOT_FOUND when no
 *  active promotion has it; a code that does not apply yet is kept and the
 *  summary's warnings say why. */
enum shop_err cart_set_coupon(struct shop *shop, const struct principal *who, const char *code,
                              const struct cart_dest *dest, json_t **out, struct problem *pb);

/** Takes the coupon off the cart (nothing to take off is fine). */
enum shop_err cart_clear_coupon(struct shop *shop, const struct principal *who,
                                const struct cart_dest *dest, json_t **out, struct problem *pb);

/** A guest line that could not join the user's cart at the merge: the
 *  two carts are in different currencies, or the user's had no room. */
struct cart_left {
    int64_t variant_id, quantity;
    bool saved_for_later;
    const char *reason; /* "currency" or "line_limit" */
};

struct cart_left_list {
    struct cart_left lines[CART_LINES_MAX];
    int n;
};

/** Inside a write function: merges guest `guest_id`'s cart into user
 *  `user_id`'s (larger quantity wins) and deletes the guest cart. `*kept`
 *  is set when the guest cart could not merge now (the user's cart is being
 *  checked out) and stays as it is: the guest session must not end. `left`
 *  (may be NULL) gets the guest lines that did not merge and went with the
 *  guest cart, so the customer can be told. */
enum shop_err cart_merge_guest(struct db *db, int64_t guest_id, int64_t user_id, bool *kept,
                               struct cart_left_list *left, struct problem *pb);

/** Deletes idle carts; *deleted gets how many. */
enum shop_err cart_purge(struct shop *shop, int64_t *deleted, struct problem *pb);

#endif
