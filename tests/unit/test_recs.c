/* Unit tests for recommendations: the scoring math (recs/score.h) by hand,
 * the model (recs/recs.c) fed rows directly, without a database, and the
 * retention of rec_events. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "recs/engine.h"
#include "recs/recs.h"
#include "recs/score.h"
#include "util/arena.h"
#include "store/store.h"
#include "util/clock.h"
#include "work/housekeeping.h"

#define NEAR(a, b) cr_assert(fabs((a) - (b)) < 1e-9, "%g != %g", (double)(a), (double)(b))

Test(recs_score, confidence_lift_cosine)
{
    /* 50 orders hold A, 20 of them B; B is in 20 of 200 orders. */
    NEAR(recs_confidence(20, 50), 0.4);
    NEAR(recs_lift(20, 50, 20, 200), 4.0);
    /* A best-seller in 120 of 200 orders, with A in 30: independent. */
    NEAR(recs_lift(30, 50, 120, 200), 1.0);
    NEAR(recs_cosine(20, 50, 20), 20 / sqrt(1000.0));
    NEAR(recs_confidence(3, 0), 0);
    NEAR(recs_lift(3, 0, 5, 10), 0);
    NEAR(recs_cosine(1, 0, 1), 0);
}

Test(recs_score, forward_decay_halves_per_half_life)
{
    int64_t h = 3600000;
    NEAR(recs_decay(0, 0, h), 1.0);
    NEAR(recs_decay(h, 0, h), 2.0);
    NEAR(recs_decay(-2 * h, 0, h), 0.25);
    /* The ratio of two events' weights is what their ages say. */
    NEAR(recs_decay(5 * h, 0, h) / recs_decay(4 * h, 0, h), 2.0);
}

Test(recs_score, weights_and_diversity)
{
    cr_assert(recs_kind_weight(RECS_PURCHASE) > recs_kind_weight(RECS_CART));
    cr_assert(recs_kind_weight(RECS_CART) > recs_kind_weight(RECS_VIEW));
    NEAR(recs_diversity_factor(0), 1.0);
    NEAR(recs_diversity_factor(2), 0.49);
}

Test(recs_score, content_similarity)
{
    uint32_t a[] = {1, 2, 3}, b[] = {2, 3, 4}, c[] = {9};
    /* Same category, same brand, same price, 2 of 4 terms shared. */
    NEAR(recs_content_score(true, true, 1000, 1000, a, 3, b, 3), 3.5);
    /* A factor of 2 in price is half-way to none (log scale, 4× = 0). */
    NEAR(recs_content_score(false, false, 1000, 2000, a, 3, c, 1), 0.5);
    NEAR(recs_content_score(false, false, 1000, 4000, a, 3, c, 1), 0.0);
}

static struct recs *model_kept(size_t page_bytes_max)
{
    struct recs *r = recs_new(&(struct recs_config){.min_support = 3,
                                                    .half_life_ms = 3600000,
                                                    .history_ms = 86400000,
                                                    .page_bytes_max = page_bytes_max},
                              NULL);
    for (int id = 1; id <= 400; id++) {
        char title[32];
        snprintf(title, sizeof title, "Item %d", id);
        recs_put_product(r, &(struct prod_src){.id = id, .category_id = 1 + id % 3,
                                                .price = 1000 + id, .title = title,
                                                .brand = "Acme", .currency = "USD",
                                                .published = true, .in_stock = true});
    }
    return r;
}

static struct recs *model(void)
{
    return model_kept(0);
}

static void order(struct recs *r, int64_t order_id, int64_t user, const int64_t *pids, int n)
{
    struct recs_row rows[8];
    for (int i = 0; i < n; i++)
        rows[i] = (struct recs_row){.kind = RECS_PURCHASE, .user_key = user,
                                    .product_id = pids[i], .order_id = order_id,
                                    .at = clock_now_ms()};
    recs_apply_rows(r, rows, n, true);
}

Test(recs_model, bought_together_ranks_by_lift_above_support)
{
    struct recs *r = model();
    int64_t o = 1;
    for (int i = 0; i < 50; i++) {
        int64_t basket[4] = {1};
        int n = 1;
        if (i < 20)
            basket[n++] = 2; /* B with A in 40 % */
        if (i < 2)
            basket[n++] = 4; /* D: below support */
        if (i % 5 < 3)
            basket[n++] = 3; /* C, the best-seller */
        order(r, o++, 100 + i, basket, n);
    }
    for (int i = 0; i < 90; i++)
        order(r, o++, 500 + i, (int64_t[]){3, 10 + i % 5}, 2);
    for (int i = 0; i < 60; i++)
        order(r, o++, 700 + i, (int64_t[]){20 + i % 5}, 1);
    struct arena *a = arena_new();
    struct recs_item it[10];
    int n = recs_bought_together(r, 1, 10, a, it);
    cr_assert_geq(n, 2);
    cr_assert_eq(it[0].product_id, 2);
    NEAR(it[0].score, 0.4);
    NEAR(it[0].lift, 4.0);
    for (int i = 0; i < n; i++) {
        cr_assert_neq(it[i].product_id, 4, "below the minimum support");
        if (it[i].product_id == 3)
            NEAR(it[i].lift, 1.0);
    }
    /* A user's personal list never holds what they bought. */
    n = recs_personal(r, 100, 10, a, it);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++)
        cr_assert(it[i].product_id != 1 && it[i].product_id != 2 && it[i].product_id != 3);
    arena_free(a);
    recs_free(r);
}

Test(recs_model, neighbour_tables_keep_heavy_hitters_in_bounded_memory)
{
    struct recs *r = model();
    /* Product 1 is bought with 300 others once each, and with 2 often. */
    int64_t o = 1;
    for (int i = 0; i < 10; i++)
        order(r, o++, 1, (int64_t[]){1, 2}, 2);
    for (int i = 0; i < 300; i++)
        order(r, o++, 1, (int64_t[]){1, 50 + i}, 2);
    uint32_t s = 0; /* product 1 took the first slot */
    cr_assert_leq(r->p[s].buys->cap, NB_MAX_CAP);
    cr_assert_leq(r->p[s].buys->n * 4, r->p[s].buys->cap * 3);
    struct arena *a = arena_new();
    struct recs_item it[5];
    int n = recs_bought_together(r, 1, 5, a, it);
    cr_assert_geq(n, 1);
    cr_assert_eq(it[0].product_id, 2);
    arena_free(a);
    recs_free(r);
}

Test(recs_model, sessions_pair_views_within_thirty_minutes)
{
    struct recs *r = model();
    int64_t t = clock_now_ms();
    struct recs_row rows[] = {
        {.kind = RECS_VIEW, .user_key = 9, .product_id = 5, .at = t},
        {.kind = RECS_VIEW, .user_key = 9, .product_id = 6, .at = t + 60000},
        {.kind = RECS_VIEW, .user_key = 9, .product_id = 7, .at = t + 60000 + 31 * 60000},
    };
    recs_apply_rows(r, rows, 3, true);
    struct arena *a = arena_new();
    struct recs_item it[3];
    int n = recs_also_viewed(r, 5, 3, a, it);
    cr_assert_geq(n, 1);
    cr_assert_eq(it[0].product_id, 6);
    for (int i = 0; i < n; i++)
        cr_assert_neq(it[i].product_id, 7, "7 is another session");
    /* Unavailable products leave the lists at once. */
    recs_put_product(r, &(struct prod_src){.id = 6, .category_id = 1, .price = 1006,
                                            .title = "Item 6", .brand = "Acme",
                                            .currency = "USD", .published = true,
                                            .in_stock = false});
    n = recs_also_viewed(r, 5, 3, a, it);
    for (int i = 0; i < n; i++)
        cr_assert_neq(it[i].product_id, 6);
    arena_free(a);
    recs_free(r);
}

/* ---- retention (housekeeping → recs_purge) ------------------------------------------- */

struct ev_fill {
    int n;
    int64_t at;
};

static enum shop_err ev_fill_write(struct db *db, void *arg, struct problem *pb)
{
    const struct ev_fill *j = arg;
    for (int i = 0; i < j->n; i++) {
        struct stmt *st = db_prepare(db, "INSERT INTO rec_events (kind, user_key, product_id,"
                                         " created_at) VALUES (1, 7, ?, ?)");
        stmt_bind_i64(st, 1, 1 + i % 50);
        stmt_bind_i64(st, 2, j->at - i);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "insert");
    }
    return SHOP_OK;
}

static int64_t rec_rows(struct shop *shop, int64_t before)
{
    struct db *db = store_db(shop->store);
    int64_t n = db_scalar_i64(db, "SELECT count(*) FROM rec_events WHERE created_at < ?", before,
                              -1);
    db_release(db);
    return n;
}

Test(recs_retention, housekeeping_purges_events_beyond_the_history_in_chunks)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    int64_t day = 86400000LL, now = clock_now_ms();
    shop->cfg.recs_history_days = 30;
    struct ev_fill old = {.n = 2 * RECS_PURGE_CHUNK + 17, .at = now - 31 * day};
    struct ev_fill recent = {.n = 300, .at = now - 29 * day};
    cr_assert_eq(store_write(shop->store, ev_fill_write, &old, &pb), SHOP_OK);
    cr_assert_eq(store_write(shop->store, ev_fill_write, &recent, &pb), SHOP_OK);
    cr_assert_eq(rec_rows(shop, now - 30 * day), old.n);

    /* One chunk at a time when asked for one. */
    int64_t deleted = -1;
    cr_assert_eq(recs_purge(shop->store, now - 30 * day, 1, &deleted, &pb), SHOP_OK);
    cr_assert_eq(deleted, RECS_PURGE_CHUNK);
    cr_assert_eq(rec_rows(shop, now - 30 * day), old.n - RECS_PURGE_CHUNK);

    /* Housekeeping takes the rest; what the model still reads stays. */
    housekeeping_run_once(shop);
    cr_assert_eq(rec_rows(shop, now - 30 * day), 0, "events past the history were purged");
    cr_assert_eq(rec_rows(shop, now + day), recent.n, "the history is kept");
    test_shop_close(shop);
}

Test(recs_model, kept_pages_stay_within_their_budget)
{
    size_t budget = 16 << 10;
    struct recs *r = model_kept(budget);
    char text[1000];
    memset(text, 'x', sizeof text);
    for (int id = 1; id <= 100; id++) {
        struct recs_page_ver ver;
        cr_assert_null(recs_page_get(r, id, 42, &ver));
        recs_page_release(recs_page_put(r, id, &ver, text, sizeof text, 7));
        struct recs_stats st;
        recs_stats(r, &st);
        cr_assert_leq(st.page_bytes, budget, "page %d: %llu bytes kept", id,
                      (unsigned long long)st.page_bytes);
        cr_assert_geq(st.page_bytes, sizeof text, "the newest page is kept");
    }
    struct recs_page_ver ver;
    struct recs_page *p = recs_page_get(r, 100, 42, &ver);
    cr_assert_not_null(p, "the newest page is served from memory");
    size_t len;
    uint32_t tag;
    cr_assert_eq(recs_page_text(p, &len, &tag)[0], 'x');
    cr_assert_eq(len, sizeof text);
    cr_assert_eq(tag, 7);
    recs_page_release(p);
    cr_assert_null(recs_page_get(r, 1, 42, &ver), "the oldest gave way");
    recs_free(r);
}
