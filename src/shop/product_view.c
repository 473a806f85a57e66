/* product_view.c — the product page (CAT-4): the product, its category,
 * its variants with live availability, its rating summary and its most
 * helpful reviews (shop/review.h: top_reviews), rendered once
 * into a shared blob and served from the product cache until the product
 * changes.
 *
 * A page is read in one read transaction (one snapshot), so the variants and
 * their stock always agree with each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/category.h"
#include "shop/review.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/buf.h"
#include "util/jsonx.h"

/* A page's bound: every field is bounded where it comes in (catalog.h),
 * so a page is tens of KB at most and no append comes near it; one that
 * did would fail, and the page with it (the check at the end of render). */
#define PAGE_MAX (16u << 20)

/* Appends stored JSON text (images, specs, a variant's options: written
 * compact by the catalog, the seed and the import) as compact JSON;
 * `fallback` when it does not parse. The common empty ones are copied. */
static void put_stored(struct buf *b, const char *text, const char *fallback)
{
    if (!strcmp(text, "[]") || !strcmp(text, "{}")) {
        buf_puts(b, text);
        return;
    }
    json_t *v = json_loads(text, 0, NULL);
    char *d = v ? jx_dump(v, NULL) : NULL;
    buf_puts(b, d ? d : fallback);
    free(d);
    json_decref(v);
}

static void put_time(struct buf *b, const char *key, int64_t ms)
{
    char ts[RFC3339_LEN];
    buf_puts(b, key);
    if (ms)
        buf_json_string(b, clock_fmt(ms, ts));
    else
        buf_puts(b, "null");
}

static void put_str(struct buf *b, const char *key, const char *v)
{
    buf_puts(b, key);
    buf_json_string(b, v);
}

static void put_int(struct buf *b, const char *key, int64_t v)
{
    buf_puts(b, key);
    buf_json_int(b, v);
}

/* Renders product `id` from the database. SHOP_NOT_FOUND when absent.
 *
 * Written straight into a buffer, member by member, in the order and
 * format the jansson tree it replaced printed (compact, the average with
 * one decimal): a tree for a page of ~1.3 KB was a fifth of the CPU of a
 * product page rendered from the database (issue 18: at a million
 * products most pages are, as the product cache holds 200,000). */
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

    struct buf b;
    buf_init(&b, PAGE_MAX);
    int64_t seller_id = stmt_i64(st, 0), category_id = stmt_i64(st, 1);
    int status = product_status_parse(stmt_text(st, 9));
    int64_t count = stmt_i64(st, 11), sum = stmt_i64(st, 12);
    put_int(&b, "{\"id\":", id);
    put_str(&b, ",\"title\":", stmt_text(st, 2));
    put_str(&b, ",\"description\":", stmt_text(st, 3));
    put_str(&b, ",\"brand\":", stmt_text(st, 4));
    put_int(&b, ",\"seller_id\":", seller_id);
    put_str(&b, ",\"currency\":", stmt_text(st, 5));
    buf_puts(&b, ",\"images\":");
    put_stored(&b, stmt_text(st, 6), "[]");
    buf_puts(&b, ",\"specs\":");
    put_stored(&b, stmt_text(st, 7), "{}");
    buf_puts(&b, stmt_i64(st, 8) ? ",\"returnable\":true" : ",\"returnable\":false");
    put_str(&b, ",\"status\":", stmt_text(st, 9));
    /* The average to one decimal, computed in integers. */
    int64_t avg10 = count ? (sum * 10 + count / 2) / count : 0;
    buf_printf(&b, ",\"rating\":{\"average\":%lld.%lld", (long long)(avg10 / 10),
               (long long)(avg10 % 10));
    put_int(&b, ",\"count\":", count);
    for (int k = 1; k <= 5; k++)
        buf_printf(&b, "%s\"%d\":%lld", k == 1 ? ",\"histogram\":{" : ",", k,
                   (long long)stmt_i64(st, 12 + k));
    buf_puts(&b, "}}");
    put_int(&b, ",\"sales_count\":", stmt_i64(st, 18));
    if (!stmt_is_null(st, 10))
        put_str(&b, ",\"review_note\":", stmt_text(st, 10));
    put_time(&b, ",\"created_at\":", stmt_i64(st, 19));
    put_time(&b, ",\"updated_at\":", stmt_i64(st, 20));
    put_time(&b, ",\"published_at\":", stmt_i64(st, 21));
    buf_puts(&b, stmt_i64(st, 22) ? ",\"allow_backorder\":true" : ",\"allow_backorder\":false");

    struct arena *a = arena_new();
    struct category c;
    put_int(&b, ",\"category\":{\"id\":", category_id);
    if (category_lookup(shop->categories, category_id, a, &c)) {
        put_str(&b, ",\"name\":", c.name);
        put_str(&b, ",\"slug\":", c.slug);
        put_str(&b, ",\"path\":", c.slug_path);
    }
    buf_puts(&b, "}");
    arena_free(a);

    st = db_prepare(db, "SELECT v.id, v.sku, v.options, v.price_cents, v.weight_grams,"
                        " coalesce(sum(s.on_hand - s.reserved), 0)"
                        " FROM variants v LEFT JOIN stock s ON s.variant_id = v.id"
                        " WHERE v.product_id = ? GROUP BY v.id ORDER BY v.position, v.id");
    if (!st) {
        buf_free(&b);
        return db_fail(db, pb, "reading the variants");
    }
    stmt_bind_i64(st, 1, id);
    buf_puts(&b, ",\"variants\":[");
    int64_t min_price = -1, available_total = 0;
    for (int n = 0; stmt_step(st) == STMT_ROW; n++) {
        int64_t price = stmt_i64(st, 3), available = stmt_i64(st, 5);
        put_int(&b, n ? ",{\"id\":" : "{\"id\":", stmt_i64(st, 0));
        put_str(&b, ",\"sku\":", stmt_text(st, 1));
        buf_puts(&b, ",\"options\":");
        put_stored(&b, stmt_text(st, 2), "{}");
        put_int(&b, ",\"price_cents\":", price);
        put_int(&b, ",\"weight_grams\":", stmt_i64(st, 4));
        put_int(&b, ",\"available\":", available);
        buf_puts(&b, available > 0 ? ",\"in_stock\":true}" : ",\"in_stock\":false}");
        if (min_price < 0 || price < min_price)
            min_price = price;
        available_total += available;
    }
    buf_puts(&b, "]");
    put_int(&b, ",\"price_cents\":", min_price < 0 ? 0 : min_price);
    put_int(&b, ",\"available\":", available_total);
    buf_puts(&b, available_total > 0 ? ",\"in_stock\":true" : ",\"in_stock\":false");

    /* Reviews change the page through shop_product_changed like any other
     * change to the product, so they are part of the blob. */
    struct review top[REVIEW_TOP];
    struct arena *ra = arena_new();
    int ntop = review_top(db, ra, id, top, REVIEW_TOP);
    buf_puts(&b, ",\"top_reviews\":[");
    for (int i = 0; i < ntop; i++) {
        json_t *rv = review_json(&top[i], false);
        char *d = jx_dump(rv, NULL);
        json_decref(rv);
        if (i)
            buf_puts(&b, ",");
        buf_puts(&b, d ? d : "null");
        free(d);
    }
    arena_free(ra);
    if (ntop < 0) {
        buf_free(&b);
        return db_fail(db, pb, "reading the top reviews");
    }
    if (!buf_puts(&b, "]}") || b.len > PAGE_MAX / 2) {
        buf_free(&b);
        return problem_set(pb, SHOP_INTERNAL, "cannot render the product");
    }
    *out = product_blob_new(id, seller_id, status, b.data, b.len);
    buf_free(&b);
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
        uint64_t failed = store_thread_read_failures();
        db_read_begin(db);
        enum shop_err e = render(shop, db, id, &b, pb);
        db_read_end(db);
        if (e == SHOP_OK && store_thread_read_failures() != failed) {
            /* A page rendered past a failed read (its variants cut short)
             * would be served from the cache until the product changed. */
            product_blob_unref(b);
            e = problem_set(pb, SHOP_INTERNAL, "database error while reading the product");
        }
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
