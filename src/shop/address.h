/* address.h — the address book (ACC-3).
 *
 * Required: name, line1, city, postal_code, country (ISO 3166-1 alpha-2).
 * Postal codes are checked against the country's format for US, CA, GB, DE,
 * IN, FR, AU and JP; other countries take any 1–16 characters. A user has at
 * most ADDRESS_MAX addresses and exactly one default once they have any.
 */
#ifndef SHOP_SHOP_ADDRESS_H
#define SHOP_SHOP_ADDRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/problem.h"

struct shop;
struct db;

#define ADDRESS_MAX 50

struct address {
    int64_t id, user_id;
    const char *name, *line1, *line2, *city, *region, *postal_code, *country, *phone;
    bool is_default;
    int64_t created_at;
};

/** Reads and validates an address from JSON. With `partial`, absent members
 *  keep the values already in `a` (PATCH). Errors name each bad field. */
enum shop_err address_from_json(json_t *o, bool partial, struct arena *ar, struct address *a,
                                struct problem *pb);

/** Validates a complete address (also used for a checkout's inline address). */
enum shop_err address_validate(const struct address *a, struct problem *pb);

json_t *address_to_json(const struct address *a);

enum shop_err address_list(struct shop *shop, struct arena *ar, int64_t user_id,
                           struct address **out, int *n, struct problem *pb);

/** One of the user's addresses; SHOP_NOT_FOUND for anyone else's. */
enum shop_err address_get(struct shop *shop, struct arena *ar, int64_t user_id, int64_t id,
                          struct address *out, struct problem *pb);

/** Same, inside a write function (on the writer's connection). */
enum shop_err address_read(struct db *db, struct arena *ar, int64_t user_id, int64_t id,
                           struct address *out, struct problem *pb);

/** Creates an address (validated); the first one becomes the default. */
enum shop_err address_create(struct shop *shop, struct arena *ar, int64_t user_id, json_t *body,
                             struct address *out, struct problem *pb);

/** Applies a partial update. */
enum shop_err address_update(struct shop *shop, struct arena *ar, int64_t user_id, int64_t id,
                             json_t *body, struct address *out, struct problem *pb);

/** Deletes; when it was the default, the newest remaining one takes over. */
enum shop_err address_delete(struct shop *shop, int64_t user_id, int64_t id, struct problem *pb);

/** True for an assigned ISO 3166-1 alpha-2 code (upper case). */
bool address_country_valid(const char *cc);

/** True when `postal` fits the country's format (any for other countries). */
bool address_postal_valid(const char *cc, const char *postal);

#endif
