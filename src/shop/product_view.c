/* product_view.c — the product page (CAT-4): the product, its category,
 * its variants with live availability, its rating summary and its most
 * helpful reviews (shop/review.h: top_reviews), rendered once
 * into a shared blob and served from the product cache until the product
 * changes.
 *
 * A page is read in one read transaction (one snapshot), so the variants and
 * their stock always agree with each other.
 */
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/category.h"
#include "shop/review.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"

static json_t *parse_or(const char *text, json_t *fallback)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        return fallback;
    json_decref(fallback);
    return v;
}

static json_t *time_or_null(int64_t ms)
{
    char ts[RFC3339_LEN];
    return ms ? json_string(clock_fmt(ms, ts)) : json_null();
}

/* Renders product `id` from the database. SHOP_NOT_FOUND when absent. */
static enum shop_err render(struct shop *shop, struct db *db, int64_t id, struct product_blob **out,
                            struct problem *pb)
{
    struct stmt *st = db_prepare(
        db, "SELECT seller_id, category_id, title, description, brand, currency, images, specs,"
            " returnable, status, review_note, rating_count, rating_sum, rating_1, rating_2,"
            " rating_3, rating_4, rating_5, sales_count, created_at, updated_at, published_at,"
            " allow_backorder FROM products WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the product");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)id);

    int64_t seller_id = stmt_i64(st, 0), category_id = stmt_i64(st, 1);
    int status = product_status_parse(stmt_text(st, 9));
    int64_t count = stmt_i64(st, 11), sum = stmt_i64(st, 12);
    json_t *hist = json_object();
    for (int k = 1; k <= 5; k++) {
        char key[2] = {(char)('0' + k), 0};
        json_object_set_new(hist, key, json_integer(stmt_i64(st, 12 + k)));
    }
    /* The average to one decimal, computed in integers. */
    double average = count ? (double)((sum * 10 + count / 2) / count) / 10.0 : 0.0;
    json_t *p = json_pack(
        "{s:I, s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:b, s:s, s:{s:f, s:I, s:o}, s:I}", "id",
        (json_int_t)id, "title", stmt_text(st, 2), "description", stmt_text(st, 3), "brand",
        stmt_text(st, 4), "seller_id", (json_int_t)seller_id, "currency", stmt_text(st, 5),
        "images", parse_or(stmt_text(st, 6), json_array()), "specs",
        parse_or(stmt_text(st, 7), json_object()), "returnable", (int)stmt_i64(st, 8), "status",
        stmt_text(st, 9), "rating", "average", average, "count", (json_int_t)count, "histogram",
        hist, "sales_count", (json_int_t)stmt_i64(st, 18));
    if (!stmt_is_null(st, 10))
        json_object_set_new(p, "review_note", json_string(stmt_text(st, 10)));
    json_object_set_new(p, "created_at", time_or_null(stmt_i64(st, 19)));
    json_object_set_new(p, "updated_at", time_or_null(stmt_i64(st, 20)));
    json_object_set_new(p, "published_at", time_or_null(stmt_i64(st, 21)));
    json_object_set_new(p, "allow_backorder", json_boolean(stmt_i64(st, 22) != 0));

    struct arena *a = arena_new();
    struct category c;
    if (category_lookup(shop->categories, category_id, a, &c))
        json_object_set_new(p, "category",
                            json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)c.id, "name",
                                      c.name, "slug", c.slug, "path", c.slug_path));
    else
        json_object_set_new(p, "category", json_pack("{s:I}", "id", (json_int_t)category_id));
    arena_free(a);

    st = db_prepare(db, "SELECT v.id, v.sku, v.options, v.price_cents, v.weight_grams,"
                        " coalesce(sum(s.on_hand - s.reserved), 0)"
                        " FROM variants v LEFT JOIN stock s ON s.variant_id = v.id"
                        " WHERE v.product_id = ? GROUP BY v.id ORDER BY v.position, v.id");
    if (!st) {
        json_decref(p);
        return db_fail(db, pb, "reading the variants");
    }
    stmt_bind_i64(st, 1, id);
    json_t *variants = json_array();
    int64_t min_price = -1, available_total = 0;
    while (stmt_step(st) == STMT_ROW) {
        int64_t price = stmt_i64(st, 3), available = stmt_i64(st, 5);
        json_array_append_new(
            variants, json_pack("{s:I, s:s, s:o, s:I, s:I, s:I, s:b}", "id",
                                (json_int_t)stmt_i64(st, 0), "sku", stmt_text(st, 1), "options",
                                parse_or(stmt_text(st, 2), json_object()), "price_cents",
                                (json_int_t)price, "weight_grams", (json_int_t)stmt_i64(st, 4),
                                "available", (json_int_t)available, "in_stock", available > 0));
        if (min_price < 0 || price < min_price)
            min_price = price;
        available_total += available;
    }
    json_object_set_new(p, "variants", variants);
    json_object_set_new(p, "price_cents", json_integer(min_price < 0 ? 0 : min_price));
    json_object_set_new(p, "available", json_integer(available_total));
    json_object_set_new(p, "in_stock", json_boolean(available_total > 0));

    /* Reviews change the page through shop_product_changed like any other
     * change to the product, so they are part of the blob. */
    struct review top[REVIEW_TOP];
    struct arena *ra = arena_new();
    int ntop = review_top(db, ra, id, top, REVIEW_TOP);
    json_t *tops = json_array();
    for (int i = 0; i < ntop; i++)
        json_array_append_new(tops, review_json(&top[i], false));
    arena_free(ra);
    json_object_set_new(p, "top_reviews", tops);
    if (ntop < 0) {
        json_decref(p);
        return db_fail(db, pb, "reading the top reviews");
    }

    size_t len;
    char *text = jx_dump(p, &len);
    json_decref(p);
    if (!text)
        return problem_set(pb, SHOP_INTERNAL, "cannot render the product");
    *out = product_blob_new(id, seller_id, status, text, len);
    free(text);
    return SHOP_OK;
}

static bool may_see(const struct principal *who, const struct product_blob *b)
{
    return b->status == PRODUCT_PUBLISHED || who->role == ROLE_ADMIN ||
           (who->role == ROLE_SELLER && who->user_id == b->seller_id);
}

enum shop_err catalog_page(struct shop *shop, const struct principal *who, int64_t id,
                           struct product_blob **out, struct problem *pb)
{
    struct product_blob *b = product_cache_get(shop->products, id);
    if (!b) {
        uint64_t gen = product_cache_generation(shop->products, id);
        struct db *db = store_db(shop->store);
        db_read_begin(db);
        enum shop_err e = render(shop, db, id, &b, pb);
        db_read_end(db);
        if (e != SHOP_OK)
            return e;
        product_cache_put(shop->products, b, gen);
    }
    if (!may_see(who, b)) {
        product_blob_unref(b);
        return problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)id);
    }
    *out = b;
    return SHOP_OK;
}
