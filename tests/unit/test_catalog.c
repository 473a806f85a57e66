/* Unit tests for the catalog's pieces: slugs, the category tree, the
 * product cache's invalidation race guard, the seeder. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "shop/category.h"
#include "shop/product_cache.h"
#include "shop/seed.h"
#include "store/store.h"

Test(category, slugify)
{
    char out[64];
    category_slugify("Home & Kitchen", out, sizeof out);
    cr_assert_str_eq(out, "home-kitchen");
    category_slugify("  Men's T-Shirts ", out, sizeof out);
    cr_assert_str_eq(out, "men-s-t-shirts");
    category_slugify("日本", out, sizeof out);
    cr_assert_str_eq(out, "category");
}

Test(product_cache, invalidation_wins_over_a_stale_render)
{
    struct product_cache *c = product_cache_new(100);
    uint64_t gen = product_cache_generation(c, 7);
    struct product_blob *stale = product_blob_new(7, 1, 2, "{\"v\":1}", 7);
    product_cache_invalidate(c, 7); /* a change commits while we render */
    product_cache_put(c, stale, gen);
    cr_assert_null(product_cache_get(c, 7), "a page rendered before the change is not cached");
    product_blob_unref(stale);

    gen = product_cache_generation(c, 7);
    struct product_blob *fresh = product_blob_new(7, 1, 2, "{\"v\":2}", 7);
    product_cache_put(c, fresh, gen);
    struct product_blob *got = product_cache_get(c, 7);
    cr_assert_eq(got, fresh);
    cr_assert_str_eq(got->etag, fresh->etag);
    product_blob_unref(got);
    product_blob_unref(fresh);
    product_cache_free(c);
}

Test(product_cache, buckets_grow_with_the_pages_held)
{
    /* A cache sized for a million-product catalog: chains stay short. */
    struct product_cache *c = product_cache_new(1000000);
    for (int64_t id = 1; id <= 300000; id++) {
        struct product_blob *b = product_blob_new(id, 1, 2, "{}", 2);
        product_cache_put(c, b, product_cache_generation(c, id));
        product_blob_unref(b);
    }
    struct product_cache_stats st;
    product_cache_stats(c, &st);
    cr_assert_eq(st.entries, 300000);
    cr_assert_geq(st.buckets, st.entries, "%llu buckets", (unsigned long long)st.buckets);
    for (int64_t id = 1; id <= 300000; id += 9973) {
        struct product_blob *b = product_cache_get(c, id);
        cr_assert_not_null(b);
        cr_assert_eq(b->id, id);
        product_blob_unref(b);
    }
    product_cache_free(c);
}

Test(product_cache, etag_follows_content_and_size_is_bounded)
{
    struct product_blob *a = product_blob_new(1, 1, 2, "{\"a\":1}", 7);
    struct product_blob *b = product_blob_new(1, 1, 2, "{\"a\":2}", 7);
    cr_assert_str_neq(a->etag, b->etag);
    product_blob_unref(a);
    product_blob_unref(b);

    struct product_cache *c = product_cache_new(64);
    for (int64_t id = 1; id <= 5000; id++) {
        struct product_blob *x = product_blob_new(id, 1, 2, "{}", 2);
        product_cache_put(c, x, product_cache_generation(c, id));
        product_blob_unref(x);
    }
    struct product_cache_stats st;
    product_cache_stats(c, &st);
    cr_assert_leq(st.entries, 128, "bounded (%llu entries)", (unsigned long long)st.entries);
    product_cache_free(c);
}

Test(seed, builds_a_consistent_shop)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    struct seed_opts o = {.products = 300, .users = 40, .rng_seed = 7};
    struct seed_report rep;
    bool empty = false;
    cr_assert_eq(seed_shop_is_empty(shop, &empty, &pb), SHOP_OK);
    cr_assert(empty);
    cr_assert_eq(seed_run(shop, &o, &rep, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(rep.products, 300);
    cr_assert_eq(rep.users, 40);
    cr_assert_eq(rep.warehouses, 3);
    cr_assert_gt(rep.categories, 80);
    cr_assert_geq(rep.variants, 300);
    struct db *db = store_db(shop->store);
    /* every variant has stock in every warehouse; products sit in leaves */
    cr_assert_eq(db_scalar_i64(db, "SELECT count(*) FROM stock WHERE ? > 0", 1, -1),
                 rep.variants * 3);
    cr_assert_eq(db_scalar_i64(db, "SELECT count(*) FROM products p WHERE EXISTS (SELECT 1 FROM"
                                   " categories c WHERE c.parent_id = p.category_id) AND ? > 0",
                               1, -1),
                 0);
    db_release(db);
    /* seeding again adds products, not duplicate categories or users */
    cr_assert_eq(seed_shop_is_empty(shop, &empty, &pb), SHOP_OK);
    cr_assert_not(empty);
    cr_assert_eq(seed_run(shop, &o, &rep, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(rep.categories, 0);
    cr_assert_eq(rep.users, 0);
    test_shop_close(shop);
}
