/* wishlist.h — a user's wishlist (ENG-2) and its reverse index.
 *
 * A wishlist holds up to WISHLIST_MAX published products. Rows live in one
 * table keyed (user_id, product_id) with a second index (product_id,
 * user_id): the user's list is a prefix of the first, "everyone who
 * wishlisted P" a prefix of the second, so the notification fan-out reads
 * 500,000 wishlisters of one product as a few hundred short range scans
 * (work/fanout.c) without sorting or a table scan.
 *
 * Adding is idempotent (adding again changes nothing) and refused for a
 * product a shopper cannot see. A product that is unpublished later stays
 * on the list (shown as not in stock) until the user removes it.
 */
#ifndef SHOP_SHOP_WISHLIST_H
#define SHOP_SHOP_WISHLIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct shop;

#define WISHLIST_MAX 1000

/** Adds a published product to the user's wishlist. *created tells whether
 *  it was new; *item is the item as the add left it (the caller's), even if
 *  a remove commits right after. Errors: SHOP_NOT_FOUND (no such published
 *  product; nothing changed), SHOP_CONFLICT (already WISHLIST_MAX items;
 *  nothing changed). */
enum shop_err wishlist_add(struct shop *shop, int64_t user_id, int64_t product_id, bool *created,
                           json_t **item, struct problem *pb);

/** Removes a product. SHOP_NOT_FOUND when it was not on the list. */
enum shop_err wishlist_remove(struct shop *shop, int64_t user_id, int64_t product_id,
                              struct problem *pb);

/** The list, newest first: {data: [item], next_cursor}. `cursor` is a
 *  next_cursor this function gave out (SHOP_INVALID naming "cursor" for
 *  anything else). `limit` 1..100. */
enum shop_err wishlist_list(struct shop *shop, int64_t user_id, int limit, const char *cursor,
                            json_t **out, struct problem *pb);

#endif
