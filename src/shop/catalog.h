/* catalog.h — products, variants and the seller listing workflow
 * (CAT-2, CAT-4, CAT-5, OPS-1).
 *
 * A product belongs to one seller and one category and has 1–100 variants
 * (SKU, options, price, weight). Listing workflow (catalog_listing.c):
 *
 *     draft ──submit──► pending_review ──approve──► published
 *       ▲                    │  (trusted seller or admin: submit publishes)
 *       │                    └──reject──► rejected ──submit──► …
 *       └──────unpublish──── published ──reject (takedown)──► rejected
 *
 * Only published products are visible to shoppers; a seller sees and edits
 * only their own products; an admin sees and edits everything. Someone
 * else's product that the caller cannot see answers SHOP_NOT_FOUND; one they
 * can see but not change answers SHOP_FORBIDDEN.
 *
 * Every committed change writes a `product.changed` event (and
 * `price.changed` for a variant's price) in the same transaction, then calls
 * shop_product_changed() so caches and the search index follow.
 */
#ifndef SHOP_SHOP_CATALOG_H
#define SHOP_SHOP_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/account.h"
#include "shop/product_cache.h"
#include "util/arena.h"
#include "util/problem.h"

struct shop;
struct db;

enum product_status {
    PRODUCT_DRAFT = 0,
    PRODUCT_PENDING,
    PRODUCT_PUBLISHED,
    PRODUCT_REJECTED,
};

#define PRODUCT_TITLE_MAX       200
#define PRODUCT_DESCRIPTION_MAX 5000
#define PRODUCT_BRAND_MAX       100
#define PRODUCT_IMAGES_MAX      10
#define PRODUCT_SPECS_MAX       50
#define PRODUCT_VARIANTS_MAX    100
#define VARIANT_SKU_MAX         64
#define VARIANT_OPTIONS_MAX     10
#define PRICE_MAX_CENTS         100000000LL /* one million in major units */
/* A listed product's prices stay within [1, PRICE_SANE_MAX_CENTS]: submit
 * checks them (catalog_listing.c), and an edit of a listed product keeps to
 * what submit checked (catalog.c). */
#define PRICE_SANE_MAX_CENTS 10000000LL /* 100,000 in major units */
#define WEIGHT_MAX_GRAMS     1000000

/** True when a listed product (pending review or published) may carry a
 *  variant at `cents`: [1, PRICE_SANE_MAX_CENTS]. The one rule for submit,
 *  edits of a listed product and `shopd import products`. */
bool catalog_price_listable(int64_t cents);

const char *product_status_name(enum product_status s);
/** -1 when unknown. */
int product_status_parse(const char *s);

/** True when `currency` is an ISO 4217 code the shop accepts. */
bool catalog_currency_valid(const char *currency);

/** Creates a draft product with its variants for `who` (a seller or admin)
 *  from a request body. Errors name each bad field; a SKU already in use
 *  answers SHOP_CONFLICT naming it. *id gets the new product. */
enum shop_err catalog_create(struct shop *shop, const struct principal *who, json_t *body,
                             int64_t *id, struct problem *pb);

/** Applies a partial update (any creation field; `variants` items with an
 *  id update that variant, items without add one). */
enum shop_err catalog_update(struct shop *shop, const struct principal *who, int64_t id,
                             json_t *body, struct problem *pb);

/** Updates one variant {price_cents, sku, options, weight_grams}; *product_id
 *  gets its product. */
enum shop_err catalog_variant_update(struct shop *shop, const struct principal *who,
                                     int64_t variant_id, json_t *body, int64_t *product_id,
                                     struct problem *pb);

/** Workflow transitions (catalog_listing.c). Illegal ones answer SHOP_CONFLICT. */
enum shop_err catalog_submit(struct shop *shop, const struct principal *who, int64_t id,
                             struct problem *pb);
enum shop_err catalog_approve(struct shop *shop, const struct principal *who, int64_t id,
                              struct problem *pb);
enum shop_err catalog_reject(struct shop *shop, const struct principal *who, int64_t id,
                             const char *reason, struct problem *pb);
enum shop_err catalog_unpublish(struct shop *shop, const struct principal *who, int64_t id,
                                struct problem *pb);

/** The product page as `who` may see it: a new reference to the shared,
 *  rendered page (product_view.c), or SHOP_NOT_FOUND. */
enum shop_err catalog_page(struct shop *shop, const struct principal *who, int64_t id,
                           struct product_blob **out, struct problem *pb);

/** Products of one seller (or all, for an admin with seller_id 0), any
 *  status, newest first: {data:[summary], next_cursor}. */
enum shop_err catalog_list_for_seller(struct shop *shop, const struct principal *who,
                                      int64_t seller_id, int status, int limit, const char *cursor,
                                      json_t **out, struct problem *pb);

/* ---- shared by the catalog's files --------------------------------------- */

/** Reads a product's owner and status inside a write or read; checks that
 *  `who` may change it (SHOP_NOT_FOUND / SHOP_FORBIDDEN otherwise). */
enum shop_err catalog_check_owner(struct db *db, const struct principal *who, int64_t id,
                                  enum product_status *status, int64_t *seller_id,
                                  struct problem *pb);

#endif
