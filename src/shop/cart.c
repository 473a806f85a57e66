#include "shop/cart.h"

#include <stdio.h>
#include <string.h>

#include "shop/address.h"
#include "shop/catalog.h"
#include "shop/inventory.h"
#include "shop/keylock.h"
#include "shop/promo.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

/* ---- finding the cart -------------------------------------------------------- */

/* The caller's cart id (0 when there is none yet). */
/* The caller's cart id (0 when there is none yet), and its coupon code
 * ("" when none) when `coupon` is not NULL. */
static int64_t cart_of_coupon(struct db *db, const struct principal *who, char *checkout_key,
                              size_t len, char coupon[PROMO_CODE_MAX + 1])
{
    struct stmt *st = who->user_id
                          ? db_prepare(db, "SELECT id, coalesce(checkout_key, ''),"
                                           " coalesce(coupon_code, '') FROM carts WHERE user_id = ?")
                          : db_prepare(db, "SELECT id, coalesce(checkout_key, ''),"
                                           " coalesce(coupon_code, '') FROM carts WHERE guest_id = ?");
    if (!st)
        return 0;
    stmt_bind_i64(st, 1, who->user_id ? who->user_id : who->guest_id);
    if (stmt_step(st) != STMT_ROW)
        return 0;
    if (checkout_key)
        snprintf(checkout_key, len, "%s", stmt_text(st, 1));
    if (coupon)
        snprintf(coupon, PROMO_CODE_MAX + 1, "%s", stmt_text(st, 2));
    return stmt_i64(st, 0);
}

static int64_t cart_of(struct db *db, const struct principal *who, char *checkout_key, size_t len)
{
    return cart_of_coupon(db, who, checkout_key, len, NULL);
}

/* The key (shop/keylock.h) every write of a cart holds, so that on
 * PostgreSQL two writes of one cart run one after the other: two first adds
 * would otherwise both create the cart (one failing on its UNIQUE owner),
 * and two adds could both pass the currency and line-limit checks. A user's
 * is the key checkout_begin_write holds, so a change waits for a checkout
 * being claimed and then sees its claim. */
static void cart_lock_key(int64_t user_id, int64_t guest_id, char key[48])
{
    if (user_id)
        snprintf(key, 48, "checkout:%lld", (long long)user_id);
    else
        snprintf(key, 48, "cart:guest:%lld", (long long)guest_id);
}

/* The caller's cart, created when missing; refuses a cart being checked out. */
static enum shop_err cart_for_write(struct db *db, const struct principal *who, int64_t now,
                                    int64_t *id, struct problem *pb)
{
    char key[256] = "";
    *id = cart_of(db, who, key, sizeof key);
    if (*id && key[0])
        return problem_set(pb, SHOP_CONFLICT, "the cart is being checked out; try again shortly");
    if (*id) {
        struct stmt *st = db_prepare(db, "UPDATE carts SET updated_at = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "touching the cart");
        stmt_bind_i64(st, 1, now);
        stmt_bind_i64(st, 2, *id);
        return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "touching the cart");
    }
    struct stmt *st = db_prepare(db, "INSERT INTO carts (user_id, guest_id, created_at, updated_at)"
                                     " VALUES (?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the cart");
    if (who->user_id) {
        stmt_bind_i64(st, 1, who->user_id);
        stmt_bind_null(st, 2);
    } else {
        stmt_bind_null(st, 1);
        stmt_bind_i64(st, 2, who->guest_id);
    }
    stmt_bind_i64(st, 3, now);
    stmt_bind_i64(st, 4, now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating the cart");
    *id = db_last_id(db);
    return SHOP_OK;
}

/* ---- writes -------------------------------------------------------------------- */

enum cart_op { OP_ADD, OP_SET, OP_REMOVE, OP_SAVE, OP_UNSAVE, OP_COUPON, OP_UNCOUPON };

struct cart_job {
    struct shop *shop;
    const struct principal *who;
    const struct cart_dest *dest;
    enum cart_op op;
    int64_t variant_id, line_id, quantity, now;
    const char *coupon; /* OP_COUPON: normalised */
    json_t *cart;       /* out: the cart after the change */
};

/* Refuses a quantity above what is available, saying how many are (unless
 * the product may be backordered). */
static enum shop_err check_available(struct db *db, int64_t variant_id, int64_t want,
                                     struct problem *pb)
{
    int64_t available, backorder;
    if (inventory_available(db, variant_id, &available, pb) != SHOP_OK)
        return pb->err;
    if (want <= available)
        return SHOP_OK;
    if (db_scalar_i64_or_fail(db, "SELECT p.allow_backorder FROM variants v JOIN products p"
                                  " ON p.id = v.product_id WHERE v.id = ?",
                              variant_id, 0, &backorder, pb, "reading the product") != SHOP_OK)
        return pb->err;
    if (backorder != 0)
        return SHOP_OK;
    problem_extra(pb, "available", json_integer(available));
    problem_extra(pb, "variant_id", json_integer(variant_id));
    problem_extra(pb, "code", json_string(PROBLEM_CODE_OUT_OF_STOCK));
    return problem_field(pb, SHOP_CONFLICT, "quantity", "only %lld available",
                         (long long)available);
}

static enum shop_err add_line(struct db *db, struct cart_job *j, int64_t cart, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT v.price_cents, p.status, p.currency FROM variants v"
                                     " JOIN products p ON p.id = v.product_id WHERE v.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the variant");
    stmt_bind_i64(st, 1, j->variant_id);
    if (stmt_step(st) != STMT_ROW || strcmp(stmt_text(st, 1), "published") != 0)
        return problem_field(pb, SHOP_INVALID, "variant_id", "no variant %lld for sale",
                             (long long)j->variant_id);
    int64_t price = stmt_i64(st, 0);
    char currency[4];
    snprintf(currency, sizeof currency, "%s", stmt_text(st, 2));

    st = db_prepare(db, "SELECT coalesce(currency, ''), (SELECT count(*) FROM cart_lines"
                        " WHERE cart_id = carts.id) FROM carts WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the cart");
    stmt_bind_i64(st, 1, cart);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading the cart");
    const char *cart_currency = stmt_text(st, 0);
    int64_t nlines = stmt_i64(st, 1);
    /* An empty cart (no lines, saved ones included) takes the currency of
     * whatever goes into it first: the one it had held nothing to keep. */
    if (*cart_currency && nlines > 0 && strcmp(cart_currency, currency) != 0)
        return problem_field(pb, SHOP_INVALID, "variant_id",
                             "priced in %s; this cart is in %s", currency, cart_currency);
    bool set_currency = !*cart_currency || nlines == 0;

    int64_t have = 0;
    st = db_prepare(db, "SELECT quantity FROM cart_lines WHERE cart_id = ? AND variant_id = ?");
    if (!st)
        return db_fail(db, pb, "reading the cart");
    stmt_bind_i64(st, 1, cart);
    stmt_bind_i64(st, 2, j->variant_id);
    bool exists = stmt_step(st) == STMT_ROW;
    if (exists)
        have = stmt_i64(st, 0);
    else if (nlines >= CART_LINES_MAX)
        return problem_field(pb, SHOP_INVALID, "variant_id", "a cart holds at most %d lines",
                             CART_LINES_MAX);
    if (have + j->quantity > CART_QTY_MAX)
        return problem_field(pb, SHOP_INVALID, "quantity",
                             "at most %d of one item per cart (%lld already in it)", CART_QTY_MAX,
                             (long long)have);
    if (check_available(db, j->variant_id, have + j->quantity, pb) != SHOP_OK)
        return pb->err;
    st = db_prepare(db, "INSERT INTO cart_lines (cart_id, variant_id, quantity, price_at_add_cents,"
                        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (cart_id, variant_id) DO UPDATE SET"
                        " quantity = cart_lines.quantity + excluded.quantity, saved_for_later = 0,"
                        " updated_at = excluded.updated_at");
    if (!st)
        return db_fail(db, pb, "adding to the cart");
    stmt_bind_i64(st, 1, cart);
    stmt_bind_i64(st, 2, j->variant_id);
    stmt_bind_i64(st, 3, j->quantity);
    stmt_bind_i64(st, 4, price);
    stmt_bind_i64(st, 5, j->now);
    stmt_bind_i64(st, 6, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "adding to the cart");
    if (!set_currency)
        return SHOP_OK;
    st = db_prepare(db, "UPDATE carts SET currency = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "adding to the cart");
    stmt_bind_text(st, 1, currency);
    stmt_bind_i64(st, 2, cart);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "adding to the cart");
}

static enum shop_err change_line(struct db *db, struct cart_job *j, int64_t cart, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT variant_id, quantity FROM cart_lines WHERE id = ?"
                                     " AND cart_id = ?");
    if (!st)
        return db_fail(db, pb, "reading the cart");
    stmt_bind_i64(st, 1, j->line_id);
    stmt_bind_i64(st, 2, cart);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no line %lld in your cart", (long long)j->line_id);
    int64_t variant = stmt_i64(st, 0), quantity = stmt_i64(st, 1);
    switch (j->op) {
    case OP_REMOVE:
        st = db_prepare(db, "DELETE FROM cart_lines WHERE id = ?");
        break;
    case OP_SET:
        if (j->quantity > quantity && check_available(db, variant, j->quantity, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE cart_lines SET quantity = ?2, updated_at = ?3 WHERE id = ?1");
        break;
    case OP_SAVE:
        st = db_prepare(db, "UPDATE cart_lines SET saved_for_later = 1, updated_at = ?3"
                            " WHERE id = ?1 AND ?2 = ?2");
        break;
    case OP_UNSAVE:
        if (check_available(db, variant, quantity, pb) != SHOP_OK)
            return pb->err;
        st = db_prepare(db, "UPDATE cart_lines SET saved_for_later = 0, updated_at = ?3"
                            " WHERE id = ?1 AND ?2 = ?2");
        break;
    default:
        return problem_set(pb, SHOP_INTERNAL, "unknown cart operation");
    }
    if (!st)
        return db_fail(db, pb, "changing the cart");
    stmt_bind_i64(st, 1, j->line_id);
    if (j->op != OP_REMOVE) {
        stmt_bind_i64(st, 2, j->quantity);
        stmt_bind_i64(st, 3, j->now);
    }
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "changing the cart");
}

/* Puts a code on the cart (or takes it off): an unknown, inactive or ended
 * code is refused; one that does not apply yet is kept, and the summary
 * says why it gives nothing. */
static enum shop_err set_coupon(struct db *db, struct cart_job *j, int64_t cart,
                                struct problem *pb)
{
    struct stmt *st;
    if (j->op == OP_COUPON) {
        st = db_prepare(db, "SELECT 1 FROM promotion_codes c JOIN promotions p"
                            " ON p.id = c.promotion_id WHERE c.code = ? AND p.active = 1"
                            " AND (p.ends_at IS NULL OR p.ends_at > ?)");
        if (!st)
            return db_fail(db, pb, "reading the code");
        stmt_bind_text(st, 1, j->coupon);
        stmt_bind_i64(st, 2, j->now);
        if (stmt_step(st) != STMT_ROW)
            return problem_field(pb, SHOP_NOT_FOUND, "code", "no active promotion has the code %s",
                                 j->coupon);
    }
    st = db_prepare(db, "UPDATE carts SET coupon_code = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "changing the cart");
    if (j->op == OP_COUPON)
        stmt_bind_text(st, 1, j->coupon);
    else
        stmt_bind_null(st, 1);
    stmt_bind_i64(st, 2, cart);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "changing the cart");
}

static enum shop_err change(struct db *db, struct cart_job *j, struct problem *pb)
{
    int64_t cart;
    char lock[48];
    cart_lock_key(j->who->user_id, j->who->guest_id, lock);
    if (keylock(db, (const char *const[]){lock}, 1, pb) != SHOP_OK)
        return pb->err;
    if (j->op == OP_UNCOUPON) {
        char key[256] = "";
        cart = cart_of(db, j->who, key, sizeof key);
        if (!cart)
            return SHOP_OK; /* no cart, no coupon */
        if (key[0])
            return problem_set(pb, SHOP_CONFLICT, "the cart is being checked out; try again shortly");
        return set_coupon(db, j, cart, pb);
    }
    if (j->op == OP_COUPON) {
        if (cart_for_write(db, j->who, j->now, &cart, pb) != SHOP_OK)
            return pb->err;
        return set_coupon(db, j, cart, pb);
    }
    if (j->op != OP_ADD) {
        char key[256] = "";
        cart = cart_of(db, j->who, key, sizeof key);
        if (!cart)
            return problem_set(pb, SHOP_NOT_FOUND, "no line %lld in your cart",
                               (long long)j->line_id);
        if (key[0])
            return problem_set(pb, SHOP_CONFLICT, "the cart is being checked out; try again shortly");
        return change_line(db, j, cart, pb);
    }
    if (cart_for_write(db, j->who, j->now, &cart, pb) != SHOP_OK)
        return pb->err;
    return add_line(db, j, cart, pb);
}

static json_t *summary(struct shop *shop, struct db *db, const struct principal *who,
                       const struct cart_dest *dest);

/* Changes the cart and answers with it, read in the same transaction on the
 * writer's connection: its pages are warm there, while a reader's cache
 * starts cold after every commit. */
static enum shop_err cart_write(struct db *db, void *arg, struct problem *pb)
{
    struct cart_job *j = arg;
    json_decref(j->cart);
    j->cart = NULL;
    if (change(db, j, pb) != SHOP_OK)
        return pb->err;
    j->cart = summary(j->shop, db, j->who, j->dest);
    return j->cart ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "cannot read the cart");
}

static enum shop_err run(struct shop *shop, struct cart_job *j, json_t **out, struct problem *pb)
{
    j->shop = shop;
    j->now = clock_now_ms();
    enum shop_err e = store_write(shop->store, cart_write, j, pb);
    if (e == SHOP_OK)
        *out = j->cart;
    else
        json_decref(j->cart);
    return e;
}

enum shop_err cart_add(struct shop *shop, const struct principal *who, int64_t variant_id,
                       int64_t quantity, const struct cart_dest *dest, json_t **out,
                       struct problem *pb)
{
    if (quantity < 1 || quantity > CART_QTY_MAX)
        return problem_field(pb, SHOP_INVALID, "quantity", "must be between 1 and %d",
                             CART_QTY_MAX);
    return run(shop, &(struct cart_job){.who = who, .dest = dest, .op = OP_ADD,
                                        .variant_id = variant_id, .quantity = quantity},
               out, pb);
}

enum shop_err cart_set_quantity(struct shop *shop, const struct principal *who, int64_t line_id,
                                int64_t quantity, const struct cart_dest *dest, json_t **out,
                                struct problem *pb)
{
    if (quantity < 1 || quantity > CART_QTY_MAX)
        return problem_field(pb, SHOP_INVALID, "quantity", "must be between 1 and %d",
                             CART_QTY_MAX);
    return run(shop, &(struct cart_job){.who = who, .dest = dest, .op = OP_SET,
                                        .line_id = line_id, .quantity = quantity},
               out, pb);
}

enum shop_err cart_remove(struct shop *shop, const struct principal *who, int64_t line_id,
                          const struct cart_dest *dest, json_t **out, struct problem *pb)
{
    return run(shop, &(struct cart_job){.who = who, .dest = dest, .op = OP_REMOVE,
                                        .line_id = line_id},
               out, pb);
}

enum shop_err cart_save_for_later(struct shop *shop, const struct principal *who, int64_t line_id,
                                  bool saved, const struct cart_dest *dest, json_t **out,
                                  struct problem *pb)
{
    return run(shop, &(struct cart_job){.who = who, .dest = dest,
                                        .op = saved ? OP_SAVE : OP_UNSAVE, .line_id = line_id},
               out, pb);
}

enum shop_err cart_set_coupon(struct shop *shop, const struct principal *who, const char *code,
                              const struct cart_dest *dest, json_t **out, struct problem *pb)
{
    char norm[PROMO_CODE_MAX + 1];
    if (!promo_code_normalise(code, norm))
        return problem_field(pb, SHOP_INVALID, "code", "1 to %d letters, digits, '-' or '_'",
                             PROMO_CODE_MAX);
    return run(shop, &(struct cart_job){.who = who, .dest = dest, .op = OP_COUPON, .coupon = norm},
               out, pb);
}

enum shop_err cart_clear_coupon(struct shop *shop, const struct principal *who,
                                const struct cart_dest *dest, json_t **out, struct problem *pb)
{
    return run(shop, &(struct cart_job){.who = who, .dest = dest, .op = OP_UNCOUPON}, out, pb);
}

/* ---- the summary ----------------------------------------------------------------- */

static void default_destination(struct db *db, int64_t user_id, char *country, char *region)
{
    struct stmt *st = db_prepare(db, "SELECT country, coalesce(region, '') FROM addresses"
                                     " WHERE user_id = ? AND is_default = 1");
    if (st) {
        stmt_bind_i64(st, 1, user_id);
        if (stmt_step(st) == STMT_ROW) {
            snprintf(country, 3, "%s", stmt_text(st, 0));
            snprintf(region, 101, "%s", stmt_text(st, 1));
        }
    }
}

static json_t *warning(const char *type, int64_t line_id, const char *message)
{
    return json_pack("{s:s, s:I, s:s}", "type", type, "line_id", (json_int_t)line_id, "message",
                     message);
}

/* The cart as seen through `db` (inside the caller's transaction). */
static json_t *summary(struct shop *shop, struct db *db, const struct principal *who,
                       const struct cart_dest *dest)
{
    char key[256] = "", coupon[PROMO_CODE_MAX + 1] = "";
    int64_t cart = cart_of_coupon(db, who, key, sizeof key, coupon);
    char country[3] = "", region[101] = "";
    if (dest && dest->country) {
        snprintf(country, sizeof country, "%s", dest->country);
        snprintf(region, sizeof region, "%s", dest->region ? dest->region : "");
    } else if (who->user_id) {
        default_destination(db, who->user_id, country, region);
    }
    enum ship_method method = dest ? dest->method : SHIP_STANDARD;

    json_t *lines = json_array(), *warnings = json_array();
    int64_t subtotal = 0, weight = 0, items = 0;
    /* The lines promotions see, and which JSON line each one is. */
    struct promo_line plines[PROMO_LINES_MAX];
    json_t *pjson[PROMO_LINES_MAX];
    int np = 0;
    const char *currency = shop->cfg.currency;
    char cur[4] = "";
    struct stmt *st = db_prepare(
        db, "SELECT l.id, l.variant_id, v.product_id, p.title, v.sku, v.options, l.quantity,"
            " v.price_cents, l.price_at_add_cents, l.saved_for_later, v.weight_grams, p.status,"
            " p.currency, (SELECT coalesce(sum(s.on_hand - s.reserved), 0) FROM stock s"
            "   WHERE s.variant_id = v.id), p.category_id"
            " FROM cart_lines l JOIN variants v ON v.id = l.variant_id"
            " JOIN products p ON p.id = v.product_id WHERE l.cart_id = ? ORDER BY l.id");
    if (cart && st) {
        stmt_bind_i64(st, 1, cart);
        while (stmt_step(st) == STMT_ROW) {
            int64_t id = stmt_i64(st, 0), qty = stmt_i64(st, 6), price = stmt_i64(st, 7);
            int64_t at_add = stmt_i64(st, 8), available = stmt_i64(st, 13);
            bool saved = stmt_i64(st, 9) != 0;
            bool for_sale = !strcmp(stmt_text(st, 11), "published");
            snprintf(cur, sizeof cur, "%s", stmt_text(st, 12));
            json_t *opts = json_loads(stmt_text(st, 5), 0, NULL);
            json_array_append_new(
                lines, json_pack("{s:I, s:I, s:I, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:b, s:I, s:b}",
                                 "id", (json_int_t)id, "variant_id", (json_int_t)stmt_i64(st, 1),
                                 "product_id", (json_int_t)stmt_i64(st, 2), "title",
                                 stmt_text(st, 3), "sku", stmt_text(st, 4), "options",
                                 opts ? opts : json_object(), "quantity", (json_int_t)qty,
                                 "unit_price_cents", (json_int_t)price, "line_total_cents",
                                 (json_int_t)(price * qty), "price_at_add_cents",
                                 (json_int_t)at_add, "saved_for_later", saved, "available",
                                 (json_int_t)available, "in_stock", available > 0));
            json_t *jl = json_array_get(lines, json_array_size(lines) - 1);
            json_object_set_new(jl, "discount_cents", json_integer(0));
            if (saved)
                continue;
            char msg[120];
            if (!for_sale) {
                json_array_append_new(warnings,
                                      warning("unavailable", id, "this item is no longer for sale"));
                continue;
            }
            if (price != at_add) {
                snprintf(msg, sizeof msg, "the price changed from %lld to %lld cents since you"
                         " added it", (long long)at_add, (long long)price);
                json_array_append_new(warnings, warning(price < at_add ? "price_dropped"
                                                                        : "price_increased",
                                                        id, msg));
            }
            if (available < qty) {
                snprintf(msg, sizeof msg, "only %lld available; %lld in your cart",
                         (long long)available, (long long)qty);
                json_array_append_new(warnings, warning("insufficient_stock", id, msg));
            }
            subtotal += price * qty;
            weight += stmt_i64(st, 10) * qty;
            items += qty;
            if (np < PROMO_LINES_MAX) {
                plines[np] = (struct promo_line){stmt_i64(st, 2), stmt_i64(st, 14), price, qty};
                pjson[np++] = jl;
            }
        }
    }
    if (cur[0])
        currency = cur;
    int64_t shipping = items ? pricing_shipping(shop->pricing, method, weight, subtotal) : 0;
    /* Promotions (promo.h), then tax on the discounted goods. */
    struct arena *a = arena_new();
    struct promo_set set;
    struct promo_outcome po;
    if (!promo_load(db, a, coupon, who->user_id, clock_now_ms(), 0, &set))
        set.n = 0, set.coupon = -1, set.coupon_unknown = false;
    promo_price(shop, &set, plines, np, shipping, &po);
    for (int i = 0; i < np; i++)
        json_object_set_new(pjson[i], "discount_cents", json_integer(po.line_discount[i]));
    json_t *promotions = promo_applied_json(&set, &po);
    json_t *cw = promo_coupon_warning(coupon, &set, &po);
    if (cw)
        json_array_append_new(warnings, cw);
    arena_free(a);
    int64_t tax = country[0] ? pricing_apply_bp(subtotal - po.goods_discount,
                                                pricing_tax_bp(shop->pricing, country, region))
                             : 0;
    json_t *destination = country[0] ? json_pack("{s:s, s:s?}", "country", country, "region",
                                                 region[0] ? region : NULL)
                                     : json_null();
    json_t *doc = json_pack("{s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:b, s:o, s:o}",
                     "id", cart ? json_integer(cart) : json_null(), "currency", currency, "lines",
                     lines, "item_count", (json_int_t)items, "subtotal_cents",
                     (json_int_t)subtotal, "discount_cents", (json_int_t)po.discount,
                     "shipping_cents", (json_int_t)shipping, "tax_cents", (json_int_t)tax,
                     "total_cents", (json_int_t)(subtotal - po.discount + shipping + tax),
                     "shipping_method", pricing_method_name(method), "destination", destination,
                     "tax_estimated", country[0] != 0, "promotions", promotions, "warnings",
                     warnings);
    json_object_set_new(doc, "checkout_in_progress", json_boolean(key[0] != 0));
    json_object_set_new(doc, "coupon_code", coupon[0] ? json_string(coupon) : json_null());
    return doc;
}

enum shop_err cart_get(struct shop *shop, const struct principal *who, const struct cart_dest *dest,
                       json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    *out = summary(shop, db, who, dest);
    db_read_end(db);
    return *out ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "cannot read the cart");
}

/* ---- merge and purge -------------------------------------------------------------- */

/* The guest's lines that neither merged nor moved: still in the guest cart,
 * their variant not in the user's. Read after the move, so the currencies
 * compared are the ones the merge left. */
static enum shop_err list_left(struct db *db, int64_t guest, int64_t mine,
                               struct cart_left_list *left, struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "SELECT g.variant_id, g.quantity, g.saved_for_later, (SELECT currency FROM carts"
            " WHERE id = ?1) IS NOT DISTINCT FROM (SELECT currency FROM carts WHERE id = ?2)"
            " FROM cart_lines g WHERE g.cart_id = ?1 AND NOT EXISTS (SELECT 1 FROM cart_lines u"
            " WHERE u.cart_id = ?2 AND u.variant_id = g.variant_id) ORDER BY g.id LIMIT ?3");
    if (!st)
        return db_fail(db, pb, "merging carts");
    stmt_bind_i64(st, 1, guest);
    stmt_bind_i64(st, 2, mine);
    stmt_bind_i64(st, 3, CART_LINES_MAX);
    int rc = STMT_DONE;
    while (left->n < CART_LINES_MAX && (rc = stmt_step(st)) == STMT_ROW)
        left->lines[left->n++] = (struct cart_left){
            .variant_id = stmt_i64(st, 0),
            .quantity = stmt_i64(st, 1),
            .saved_for_later = stmt_i64(st, 2) != 0,
            .reason = stmt_i64(st, 3) ? "line_limit" : "currency"};
    return left->n == CART_LINES_MAX || rc == STMT_DONE ? SHOP_OK
                                                         : db_fail(db, pb, "merging carts");
}

enum shop_err cart_merge_guest(struct db *db, int64_t guest_id, int64_t user_id, bool *kept,
                               struct cart_left_list *left, struct problem *pb)
{
    *kept = false;
    if (left)
        left->n = 0;
    char kuser[48], kguest[48];
    cart_lock_key(user_id, 0, kuser);
    cart_lock_key(0, guest_id, kguest);
    if (keylock(db, (const char *const[]){kuser, kguest}, 2, pb) != SHOP_OK)
        return pb->err;
    int64_t guest = db_scalar_i64(db, "SELECT id FROM carts WHERE guest_id = ?", guest_id, 0);
    if (!guest)
        return SHOP_OK;
    struct principal who = {.user_id = user_id};
    int64_t mine;
    int64_t now = clock_now_ms();
    if (cart_for_write(db, &who, now, &mine, pb) != SHOP_OK) {
        /* The user's cart is being checked out: keep the guest cart as is
         * (and its session: a later login merges it). */
        problem_clear(pb);
        *kept = true;
        return SHOP_OK;
    }
    /* Larger quantity wins for variants in both carts; the others move over
     * while the line limit and the currency allow. A line in the cart beats
     * one saved for later: the merged line stays in the cart with the
     * quantity that was in a cart (a saved line's quantity is not bought). */
    struct stmt *st = db_prepare(
        db, "UPDATE cart_lines SET quantity = (SELECT CASE WHEN g.saved_for_later ="
            " cart_lines.saved_for_later THEN (CASE WHEN g.quantity > cart_lines.quantity THEN"
            " g.quantity ELSE cart_lines.quantity END) WHEN g.saved_for_later = 0 THEN"
            " g.quantity ELSE cart_lines.quantity END FROM cart_lines g WHERE g.cart_id = ?1"
            " AND g.variant_id = cart_lines.variant_id), saved_for_later = (SELECT CASE WHEN"
            " g.saved_for_later = 0 THEN 0 ELSE cart_lines.saved_for_later END FROM cart_lines g"
            " WHERE g.cart_id = ?1 AND g.variant_id = cart_lines.variant_id), updated_at = ?3"
            " WHERE cart_id = ?2 AND variant_id IN (SELECT variant_id FROM cart_lines WHERE"
            " cart_id = ?1)");
    if (!st)
        return db_fail(db, pb, "merging carts");
    stmt_bind_i64(st, 1, guest);
    stmt_bind_i64(st, 2, mine);
    stmt_bind_i64(st, 3, now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "merging carts");
    /* The guest's coupon comes along unless the user's cart has one; an
     * empty user cart takes the guest cart's currency (add_line's rule). */
    st = db_prepare(db, "UPDATE carts SET currency = CASE WHEN EXISTS (SELECT 1 FROM cart_lines"
                        " WHERE cart_id = ?2) THEN coalesce(currency, (SELECT currency FROM carts"
                        " WHERE id = ?1)) ELSE coalesce((SELECT currency FROM carts WHERE id = ?1),"
                        " currency) END, coupon_code = coalesce(coupon_code, (SELECT"
                        " coupon_code FROM carts WHERE id = ?1)) WHERE id = ?2");
    if (!st)
        return db_fail(db, pb, "merging carts");
    stmt_bind_i64(st, 1, guest);
    stmt_bind_i64(st, 2, mine);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "merging carts");
    st = db_prepare(db,
                    "UPDATE cart_lines SET cart_id = ?2 WHERE id IN (SELECT g.id FROM cart_lines g"
                    " WHERE g.cart_id = ?1 AND NOT EXISTS (SELECT 1 FROM cart_lines u WHERE"
                    " u.cart_id = ?2 AND u.variant_id = g.variant_id)"
                    " AND (SELECT currency FROM carts WHERE id = ?1) IS NOT DISTINCT FROM"
                    " (SELECT currency FROM carts WHERE id = ?2)"
                    " ORDER BY g.id LIMIT (SELECT CASE WHEN count(*) < ?3 THEN ?3 - count(*)"
                    " ELSE 0 END FROM cart_lines WHERE cart_id = ?2))");
    if (!st)
        return db_fail(db, pb, "merging carts");
    stmt_bind_i64(st, 1, guest);
    stmt_bind_i64(st, 2, mine);
    stmt_bind_i64(st, 3, CART_LINES_MAX);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "merging carts");
    if (left && list_left(db, guest, mine, left, pb) != SHOP_OK)
        return pb->err;
    st = db_prepare(db, "DELETE FROM carts WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "merging carts");
    stmt_bind_i64(st, 1, guest);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "merging carts");
}

struct purge_job {
    int64_t guest_before, user_before, deleted;
};

static enum shop_err purge_write(struct db *db, void *arg, struct problem *pb)
{
    struct purge_job *j = arg;
    j->deleted = 0;
    struct stmt *st = db_prepare(db, "DELETE FROM carts WHERE checkout_key IS NULL AND"
                                     " ((guest_id IS NOT NULL AND updated_at < ?) OR"
                                     " (user_id IS NOT NULL AND updated_at < ?))");
    if (!st)
        return db_fail(db, pb, "purging carts");
    stmt_bind_i64(st, 1, j->guest_before);
    stmt_bind_i64(st, 2, j->user_before);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "purging carts");
    j->deleted = db_changes(db);
    /* Guest sessions that have expired and own no cart any more. */
    st = db_prepare(db, "DELETE FROM sessions WHERE kind = 'guest' AND expires_at < ? AND"
                        " NOT EXISTS (SELECT 1 FROM carts WHERE guest_id = sessions.id)");
    if (!st)
        return db_fail(db, pb, "purging guest sessions");
    stmt_bind_i64(st, 1, clock_now_ms());
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "purging guest sessions");
}

enum shop_err cart_purge(struct shop *shop, int64_t *deleted, struct problem *pb)
{
    int64_t now = clock_now_ms();
    struct purge_job j = {.guest_before = now - shop->cfg.guest_cart_ttl_ms,
                          .user_before = now - shop->cfg.user_cart_ttl_ms};
    enum shop_err e = store_write(shop->store, purge_write, &j, pb);
    if (deleted)
        *deleted = j.deleted;
    return e;
}
