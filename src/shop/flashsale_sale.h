/* flashsale_sale.h — what flashsale.c (sales and the waiting room) and
 * flashsale_sell.c (admission, expiry, purchase) share; private to them.
 * The essay is at the top of flashsale.c.
 */
#ifndef SHOP_SHOP_FLASHSALE_SALE_H
#define SHOP_SHOP_FLASHSALE_SALE_H

#include <stdbool.h>
#include <stdint.h>

#include "shop/flashsale.h"
#include "util/problem.h"

struct db;
struct stmt;

/* A flash_sales row. */
struct sale {
    int64_t id, variant_id, product_id, quantity, sold, in_flight, held, price_cents;
    int64_t starts_at, ends_at, per_customer_limit, admit_per_second, admitted_through;
    int64_t last_admit_at, created_at, started_at, ended_at;
    char status[12], currency[4];
};

#define SALE_COLS                                                                                  \
    "id, variant_id, product_id, quantity, sold, in_flight, held, price_cents, starts_at,"         \
    " ends_at, per_customer_limit, admit_per_second, admitted_through, last_admit_at,"             \
    " created_at, coalesce(started_at, 0), coalesce(ended_at, 0), status, currency"

/** The purchase token of (sale, user, admission): HMAC-SHA256, base64url. */
void flashsale_token_for(const unsigned char key[32], int64_t sale, int64_t user,
                         int64_t admitted_at, char out[FLASH_TOKEN_LEN + 1]);

/** A row selected as SALE_COLS into `s`. */
void flashsale_row_to_sale(struct stmt *st, struct sale *s);

/** Reads sale `id` into `s`: SHOP_NOT_FOUND when there is none, a database
 *  failure (never "none") when the read fails; `pb` says which. */
enum shop_err flashsale_read_sale(struct db *db, int64_t id, struct sale *s, struct problem *pb);

/** Units in no bucket yet (see the essay). */
int64_t flashsale_remaining(const struct sale *s);

/** scheduled | live | sold_out | ended, as clients see it at `now`. */
const char *flashsale_shown_status(const struct sale *s, int64_t now);

/** Units `user_id` bought in sale `sale_id`: in its orders that were not
 *  cancelled (a failed payment deletes its order). A failed read → its
 *  error in `pb`. */
enum shop_err flashsale_bought(struct db *db, int64_t sale_id, int64_t user_id, int64_t *bought,
                               struct problem *pb);

/** Ends a sale (inside a write): open admissions expire, unsold units go
 *  back to stock, flash_sale.ended. */
enum shop_err flashsale_end_sale(struct db *db, int64_t id, int64_t now, struct problem *pb);

#endif
