/* flashsale.h — flash sales with a waiting room and exactly-N selling
 * (FLS-1…3). The essay is at the top of flashsale.c.
 */
#ifndef SHOP_SHOP_FLASHSALE_H
#define SHOP_SHOP_FLASHSALE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/account.h"
#include "util/buf.h"
#include "util/problem.h"

struct shop;
struct db;

#define FLASH_TOKEN_LEN 43

/** Admin: creates a sale from {variant_id, quantity, price_cents, starts_at,
 *  ends_at, per_customer_limit, admit_per_second}, setting the units aside
 *  from stock (409 with `available` when there are not enough). */
enum shop_err flashsale_create(struct shop *shop, const struct principal *who, json_t *body,
                               json_t **out, struct problem *pb);

/** {…, sold, held, remaining, status: scheduled|live|sold_out|ended}. */
enum shop_err flashsale_get(struct shop *shop, int64_t id, json_t **out, struct problem *pb);

#define FLASH_LIST_MAX 100

/** Admin: a page of `limit` (1..FLASH_LIST_MAX) sales, newest first, after
 * `cursor` (NULL: the first page; else a next_cursor it gave) → {data,
 * next_cursor}. A cursor it did not give out → SHOP_INVALID, nothing read. */
enum shop_err flashsale_list(struct shop *shop, int limit, const char *cursor, json_t **out,
                             struct problem *pb);

/** Admin: ends a sale now (unsold units go back to stock). */
enum shop_err flashsale_end(struct shop *shop, int64_t id, json_t **out, struct problem *pb);

/** Joins the waiting room (idempotent: joining again answers the same
 *  place). *created is false when the caller was already in it. */
enum shop_err flashsale_join(struct shop *shop, int64_t user_id, int64_t sale_id, json_t **out,
                             bool *created, struct problem *pb);

/** The caller's place: {position, ahead, status, token?, token_expires_at?}. */
enum shop_err flashsale_queue_me(struct shop *shop, int64_t user_id, int64_t sale_id,
                                 json_t **out, struct problem *pb);

/** One scheduler pass: start and end sales, expire tokens (their units go
 *  back to the sale), admit waiting customers at each sale's rate. */
enum shop_err flashsale_tick(struct shop *shop, struct problem *pb);

/* ---- checkout integration (inside checkout's write functions) --------------- */

/** What a valid token lets the caller buy. */
struct flash_claim {
    int64_t sale_id, variant_id, product_id, price_cents, quantity;
    int64_t entry_held; /* units the caller's admission held */
    char currency[4];
};

/** Checks the sale is live and `token` is the caller's valid purchase
 *  token for `quantity` units. SHOP_FORBIDDEN for a missing, forged,
 *  expired, used or someone else's token; SHOP_CONFLICT when sold out or
 *  not live; SHOP_INVALID above the per-customer limit. Changes nothing. */
enum shop_err flashsale_check(struct db *db, const unsigned char key[32], int64_t sale_id,
                              int64_t user_id, const char *token, int64_t quantity, int64_t now,
                              struct flash_claim *out, struct problem *pb);

/** Moves the claimed units to order `order_id`: the admission's hold and,
 *  beyond it, unallocated units (conditionally: exactly N are ever sold),
 *  into the order's reservations. */
enum shop_err flashsale_take(struct db *db, const struct flash_claim *c, int64_t user_id,
                             int64_t order_id, int64_t expires_at, struct problem *pb);

/** The order was paid: its units count as sold. */
enum shop_err flashsale_order_paid(struct db *db, int64_t order_id, struct problem *pb);

/** The order failed: its units are back in the sale (the reservations'
 *  release returns them to its pool) and the customer's token is usable
 *  again until it expires. */
enum shop_err flashsale_order_failed(struct db *db, int64_t order_id, struct problem *pb);

/** Inside a write: *open = true when reservations of `sale_id` should go
 *  back to its pool (the sale is still live) rather than to general stock.
 *  SHOP_INTERNAL when the sale could not be read (never "closed" then: the
 *  units would leak to general stock). */
enum shop_err flashsale_pool_open(struct db *db, int64_t sale_id, bool *open, struct problem *pb);

/** The key that signs purchase tokens, created once per database. */
enum shop_err flashsale_load_key(struct shop *shop, struct problem *pb);

void flashsale_render_metrics(struct shop *shop, struct buf *out);

#endif
