/* The search snapshot's format (src/search/snapshot_int.h): an index saved and
 * read back answers every query as the original does and has the same
 * figures; a file damaged anywhere — bytes flipped, cut short, with its
 * checksums recomputed so that the damage reaches the parser — is refused
 * or read, never a crash (this runs under ASan and UBSan), and a refused
 * one leaves the live index as it was.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "search/engine.h"
#include "search/index.h"
#include "search/search.h"
#include "shop/changes.h"
#include "store/store.h"
#include "util/arena.h"

#define NPROD 3000
#define NCATS 7

static const char *vocab[] = {"wireless", "compact", "premium", "kettle", "lamp",   "speaker",
                              "camera",   "tripod",  "desk",    "chair",  "coffee", "steel",
                              "travel",   "office",  "gaming",  "mini",   "pro",    "bluetooth"};
#define NVOCAB (int)(sizeof vocab / sizeof vocab[0])

static uint32_t rng = 18;
static uint32_t rnd(uint32_t n)
{
    rng = rng * 1103515245u + 12345u;
    return ((rng >> 8) & 0xFFFFFF) % n;
}

static enum shop_err w_catalog(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    if (test_put_seller_and_warehouse(db, pb) != SHOP_OK)
        return pb->err;
    for (int c = 1; c <= NCATS; c++) {
        char name[32];
        snprintf(name, sizeof name, "%s things", vocab[c]);
        int64_t parent = c == 1 ? 0 : c <= 3 ? 1 : 2 + c % 2;
        if (test_put_category(db, c, parent, name, pb) != SHOP_OK)
            return pb->err;
    }
    for (int64_t id = 1; id <= NPROD; id++) {
        char title[128], desc[256];
        int len = 0;
        for (int w = 0, n = 2 + (int)rnd(3); w < n; w++)
            len += snprintf(title + len, sizeof title - (size_t)len, "%s%s", w ? " " : "",
                            vocab[rnd(NVOCAB)]);
        len = 0;
        for (int w = 0, n = 3 + (int)rnd(6); w < n; w++)
            len += snprintf(desc + len, sizeof desc - (size_t)len, "%s ", vocab[rnd(NVOCAB)]);
        struct stmt *st = db_prepare(
            db, "INSERT INTO products (id, seller_id, category_id, title, description, brand,"
                " currency, images, status, rating_sum, rating_count, sales_count, created_at,"
                " updated_at) VALUES (?, 1, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?, ?, 0)");
        stmt_bind_i64(st, 1, id);
        stmt_bind_i64(st, 2, 1 + rnd(NCATS));
        stmt_bind_text(st, 3, title);
        stmt_bind_text(st, 4, desc);
        stmt_bind_text(st, 5, rnd(2) ? "Acme" : "Zenith Crème");
        stmt_bind_text(st, 6, rnd(2) ? "[]" : "[\"https://img.example/a.jpg\"]");
        stmt_bind_text(st, 7, rnd(10) ? "published" : "draft");
        stmt_bind_i64(st, 8, rnd(20));
        stmt_bind_i64(st, 9, rnd(5));
        stmt_bind_i64(st, 10, rnd(4) * 10);
        stmt_bind_i64(st, 11, 1700000000000LL + rnd(300) * 1000);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "product");
        char sku[32];
        snprintf(sku, sizeof sku, "P%lld", (long long)id);
        int64_t price = 500 + rnd(200) * 997; /* before on_hand: rnd() is one sequence */
        int64_t on_hand = rnd(3);
        if (test_put_variant(db, id, id, sku, price, on_hand, 0, pb) != SHOP_OK)
            return pb->err;
    }
    return SHOP_OK;
}

static struct shop *shop;
static char path[4200];

static void setup(void)
{
    shop = test_shop_open();
    struct problem pb = {0};
    cr_assert_eq(store_write(shop->store, w_catalog, NULL, &pb), SHOP_OK, "%s", pb.detail);
    shop_catalog_reloaded(shop); /* the index built from the catalog */
    snprintf(path, sizeof path, "%s.unit-snapshot", test_db_path());
    struct search_stamp st = {.txid = 7, .id = 42, .event_check = 99, .schema = 3};
    cr_assert_eq(search_snapshot_save(shop->search, path, &st, NULL, &pb), SHOP_OK, "%s",
                 pb.detail);
}

static void teardown(void)
{
    remove(path);
    test_shop_close(shop);
}

/* Everything an answer shows, as text. */
static void render(struct search *s, const struct search_params *p, char *out, size_t cap)
{
    struct arena *a = arena_new();
    struct search_result r;
    struct problem pb = {0};
    cr_assert_eq(search_query(s, p, a, &r, &pb), SHOP_OK, "%s", pb.detail);
    size_t n = (size_t)snprintf(out, cap, "total %lld next %s corr %s |", (long long)r.total,
                                r.next_cursor ? r.next_cursor : "-",
                                r.corrected_query ? r.corrected_query : "-");
    for (int i = 0; i < r.nitems && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " %lld:%s:%s:%lld:%d", (long long)r.items[i].id,
                              r.items[i].title, r.items[i].image ? r.items[i].image : "-",
                              (long long)r.items[i].price_cents, r.items[i].in_stock);
    for (int i = 0; i < r.nbrands && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " b%s=%lld", r.brands[i].value,
                              (long long)r.brands[i].count);
    for (int i = 0; i < r.ncategories && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " c%lld=%lld", (long long)r.categories[i].id,
                              (long long)r.categories[i].count);
    for (int i = 0; i < r.nprices && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " p%lld", (long long)r.prices[i].count);
    arena_free(a);
}

static void same_answers(struct search *a, struct search *b)
{
    static char x[65536], y[65536];
    static const enum search_sort sorts[] = {SEARCH_SORT_RELEVANCE, SEARCH_SORT_POPULARITY,
                                             SEARCH_SORT_PRICE_ASC, SEARCH_SORT_NEWEST,
                                             SEARCH_SORT_RATING};
    const char *queries[] = {"", "kettle", "wireless lamp", "cof", "camra", "steel pro", "zenith"};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        for (int c = 0; c <= NCATS; c += 2)
            for (size_t o = 0; o < sizeof sorts / sizeof *sorts; o++) {
                struct search_params p = {.q = queries[q],
                                          .category_id = c,
                                          .sort = !*queries[q] && !o ? SEARCH_SORT_POPULARITY
                                                                     : sorts[o],
                                          .limit = 50,
                                          .facets = true};
                render(a, &p, x, sizeof x);
                render(b, &p, y, sizeof y);
                cr_assert_str_eq(x, y, "q=%s category=%d sort=%d", queries[q], c, (int)p.sort);
            }
}

Test(search_snapshot, read_back_answers_as_the_original)
{
    setup();
    struct search *s2 = search_new();
    struct search_stamp st;
    struct search_snapshot_info info;
    struct problem pb = {0};
    cr_assert_eq(search_snapshot_load(s2, path, &st, &info, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert(st.txid == 7 && st.id == 42 && st.event_check == 99 && st.schema == 3);
    struct search_stats a, b;
    search_stats(shop->search, &a);
    search_stats(s2, &b);
    cr_assert_eq(a.products, b.products);
    cr_assert_eq(a.terms, b.terms);
    cr_assert_eq(a.words, b.words);
    cr_assert_leq(b.bytes, a.bytes, "a loaded index holds no more than the built one");
    same_answers(shop->search, s2);
    search_free(s2);
    teardown();
}

Test(search_snapshot, damage_is_refused_or_read_never_a_crash)
{
    setup();
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *good = malloc((size_t)size);
    cr_assert_eq(fread(good, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    struct search *s2 = search_new();
    int refused = 0, rounds = 300;
    for (int i = 0; i < rounds; i++) {
        long len = size;
        unsigned char *d = malloc((size_t)size);
        memcpy(d, good, (size_t)size);
        if (i % 3 == 0) {
            len = 200 + (long)rnd((uint32_t)(size - 200)); /* cut short */
        } else {
            for (int k = 0, n = 1 + (int)rnd(4); k < n; k++)
                d[200 + rnd((uint32_t)(size - 200))] ^= (unsigned char)(1u << rnd(8));
        }
        f = fopen(path, "wb");
        fwrite(d, 1, (size_t)len, f);
        fclose(f);
        free(d);
        struct problem pb = {0};
        if (i % 2)
            cr_assert_eq(search_snapshot_reseal(path, &pb), SHOP_OK, "%s", pb.detail);
        struct search_stamp st;
        enum shop_err e = search_snapshot_load(s2, path, &st, NULL, &pb);
        cr_assert(e == SHOP_OK || e == SHOP_INVALID, "%d %s", (int)e, pb.detail);
        refused += e != SHOP_OK;
        problem_clear(&pb);
    }
    cr_assert_geq(refused, rounds / 2, "unsealed damage is always refused");
    /* A refusal leaves the index it had: load the good file, then a bad one. */
    f = fopen(path, "wb");
    fwrite(good, 1, (size_t)size, f);
    fclose(f);
    struct problem pb = {0};
    struct search_stamp st;
    cr_assert_eq(search_snapshot_load(s2, path, &st, NULL, &pb), SHOP_OK, "%s", pb.detail);
    f = fopen(path, "wb");
    fwrite(good, 1, (size_t)size / 2, f);
    fclose(f);
    cr_assert_eq(search_snapshot_load(s2, path, &st, NULL, &pb), SHOP_INVALID);
    problem_clear(&pb);
    same_answers(shop->search, s2);
    search_free(s2);
    free(good);
    teardown();
}

static enum shop_err w_longer(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    struct stmt *st = db_prepare(db, "UPDATE products SET description = description ||"
                                     " ' steel desk lamp' WHERE id = (SELECT min(id) FROM"
                                     " products WHERE status = 'published')");
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "longer");
}

/* A loaded index caught up with a change too small to move the averages
 * scores use (derived.c: BM_DRIFT) scores, once settled, as a fresh build
 * of the same catalog does: same averages, same answers. */
Test(search_snapshot, caught_up_and_settled_scores_as_a_fresh_build)
{
    setup();
    struct search *s2 = search_new(), *fresh = search_new();
    struct search_stamp st;
    struct problem pb = {0};
    cr_assert_eq(search_snapshot_load(s2, path, &st, NULL, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(store_write(shop->store, w_longer, NULL, &pb), SHOP_OK, "%s", pb.detail);
    struct db *db = store_db(shop->store);
    struct stmt *q = db_prepare(db, "SELECT min(id) FROM products WHERE status = 'published'");
    cr_assert_eq(stmt_step(q), STMT_ROW);
    int64_t id = stmt_i64(q, 0);
    db_release(db);
    db = store_db(shop->store);
    cr_assert_eq(search_refresh(s2, db, id, &pb), SHOP_OK, "%s", pb.detail);
    db_release(db);
    cr_assert_eq(search_build(fresh, shop->store, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert(memcmp(s2->ix->score_ia, fresh->ix->score_ia, sizeof s2->ix->score_ia) != 0,
              "the change moved the description's average, under the drift");
    search_scores_settle(s2);
    cr_assert(memcmp(s2->ix->score_ia, fresh->ix->score_ia, sizeof s2->ix->score_ia) == 0);
    same_answers(fresh, s2);
    search_free(s2);
    search_free(fresh);
    teardown();
}
