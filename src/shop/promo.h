/* promo.h — promotions and coupons (ENG-3).
 *
 * A promotion is a rule that lowers what a cart costs:
 *
 *   percentage     percent_bps (1–10000) off each targeted line, per line in
 *                  integer cents, rounded down (never more than the line).
 *   fixed          amount_cents off the targeted lines together, spread over
 *                  them in proportion to what they cost at that point, the
 *                  remainder cent by cent to the largest lines
 *                  (pricing_spread: the one place this rule is written).
 *   buy_x_get_y    for every buy_quantity + get_quantity targeted units,
 *                  get_quantity units get get_percent_bps off (10000: free).
 *                  Units of every targeted line count together (mixed
 *                  variants, mixed products), and the cheapest units are the
 *                  ones discounted.
 *   free_shipping  the shipping price; discount_cents is what it saved.
 *   tiered         "spend more, save more": tiers of {min_subtotal_cents,
 *                  amount_cents | percent_bps}; the highest tier the targeted
 *                  subtotal reaches applies, as a fixed or percentage rule.
 *
 * Each targets the whole cart or some products and categories (a category
 * includes everything below it; no ids here means the whole cart, so the
 * API refuses a target that names none); min_subtotal_cents is compared
 * with the subtotal of the lines it targets, before any discount.
 * max_discount_cents caps what one promotion gives an order (the cap is
 * spread over the lines it discounted, by the same rule). A promotion is
 * automatic (no code) or comes with codes (case-insensitive, unique across
 * promotions; a code may be single-use). It lives from starts_at to
 * ends_at while active.
 *
 * Combination (promo_apply, a pure function the unit tests drive):
 *   1. Of the exclusive (non-stackable) promotions that apply, the one that
 *      gives the largest discount on the cart's prices wins (a tie: higher
 *      priority, then the older promotion); the others give nothing.
 *   2. Then each stackable promotion, in priority order (higher first, then
 *      older), applies to the prices left after the promotions before it —
 *      so a percentage never applies to money the shopper no longer pays,
 *      and every line's discount stays between 0 and its price: 100% off
 *      is exactly 0, never less.
 * Tax is computed afterwards, on the discounted lines; shipping_cents stays
 * the price before discount, and discount_cents includes what free shipping
 * saved: total = subtotal − discount + shipping + tax.
 *
 * Limits. usage_limit counts orders over all customers, per_customer_limit
 * one customer's orders. A use is recorded by checkout in the transaction
 * that creates the order (promo_record): a conditional UPDATE of the
 * promotion's counter (uses + 1 WHERE uses < usage_limit) and, for the
 * customer, a count of their uses taken while the checkout holds the
 * customer's key lock ("checkout:<user>", shop/keylock.h — on PostgreSQL no
 * two checkouts of one customer interleave, in any process). A single-use
 * code is taken by a conditional UPDATE of its own. When any of these fails
 * the checkout fails with 409 naming the promotion and the whole begin
 * write is rolled back. A promotion that gave nothing records no use. A
 * cancelled order (whole) and a checkout that failed give their uses back
 * (promo_release).
 *
 * What the cart shows and what checkout takes agree because both call
 * promo_price on the same rows. Automatic promotions whose limits are
 * reached stop applying (the cart says nothing: they simply are not there);
 * a coupon whose limit is reached stays on the cart, not applied, with a
 * warning saying why. Between the shopper's last look at the cart and the
 * checkout a limit may be reached: then the cart showed a discount the
 * order would not get. Checkout tells the two apart by time: the moment
 * the limit was reached (promotions.limit_reached_at, promotion_codes
 * .used_at, the customer's last use) against the moment the cart's prices
 * were last shown (carts.updated_at, moved by every change to the cart). A
 * limit reached after that is priced as the cart showed it, promo_record
 * refuses it, and checkout answers 409 naming the promotion and changes
 * nothing — except that the refusal counts as showing the cart's new
 * prices (checkout moves updated_at, checkout.c), so the shopper's next
 * checkout takes the cart as it now stands. A promotion that ended (its
 * ends_at passed, or an admin switched it off, which ends it at once)
 * after the cart was shown is treated the same way: 409 naming it, then
 * the new prices. Never an order at a price the shopper was not shown, and
 * never a cart that cannot be checked out.
 *
 * Flash-sale purchases take no promotions (the sale price is the offer).
 */
#ifndef SHOP_SHOP_PROMO_H
#define SHOP_SHOP_PROMO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/account.h"
#include "shop/order_doc.h"
#include "util/arena.h"
#include "util/problem.h"

struct db;
struct shop;

#define PROMO_LINES_MAX   100 /* = CART_LINES_MAX */
#define PROMO_RULES_MAX   32  /* promotions considered for one cart */
#define PROMO_TIERS_MAX   8
#define PROMO_TARGETS_MAX 50 /* product ids, and category ids, per promotion */
#define PROMO_CODE_MAX    64
#define PROMO_NAME_MAX    200

enum promo_type {
    PROMO_PERCENTAGE,
    PROMO_FIXED,
    PROMO_BXGY,
    PROMO_FREE_SHIPPING,
    PROMO_TIERED,
    PROMO_TYPE_COUNT
};

/** Why a promotion gave nothing (PROMO_APPLIED when it gave something). */
enum promo_why {
    PROMO_APPLIED,
    PROMO_NO_TARGET,        /* no line in the cart is targeted */
    PROMO_BELOW_MINIMUM,    /* targeted subtotal below the minimum (or the first tier) */
    PROMO_NOT_ENOUGH_UNITS, /* buy X get Y: fewer than X + Y units */
    PROMO_NO_SHIPPING,      /* free shipping on a cart that ships free anyway */
    PROMO_NOTHING_LEFT,     /* earlier promotions already took the whole price */
    PROMO_OUTDONE,          /* exclusive, and another exclusive one gives more */
    /* set by the loader, before arithmetic */
    PROMO_NOT_STARTED,
    PROMO_ENDED,
    PROMO_LIMIT_REACHED,
    PROMO_CUSTOMER_LIMIT,
    PROMO_CODE_USED, /* a single-use code already used */
    PROMO_SIGN_IN,   /* a per-customer limit needs a signed-in customer */
    PROMO_WHY_COUNT
};

struct promo_tier {
    int64_t min_subtotal;
    int64_t amount;  /* cents off, or */
    int percent_bps; /* a percentage (exactly one of the two is set) */
};

/** A promotion's arithmetic (strings borrowed). */
struct promo_rule {
    int64_t id;
    const char *name, *code; /* code: the cart's coupon that brought it, NULL when automatic */
    enum promo_type type;
    int percent_bps;
    int64_t amount;
    int64_t buy_quantity, get_quantity;
    int get_percent_bps;
    struct promo_tier tiers[PROMO_TIERS_MAX];
    int ntiers;
    int64_t product_ids[PROMO_TARGETS_MAX], category_ids[PROMO_TARGETS_MAX];
    int nproducts, ncategories;         /* both 0: the whole cart */
    int64_t min_subtotal, max_discount; /* 0: none */
    int64_t priority;
    bool stackable;
};

struct promo_line {
    int64_t product_id, category_id, unit_price, quantity;
};

/** The cart as promotions see it. `within(ctx, category, ancestor)` says
 *  whether a category is `ancestor` or below it (NULL: equality). */
struct promo_cart {
    const struct promo_line *lines;
    int n; /* ≤ PROMO_LINES_MAX */
    int64_t shipping;
    bool (*within)(void *ctx, int64_t category, int64_t ancestor);
    void *ctx;
};

struct promo_applied {
    int rule;         /* index into the rules given */
    int64_t discount; /* goods + shipping */
    int64_t shipping; /* of which shipping */
};

struct promo_outcome {
    int64_t line_discount[PROMO_LINES_MAX];
    int64_t goods_discount, shipping_discount, discount; /* discount = goods + shipping */
    struct promo_applied applied[PROMO_RULES_MAX];       /* in the order they applied */
    int napplied;
    enum promo_why why[PROMO_RULES_MAX]; /* per rule given */
};

/** The arithmetic: applies `rules` (n ≤ PROMO_RULES_MAX; why[] may be preset
 *  to a reason ≠ PROMO_APPLIED to leave a rule out) to the cart. Pure. */
void promo_apply(const struct promo_cart *cart, const struct promo_rule *rules, int nrules,
                 struct promo_outcome *out);

/** A short sentence saying why (static text). */
const char *promo_why_text(enum promo_why why);

/** "percentage" … ; PROMO_TYPE_COUNT when unknown. */
enum promo_type promo_type_parse(const char *s);
const char *promo_type_name(enum promo_type t);

/* ---- pricing a cart (cart summary and checkout; promo.c) ---------------- */

/** The promotions that may apply to a cart and the cart's coupon. */
struct promo_set {
    struct promo_rule rules[PROMO_RULES_MAX];
    enum promo_why why[PROMO_RULES_MAX]; /* preset by the loader */
    int64_t code_ids[PROMO_RULES_MAX];   /* the coupon's code row, else 0 */
    bool single_use[PROMO_RULES_MAX];
    int64_t per_customer[PROMO_RULES_MAX];
    int64_t customer_used[PROMO_RULES_MAX]; /* -1: not counted (no per-customer limit) */
    bool ended[PROMO_RULES_MAX];            /* ended since the cart was shown (checkout only) */
    int n;
    int coupon;          /* index of the coupon's promotion, -1 when none applies or none is set */
    bool coupon_unknown; /* a coupon is set but no longer exists or is inactive */
};

/** Inside a read or write: loads the live automatic promotions and the
 *  promotion of `coupon` (NULL: none) for `user_id` (0: a guest) at `now`,
 *  with each rule's standing (limits, dates) preset in why[]. `shown_at`: 0
 *  to price a cart for display; at checkout, when the cart's prices were
 *  last shown (its updated_at): a promotion whose limit was reached, or
 *  that ended or was switched off, after that is priced as if it applied,
 *  for promo_record to refuse (see the essay). Strings in `a`. False on a
 *  database error. */
bool promo_load(struct db *db, struct arena *a, const char *coupon, int64_t user_id, int64_t now,
                int64_t shown_at, struct promo_set *set);

/** The cart's lines with each one's category, and the loaded set → the
 *  outcome. `shop` gives the category tree. */
void promo_price(struct shop *shop, const struct promo_set *set, const struct promo_line *lines,
                 int n, int64_t shipping, struct promo_outcome *out);

/** Inside checkout's begin write: records the uses of every promotion that
 *  gave something to order `order_id` (see Limits), and describes each in
 *  `rows` (PROMO_RULES_MAX of them; *nrows set) as the order shows it.
 *  SHOP_CONFLICT naming the promotion when a limit was reached; nothing is
 *  written then (the caller's write fails). */
enum shop_err promo_record(struct db *db, int64_t order_id, int64_t user_id, int64_t now,
                           const struct promo_set *set, const struct promo_outcome *out,
                           struct order_doc_promotion *rows, int *nrows, struct problem *pb);

/** Inside a write: gives back the uses order `order_id` took (once: a
 *  second call finds none left). */
enum shop_err promo_release(struct db *db, int64_t order_id, struct problem *pb);

/** Inside a read or write: the cart's promotions as
 *  [{id, name, code, type, discount_cents, shipping_discount_cents}], and its
 *  coupon warning (or NULL) as {type, code, message}. */
json_t *promo_applied_json(const struct promo_set *set, const struct promo_outcome *out);
json_t *promo_coupon_warning(const char *coupon, const struct promo_set *set,
                             const struct promo_outcome *out);

/* ---- administration (promo_admin.c) ------------------------------------ */

/** A promotion as given by an admin (validated by promo_create/update). */
struct promo_in {
    const char *name, *code, *type;
    int64_t percent_bps, amount_cents, buy_quantity, get_quantity, get_percent_bps;
    bool has_percent, has_amount, has_buy, has_get, has_get_percent;
    struct promo_tier tiers[PROMO_TIERS_MAX];
    int ntiers;
    bool has_tiers;
    int64_t product_ids[PROMO_TARGETS_MAX], category_ids[PROMO_TARGETS_MAX];
    int nproducts, ncategories;
    int64_t min_subtotal, max_discount, usage_limit, per_customer_limit, priority;
    int64_t starts_at, ends_at; /* 0: none */
    bool stackable;
};

/** Creates a promotion (and its code, if any). *out: the promotion. Errors:
 *  SHOP_INVALID naming the field; SHOP_CONFLICT when the code exists. */
enum shop_err promo_create(struct shop *shop, const struct promo_in *in, json_t **out,
                           struct problem *pb);

enum shop_err promo_get(struct shop *shop, int64_t id, json_t **out, struct problem *pb);

/** Newest first; `after` a cursor (id) or 0. {data, next_cursor}. */
enum shop_err promo_list(struct shop *shop, int64_t after, int64_t limit, json_t **out,
                         struct problem *pb);

/** Changes of an existing promotion: any field present in `fields`. `active`
 *  false ends it at once (ends_at = now). */
struct promo_patch {
    const char *name;
    bool has_active, active;
    bool has_ends_at, has_starts_at, has_usage_limit, has_per_customer_limit, has_priority;
    bool has_stackable, has_max_discount, has_min_subtotal;
    int64_t ends_at, starts_at, usage_limit, per_customer_limit, priority, max_discount,
        min_subtotal;
    bool stackable;
};
enum shop_err promo_update(struct shop *shop, int64_t id, const struct promo_patch *p, json_t **out,
                           struct problem *pb);

/** Generates `count` (1–1000) unique single-use codes `prefix` + 10 random
 *  characters of an unambiguous alphabet. *out: {promotion_id, codes:[…]}. */
enum shop_err promo_codes_generate(struct shop *shop, int64_t id, int64_t count, const char *prefix,
                                   json_t **out, struct problem *pb);

/** Normalises a code for storage and lookup (upper case); false when it has
 *  characters other than letters, digits, '-' and '_' or a bad length. */
bool promo_code_normalise(const char *in, char out[PROMO_CODE_MAX + 1]);

#endif
