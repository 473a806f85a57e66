/* Unit tests for src/search against a synthetic catalog: relevance (BM25F
 * field weights, stemming, boosts), typo tolerance, prefixes, refresh of a
 * product and of the category tree, errors, the cache's invalidation,
 * suggestions and concurrent readers with a writer. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "test_search_fixture.h"
#include "util/arena.h"

static struct fixture fx;

static struct search_result text(const char *q)
{
    struct search_params p = fx_params();
    p.q = q;
    p.sort = SEARCH_SORT_RELEVANCE;
    return fx_query(&fx, &p);
}

static int64_t pid(int i)
{
    return fx.p[i].id;
}

/* Appends a product to the model and the database and refreshes it. */
static int add(const char *title, const char *brand, const char *desc, int64_t cat, int64_t price,
               int on_hand)
{
    int i = fx.n++;
    struct tprod *p = &fx.p[i];
    memset(p, 0, sizeof *p);
    p->id = 5000 + i;
    snprintf(p->title, sizeof p->title, "%s", title);
    snprintf(p->brand, sizeof p->brand, "%s", brand);
    snprintf(p->desc, sizeof p->desc, "%s", desc);
    p->cat = cat;
    p->price = p->max_price = price;
    p->on_hand = on_hand;
    p->published = true;
    p->created = 1800000000000LL;
    fx_write(&fx, i);
    fx_refresh(&fx, i);
    return i;
}

Test(search, title_outranks_category_and_description)
{
    fx_open(&fx, 60);
    struct search_result r = text("headphones");
    cr_assert_gt(r.total, 2);
    cr_assert_eq(r.items[0].id, pid(0), "the product with headphones in its title comes first");
    cr_assert_null(r.corrected_query);
    /* Bose mentions headphones only in its description (and category). */
    int bose = -1;
    for (int i = 0; i < r.nitems; i++)
        if (r.items[i].id == pid(1))
            bose = i;
    cr_assert_gt(bose, 0);
    fx_close(&fx);
}

Test(search, exact_titles_and_brand_plus_category)
{
    fx_open(&fx, 60);
    cr_assert(fx_in_top(&(struct search_result){0}, 0, 0) == false);
    struct search_result r = text("Dell XPS 13 Laptop");
    cr_assert_eq(r.items[0].id, pid(3));
    r = text("jbl speaker");
    cr_assert_eq(r.items[0].id, pid(4));
    r = text("breville espresso");
    cr_assert_eq(r.items[0].id, pid(2));
    /* Brands match ignoring case: "SONY" Bravia is a Sony. */
    r = text("sony television");
    cr_assert_eq(r.items[0].id, pid(5));
    r = text("coffee machines"); /* category names are searchable */
    cr_assert(fx_in_top(&r, pid(2), 3));
    fx_close(&fx);
}

Test(search, stems_plurals_and_verb_forms)
{
    fx_open(&fx, 40);
    struct search_result r = text("headphone");
    cr_assert_eq(r.items[0].id, pid(0));
    r = text("runs");
    cr_assert_eq(r.items[0].id, pid(6));
    r = text("espresso machines");
    cr_assert_eq(r.items[0].id, pid(2));
    r = text("the kettles");
    cr_assert_eq(r.items[0].id, pid(7));
    fx_close(&fx);
}

Test(search, typos_are_corrected_with_did_you_mean)
{
    fx_open(&fx, 60);
    struct search_result r = text("hedphones");
    cr_assert_not_null(r.corrected_query);
    cr_assert_str_eq(r.corrected_query, "headphones");
    cr_assert(fx_in_top(&r, pid(0), 3));
    r = text("ketle");
    cr_assert_str_eq(r.corrected_query, "kettle");
    cr_assert_eq(r.items[0].id, pid(7));
    r = text("espreso machne");
    cr_assert_str_eq(r.corrected_query, "espresso machine");
    cr_assert_eq(r.items[0].id, pid(2));
    r = text("brevlle"); /* two edits away in a seven-letter word: deletion + ... */
    cr_assert_str_eq(r.corrected_query, "breville");
    r = text("xps 13 labtop");
    cr_assert_str_eq(r.corrected_query, "xps 13 laptop");
    cr_assert_eq(r.items[0].id, pid(3));
    /* Model numbers are never corrected; short words get no typo budget. */
    r = text("wh1000");
    cr_assert_null(r.corrected_query);
    cr_assert_eq(r.total, 0);
    r = text("qx");
    cr_assert_null(r.corrected_query);
    fx_close(&fx);
}

Test(search, unfinished_last_word_completes)
{
    fx_open(&fx, 60);
    struct search_result r = text("wireless headph");
    cr_assert(fx_in_top(&r, pid(0), 3));
    cr_assert_null(r.corrected_query, "a completion is not a correction");
    r = text("brevi");
    cr_assert_eq(r.items[0].id, pid(2));
    r = text("brevi "); /* a finished word is not completed; too far to correct */
    cr_assert_eq(r.total, 0);
    fx_close(&fx);
}

Test(search, every_word_must_match_else_all_but_one)
{
    fx_open(&fx, 40);
    struct search_result r = text("portable speaker");
    for (int i = 0; i < r.nitems; i++)
        cr_assert_eq(r.items[i].id, pid(4), "only the JBL has both words");
    r = text("ninja bluetooth"); /* no product has both */
    cr_assert_gt(r.total, 1);
    cr_assert(fx_in_top(&r, pid(7), r.nitems) || fx_in_top(&r, pid(4), r.nitems));
    r = text("the and of");
    cr_assert_eq(r.total, 0, "stop words alone match nothing");
    r = text("!!!");
    cr_assert_eq(r.total, 0);
    fx_close(&fx);
}

Test(search, stock_rating_and_sales_boost_equal_text)
{
    fx_open(&fx, 10);
    int out = add("Zorblax Gadget", "Qq", "x", 4, 1000, 0);
    int in = add("Zorblax Gadget", "Qq", "x", 4, 1000, 5);
    struct search_result r = text("zorblax");
    cr_assert_eq(r.total, 2);
    cr_assert_eq(r.items[0].id, pid(in), "in stock first");
    /* A good rating from enough reviews beats no rating … */
    fx.p[out].on_hand = 5;
    fx.p[out].rating_count = 10;
    fx.p[out].rating_sum = 48;
    fx_write(&fx, out);
    fx_refresh(&fx, out);
    r = text("zorblax");
    cr_assert_eq(r.items[0].id, pid(out));
    /* … but two reviews are not enough to count. */
    fx.p[out].rating_count = 2;
    fx.p[out].rating_sum = 10;
    fx_write(&fx, out);
    fx_refresh(&fx, out);
    r = text("zorblax");
    cr_assert_eq(r.items[0].id, pid(out) < pid(in) ? pid(out) : pid(in),
                 "a tie goes to the lower id");
    fx.p[in].sales = 3000;
    fx_write(&fx, in);
    fx_refresh(&fx, in);
    r = text("zorblax");
    cr_assert_eq(r.items[0].id, pid(in), "sales count");
    fx_close(&fx);
}

Test(search, refresh_reflects_edits_price_stock_and_unpublish)
{
    fx_open(&fx, 30);
    struct search *s = fx.shop->search;
    uint64_t v0 = search_version(s);
    fx_refresh(&fx, 3); /* nothing changed: same version */
    cr_assert_eq(search_version(s), v0);

    snprintf(fx.p[3].title, sizeof fx.p[3].title, "Dell Inspiron Gaming Laptop");
    fx_write(&fx, 3);
    fx_refresh(&fx, 3);
    cr_assert_gt(search_version(s), v0);
    cr_assert_eq(text("inspiron").items[0].id, pid(3));
    cr_assert_eq(text("xps").total, 0);

    fx.p[3].price = 12345;
    fx.p[3].on_hand = 0;
    fx_write(&fx, 3);
    fx_refresh(&fx, 3);
    struct search_result r = text("inspiron");
    cr_assert_eq(r.items[0].price_cents, 12345);
    cr_assert(!r.items[0].in_stock);
    struct search_params p = fx_params();
    p.min_price = p.max_price = 12345;
    r = fx_query(&fx, &p);
    cr_assert_eq(r.total, 1);
    cr_assert_eq(r.items[0].id, pid(3));

    struct search_params all = fx_params();
    int64_t before = fx_query(&fx, &all).total;
    fx.p[3].published = false;
    fx_write(&fx, 3);
    fx_refresh(&fx, 3);
    cr_assert_eq(text("inspiron").total, 0);
    cr_assert_eq(fx_query(&fx, &all).total, before - 1);

    fx_delete(&fx, 4);
    fx_refresh(&fx, 4);
    cr_assert_eq(text("jbl").total, 0);
    cr_assert_eq(fx_query(&fx, &all).total, before - 2);
    /* And back: the freed slot is reused. */
    fx.p[3].published = true;
    fx_write(&fx, 3);
    fx_refresh(&fx, 3);
    cr_assert_eq(text("inspiron").items[0].id, pid(3));
    fx_close(&fx);
}

Test(search, bad_input_is_refused_naming_the_field)
{
    fx_open(&fx, 10);
    struct search_params p = fx_params();
    struct search_result r;
    struct problem pb = {0};
    struct arena *a = arena_new();
    p.category_id = 424242;
    cr_assert_eq(search_query(fx.shop->search, &p, a, &r, &pb), SHOP_INVALID);
    cr_assert_str_eq(pb.fields[0].field, "category");
    p = fx_params();
    p.limit = 2;
    r = fx_query(&fx, &p);
    cr_assert_not_null(r.next_cursor);
    const char *bad[] = {"!!!", "abc", "cDox", "", "YTo1Njk6MTU4MDI="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct problem pb2 = {0};
        p.cursor = bad[i];
        enum shop_err e = search_query(fx.shop->search, &p, a, &r, &pb2);
        if (!*bad[i]) {
            cr_assert_eq(e, SHOP_OK, "an empty cursor is the first page");
            continue;
        }
        cr_assert_eq(e, SHOP_INVALID, "cursor %s", bad[i]);
        cr_assert_str_eq(pb2.fields[0].field, "cursor");
    }
    /* A cursor of another sort is refused too. */
    p = fx_params();
    p.limit = 2;
    p.sort = SEARCH_SORT_PRICE_ASC;
    r = fx_query(&fx, &p);
    p.cursor = r.next_cursor;
    p.sort = SEARCH_SORT_PRICE_DESC;
    struct problem pb3 = {0};
    cr_assert_eq(search_query(fx.shop->search, &p, a, &r, &pb3), SHOP_INVALID);
    arena_free(a);
    fx_close(&fx);
}

Test(search, new_and_renamed_categories)
{
    fx_open(&fx, 20);
    /* A product in a category the index has not seen: loaded on refresh. */
    fx_add_category(&fx, 10, 7, "Garden");
    int g = add("Hose Reel", "Acme", "green", 10, 2500, 1);
    struct search_params p = fx_params();
    p.category_id = 7;
    struct search_result r = fx_query(&fx, &p);
    cr_assert(fx_in_top(&r, pid(g), r.nitems));
    cr_assert_eq(text("garden").items[0].id, pid(g), "its category name is indexed");
    /* Renaming a category re-indexes its products. */
    fx_rename_category(&fx, 3, "Cans");
    struct problem pb = {0};
    struct db *db = store_db(fx.shop->store);
    cr_assert_eq(search_refresh_categories(fx.shop->search, db, &pb), SHOP_OK);
    db_release(db);
    r = text("cans");
    struct search_params in3 = fx_params();
    in3.category_id = 3;
    cr_assert_eq(r.total, fx_query(&fx, &in3).total, "every product of the renamed category");
    cr_assert_gt(r.total, 2);
    r = text("headphones"); /* still in the Sony's title, no longer a category */
    cr_assert_eq(r.items[0].id, pid(0));
    p.category_id = 10;
    cr_assert_eq(fx_query(&fx, &p).total, 1);
    fx_close(&fx);
}

Test(search, cache_answers_only_the_current_catalog)
{
    fx_open(&fx, 10);
    struct search *s = fx.shop->search;
    struct search_params p = fx_params();
    p.q = "kettle";
    struct arena *a = arena_new();
    size_t klen;
    char *key = search_cache_key("search", &p, a, &klen);
    struct search_params p2 = p;
    p2.q = "  KETTLE";
    size_t klen2;
    char *key2 = search_cache_key("search", &p2, a, &klen2);
    cr_assert_str_eq(key, key2, "keys are normalised");
    p2.q = "kettl";
    cr_assert_str_neq(search_cache_key("search", &p2, a, &klen2), key,
                      "an unfinished word differs");
    cr_assert_null(search_cache_get(s, key, klen));
    struct search_result r = fx_query(&fx, &p);
    search_cached_release(search_cache_put(s, key, klen, r.version, 0, "ANSWER", 6, r.total, NULL));
    struct search_cached *c = search_cache_get(s, key, klen);
    cr_assert_not_null(c);
    size_t len;
    int64_t total;
    cr_assert_eq(memcmp(search_cached_data(c, &len, &total), "ANSWER", 6), 0);
    cr_assert_eq(total, r.total);
    search_cached_release(c);
    fx.p[7].price = 5555;
    fx_write(&fx, 7);
    fx_refresh(&fx, 7);
    cr_assert_null(search_cache_get(s, key, klen), "a price change invalidates");

    /* Sales alone (every order) invalidate within a second, not at once. */
    r = fx_query(&fx, &p);
    search_cached_release(search_cache_put(s, key, klen, r.version, 0, "B", 1, r.total, NULL));
    uint64_t v = search_version(s);
    fx.p[7].sales = 1000000;
    fx_write(&fx, 7);
    fx_refresh(&fx, 7);
    cr_assert_eq(search_version(s), v);
    c = search_cache_get(s, key, klen);
    cr_assert_not_null(c, "still served for up to a second");
    search_cached_release(c);
    struct search_params pop = fx_params();
    pop.sort = SEARCH_SORT_POPULARITY;
    pop.limit = 1;
    cr_assert_eq(fx_query(&fx, &pop).items[0].id, pid(7), "the index itself has it at once");
    usleep(1100 * 1000);
    cr_assert_gt(search_version(s), v);
    cr_assert_null(search_cache_get(s, key, klen));
    arena_free(a);
    fx_close(&fx);
}

Test(search, suggestions_from_titles_and_popular_queries)
{
    fx_open(&fx, 40);
    struct search *s = fx.shop->search;
    struct arena *a = arena_new();
    struct search_suggestion *sg;
    uint64_t v;
    int n = search_suggest(s, "sony wh", 10, a, &sg, &v);
    cr_assert_eq(n, 1);
    cr_assert_eq(sg[0].product_id, pid(0));
    cr_assert_str_eq(sg[0].text, fx.p[0].title);
    n = search_suggest(s, "Brev", 10, a, &sg, &v);
    cr_assert_geq(n, 2);
    cr_assert_str_eq(sg[0].text, "breville", "the word it begins, as a query");
    cr_assert_eq(sg[0].product_id, 0);
    cr_assert_eq(sg[1].product_id, pid(2));
    for (int i = 0; i < 3; i++)
        search_record_query(s, "Espresso  Machine");
    search_record_query(s, "espresso grinder");
    usleep(300 * 1000); /* the popular-query snapshot is rebuilt at most every 250 ms */
    n = search_suggest(s, "espr", 10, a, &sg, &v);
    cr_assert_geq(n, 2);
    cr_assert_str_eq(sg[0].text, "espresso machine");
    cr_assert_eq(sg[0].product_id, 0);
    for (int i = 0; i < n; i++)
        cr_assert_str_neq(sg[i].text, "espresso grinder", "run once: not suggested");
    cr_assert_eq(search_suggest(s, "zzzz", 10, a, &sg, &v), 0);
    n = search_suggest(s, "a", 3, a, &sg, &v);
    cr_assert_leq(n, 3);
    arena_free(a);
    fx_close(&fx);
}

/* ---- readers and a writer at once --------------------------------------------------------- */

static _Atomic bool stop_readers;
static char reader_error[256]; /* the first failure of a reader (asserted by the main thread) */
static pthread_mutex_t reader_mu = PTHREAD_MUTEX_INITIALIZER;

static void reader_fail(const char *what, long long a, long long b)
{
    pthread_mutex_lock(&reader_mu);
    if (!reader_error[0])
        snprintf(reader_error, sizeof reader_error, "%s (%lld, %lld)", what, a, b);
    pthread_mutex_unlock(&reader_mu);
    stop_readers = true;
}

static void *reader(void *arg)
{
    (void)arg;
    struct arena *a = arena_new();
    const char *qs[] = {"headphones", "sony", "espresso", "wireless headph", NULL};
    int n = 0;
    while (!stop_readers && n < 100000) {
        struct search_params p = fx_params();
        p.q = qs[n % 5];
        p.sort = n % 2 ? SEARCH_SORT_RELEVANCE : SEARCH_SORT_PRICE_ASC;
        struct search_result r;
        struct problem pb = {0};
        if (search_query(fx.shop->search, &p, a, &r, &pb) != SHOP_OK)
            reader_fail(pb.detail, 0, 0);
        int64_t sum = 0;
        for (int i = 0; i < r.nbrands; i++)
            sum += r.brands[i].count;
        if (sum != r.total)
            reader_fail("brand facets do not add up to the total: a torn read", (long long)sum,
                        (long long)r.total);
        for (int i = 1; i < r.nitems && p.sort == SEARCH_SORT_PRICE_ASC; i++)
            if (r.items[i - 1].price_cents > r.items[i].price_cents)
                reader_fail("unsorted page", i, 0);
        if (++n % 200 == 0) {
            arena_free(a);
            a = arena_new();
        }
    }
    arena_free(a);
    return NULL;
}

Test(search, readers_never_see_half_a_product)
{
    fx_open(&fx, 80);
    pthread_t t[3];
    stop_readers = false;
    reader_error[0] = '\0';
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int round = 0; round < 60; round++) {
        int i = round % fx.n;
        fx.p[i].published = round % 3 != 0;
        fx.p[i].on_hand = round % 2;
        fx.p[i].reserved = 0;
        snprintf(fx.p[i].title, sizeof fx.p[i].title, "Sony Wireless Headphones %d", round);
        fx_write(&fx, i);
        fx_refresh(&fx, i);
    }
    stop_readers = true;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(reader_error[0], '\0', "%s", reader_error);
    fx_close(&fx);
}
