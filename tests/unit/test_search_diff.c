/* A differential test of src/search: the fast paths (category orders and
 * facet counts for browse, the column, score bounds and early exits for
 * search) against the exhaustive reference path (struct search.reference:
 * every match read from its document row, facets counted one by one, every
 * score computed), on one index of 50,000 synthetic products, for many
 * random queries, filters, sorts, page sizes and cursors — before and after
 * a few thousand random updates through search_refresh. Every answer must
 * be identical: the page (ids, in order), the total, the next cursor, every
 * facet and the corrected query.
 *
 * The catalog is built to be hard on early exits: a small vocabulary (so
 * words match tens of thousands of products), few distinct prices, ratings
 * and sales (so sort keys and scores tie often and the id decides).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "search/engine.h"
#include "search/index.h"
#include "store/store.h"
#include "util/arena.h"

#define NPROD 50000
#define NCATS 31 /* 1 root per 10: a three-level tree */

static const char *vocab[] = {
    "wireless", "compact", "premium", "classic",  "smart",    "ultra",   "headset", "soundbar",
    "notebook", "grinder", "toaster", "monitor",  "cable",    "charger", "lamp",    "kettle",
    "blender",  "speaker", "camera",  "tripod",   "keyboard", "mouse",   "desk",    "chair",
    "running",  "shoes",   "jacket",  "coffee",   "espresso", "steel",   "black",   "white",
    "travel",   "office",  "gaming",  "portable", "mini",     "pro",     "max",     "bluetooth"};
#define NVOCAB (int)(sizeof vocab / sizeof vocab[0])
/* Words in few titles (about 1 in 80 each): neither dense nor frequent, so
 * intersections gallop, counts are counted and suggest's rare-word paths
 * and fall-backs run. */
static const char *rare[] = {"zephyr",  "quartz", "nimbus", "obsidian",
                             "saffron", "tundra", "velvet", "zinnia"};
#define NRARE (int)(sizeof rare / sizeof rare[0])
static const char *brands[] = {"Sony", "Bose", "Acme", "Zenith", "Philips", "Crème Co",
                               "Lumo", "Nord", "Vega", "Orbit",  "Kite",    "Pangea"};
#define NBRANDS (int)(sizeof brands / sizeof brands[0])

static uint32_t rng = 20261205;
static uint32_t rnd(uint32_t n)
{
    rng = rng * 1103515245u + 12345u;
    return ((rng >> 8) & 0xFFFFFF) % n;
}

/* ---- the catalog, written in one transaction -------------------------------------- */

static void product_text(int64_t id, uint32_t salt, char *title, size_t tcap, char *desc,
                         size_t dcap)
{
    uint32_t save = rng;
    rng = (uint32_t)id * 2654435761u + salt;
    int nt = 2 + (int)rnd(4), len = 0;
    for (int w = 0; w < nt; w++)
        len += snprintf(title + len, tcap - (size_t)len, "%s%s", w ? " " : "", vocab[rnd(NVOCAB)]);
    if (rnd(10) == 0)
        len += snprintf(title + len, tcap - (size_t)len, " %s", rare[rnd(NRARE)]);
    if (rnd(4) == 0) /* a model number: in a handful of titles, so no title list */
        len += snprintf(title + len, tcap - (size_t)len, " m%u", 100 + rnd(3000));
    len = 0;
    int nd = 3 + (int)rnd(8);
    for (int w = 0; w < nd; w++)
        len += snprintf(desc + len, dcap - (size_t)len, "%s ", vocab[rnd(NVOCAB)]);
    rng = save;
}

static enum shop_err w_catalog(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    if (test_put_seller_and_warehouse(db, pb) != SHOP_OK)
        return pb->err;
    for (int c = 1; c <= NCATS; c++) {
        char name[32];
        snprintf(name, sizeof name, "%s things", vocab[c % NVOCAB]);
        int64_t parent = c <= 3 ? 0 : c <= 12 ? 1 + (c - 4) % 3 : 4 + (c - 13) % 9;
        if (test_put_category(db, c, parent, name, pb) != SHOP_OK)
            return pb->err;
    }
    for (int64_t id = 1; id <= NPROD; id++) {
        char title[128], desc[256];
        product_text(id, 0, title, sizeof title, desc, sizeof desc);
        int rc_n = (int)rnd(6);
        struct stmt *st = db_prepare(
            db, "INSERT INTO products (id, seller_id, category_id, title, description, brand,"
                " currency, images, status, rating_sum, rating_count, sales_count, created_at,"
                " updated_at) VALUES (?, 1, ?, ?, ?, ?, 'USD', '[]', ?, ?, ?, ?, ?, 0)");
        stmt_bind_i64(st, 1, id);
        stmt_bind_i64(st, 2, 1 + rnd(NCATS));
        stmt_bind_text(st, 3, title);
        stmt_bind_text(st, 4, desc);
        stmt_bind_text(st, 5, brands[rnd(NBRANDS)]);
        stmt_bind_text(st, 6, rnd(20) ? "published" : "draft");
        stmt_bind_i64(st, 7, rc_n ? rc_n + rnd(4 * (uint32_t)rc_n + 1) : 0);
        stmt_bind_i64(st, 8, rc_n);
        stmt_bind_i64(st, 9, rnd(4) ? rnd(50) * 10 : 20000);
        stmt_bind_i64(st, 10, 1700000000000LL + rnd(500) * 1000);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "product");
        char sku[32];
        snprintf(sku, sizeof sku, "P%lld", (long long)id);
        int64_t price = 500 + rnd(300) * 997; /* before on_hand: rnd() is one sequence */
        if (rnd(50) == 0)
            price += 4294967295LL; /* PRICE_COL_BIG and more (index.h): from the row */
        int64_t on_hand = rnd(3);
        if (test_put_variant(db, id, id, sku, price, on_hand, 0, pb) != SHOP_OK)
            return pb->err;
    }
    return SHOP_OK;
}

/* Random changes to the products in `ids`: price, sales, rating, stock,
 * status, text, category. */
struct changes {
    int64_t ids[3000];
    int n;
};

static enum shop_err w_changes(struct db *db, void *arg, struct problem *pb)
{
    const struct changes *ch = arg;
    for (int i = 0; i < ch->n; i++) {
        int64_t id = ch->ids[i];
        struct stmt *st;
        switch (id % 7) {
        case 0:
            st = db_prepare(db, "UPDATE variants SET price_cents = ? WHERE product_id = ?");
            stmt_bind_i64(st, 1, 500 + rnd(300) * 997);
            break;
        case 1:
            st = db_prepare(db, "UPDATE products SET sales_count = ? WHERE id = ?");
            stmt_bind_i64(st, 1, rnd(60) * 10);
            break;
        case 2:
            st = db_prepare(db, "UPDATE products SET rating_sum = rating_count * ? WHERE id = ?");
            stmt_bind_i64(st, 1, 1 + rnd(5));
            break;
        case 3:
            st = db_prepare(db, "UPDATE stock SET on_hand = ? WHERE variant_id = ?");
            stmt_bind_i64(st, 1, rnd(2));
            break;
        case 4:
            st = db_prepare(db, "UPDATE products SET status = ? WHERE id = ?");
            stmt_bind_text(st, 1, rnd(2) ? "published" : "draft");
            break;
        case 5: {
            char title[128], desc[256];
            product_text(id, 99, title, sizeof title, desc, sizeof desc);
            st = db_prepare(db, "UPDATE products SET title = ?, brand = ? WHERE id = ?");
            stmt_bind_text(st, 1, title);
            stmt_bind_text(st, 2, brands[rnd(NBRANDS)]);
            stmt_bind_i64(st, 3, id);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "change");
            continue;
        }
        default:
            st = db_prepare(db, "UPDATE products SET category_id = ? WHERE id = ?");
            stmt_bind_i64(st, 1, 1 + rnd(NCATS));
            break;
        }
        stmt_bind_i64(st, 2, id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "change");
    }
    return SHOP_OK;
}

/* ---- comparing answers ---------------------------------------------------------------- */

static struct search *S;
static struct arena *A;
static struct store *store_of_test;

static struct search_result run(const struct search_params *p, bool reference)
{
    struct search_result r;
    struct problem pb = {0};
    S->reference = reference;
    cr_assert_eq(search_query(S, p, A, &r, &pb), SHOP_OK, "%s", pb.detail);
    S->reference = false;
    return r;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void vc_same(const struct search_value_count *a, const struct search_value_count *b, int n,
                    const char *what, const char *desc)
{
    for (int i = 0; i < n; i++) {
        cr_assert(same_str(a[i].value, b[i].value), "%s %d: %s vs %s (%s)", what, i, a[i].value,
                  b[i].value, desc);
        cr_assert_eq(a[i].id, b[i].id, "%s %d id (%s)", what, i, desc);
        cr_assert_eq(a[i].count, b[i].count, "%s %d count (%s)", what, i, desc);
    }
}

/* Runs `p` both ways and asserts identical answers; returns the next cursor. */
static const char *compare(const struct search_params *p)
{
    char desc[512];
    snprintf(desc, sizeof desc,
             "q=%s cat=%lld brand=%s price=%lld..%lld rating=%d stock=%d %s"
             " limit=%d cursor=%s",
             p->q ? p->q : "-", (long long)p->category_id, p->brand ? p->brand : "-",
             (long long)p->min_price, (long long)p->max_price, p->min_rating_milli, p->in_stock,
             search_sort_name(p->sort), p->limit, p->cursor ? p->cursor : "-");
    struct search_result f = run(p, false), r = run(p, true);
    cr_assert_eq(f.total, r.total, "total %lld vs %lld (%s)", (long long)f.total,
                 (long long)r.total, desc);
    cr_assert_eq(f.nitems, r.nitems, "items (%s)", desc);
    for (int i = 0; i < f.nitems; i++)
        cr_assert_eq(f.items[i].id, r.items[i].id, "item %d: %lld vs %lld (%s)", i,
                     (long long)f.items[i].id, (long long)r.items[i].id, desc);
    cr_assert(same_str(f.next_cursor, r.next_cursor), "cursor %s vs %s (%s)", f.next_cursor,
              r.next_cursor, desc);
    cr_assert(same_str(f.corrected_query, r.corrected_query), "corrected (%s)", desc);
    cr_assert_eq(f.has_facets, r.has_facets);
    if (p->facets) {
        cr_assert_eq(f.nbrands, r.nbrands, "brands (%s)", desc);
        vc_same(f.brands, r.brands, f.nbrands, "brand", desc);
        cr_assert_eq(f.ncategories, r.ncategories, "categories (%s)", desc);
        vc_same(f.categories, r.categories, f.ncategories, "category", desc);
        cr_assert_eq(f.nprices, r.nprices, "prices (%s)", desc);
        for (int i = 0; i < f.nprices; i++) {
            cr_assert_eq(f.prices[i].from_cents, r.prices[i].from_cents, "(%s)", desc);
            cr_assert_eq(f.prices[i].count, r.prices[i].count, "price %d (%s)", i, desc);
        }
        for (int k = 0; k < SEARCH_RATING_BUCKETS; k++)
            cr_assert_eq(f.rating_count[k], r.rating_count[k], "rating %d (%s)", k, desc);
    }
    return f.next_cursor;
}

static const enum search_sort sorts[] = {SEARCH_SORT_RELEVANCE, SEARCH_SORT_POPULARITY,
                                         SEARCH_SORT_PRICE_ASC, SEARCH_SORT_PRICE_DESC,
                                         SEARCH_SORT_RATING,    SEARCH_SORT_NEWEST};

/* The first page of `p`, then up to `pages` − 1 more by cursor, both ways. */
static void compare_pages(struct search_params *p, int pages)
{
    for (int pg = 0; pg < pages; pg++) {
        const char *next = compare(p);
        if (!next)
            break;
        p->cursor = next;
    }
    arena_free(A);
    A = arena_new();
}

static void random_queries(int rounds)
{
    char qbuf[128];
    for (int round = 0; round < rounds; round++) {
        struct search_params p = {.min_price = -1, .max_price = -1, .in_stock = -1, .facets = true};
        bool text = rnd(3) != 0;
        if (text) {
            int nw = 1 + (int)rnd(3), len = 0;
            for (int w = 0; w < nw; w++) {
                const char *word = rnd(6) ? vocab[rnd(NVOCAB)] : rare[rnd(NRARE)];
                int k = (int)rnd(10);
                if (w == nw - 1 && k == 0) /* an unfinished last word */
                    len += snprintf(qbuf + len, sizeof qbuf - (size_t)len, "%s%.3s", w ? " " : "",
                                    word);
                else if (k == 1 && strlen(word) >= 5) /* a typo */
                    len += snprintf(qbuf + len, sizeof qbuf - (size_t)len, "%s%.2sx%s",
                                    w ? " " : "", word, word + 3);
                else
                    len +=
                        snprintf(qbuf + len, sizeof qbuf - (size_t)len, "%s%s", w ? " " : "", word);
            }
            p.q = qbuf;
        }
        uint32_t f = rnd(4); /* a quarter without filters, then one or several */
        if (f && rnd(2))
            p.category_id = 1 + rnd(NCATS);
        if (f && rnd(4) == 0)
            p.brand = brands[rnd(NBRANDS)];
        if (f && rnd(4) == 0) {
            p.min_price = rnd(100000);
            p.max_price = rnd(4) ? p.min_price + rnd(200000) : -1;
        }
        if (f && rnd(5) == 0)
            p.min_rating_milli = (int32_t)rnd(5001);
        if (f && rnd(4) == 0)
            p.in_stock = (int)rnd(2);
        p.sort = text ? sorts[rnd(6)] : sorts[1 + rnd(5)];
        p.limit = rnd(3) ? 20 : 1 + (int)rnd(100);
        p.facets = rnd(8) != 0;
        /* The first page, then a few by cursor. */
        compare_pages(&p, 1 + (int)rnd(3));
    }
}

/* One kind of filter on `p`: 1 in stock, 2 a category, 3 a price range,
 * 4 a brand; any other kind none. */
static void set_filter(struct search_params *p, int kind)
{
    switch (kind) {
    case 1:
        p->in_stock = 1;
        break;
    case 2:
        p->category_id = 1 + rnd(NCATS);
        break;
    case 3:
        p->min_price = 1000;
        p->max_price = 150000;
        break;
    case 4:
        p->brand = brands[rnd(NBRANDS)];
        break;
    default: /* none */
        break;
    }
}

/* One-word pages by relevance, the frequent words' block bounds (derived.c:
 * bmax, match.c: rank_blocks, rank_filtered): every word of the
 * vocabulary, several page sizes, five pages deep, without filters and
 * with each kind. */
static void one_word_pages(void)
{
    static const int limits[] = {1, 7, 20, 100};
    for (int v = 0; v < NVOCAB; v++)
        for (int l = 0; l < 4; l++) {
            struct search_params p = {.q = vocab[v],
                                      .min_price = -1,
                                      .max_price = -1,
                                      .in_stock = -1,
                                      .facets = l == 0,
                                      .sort = SEARCH_SORT_RELEVANCE,
                                      .limit = limits[l]};
            set_filter(&p, (v + l) % 5);
            compare_pages(&p, 5);
        }
}

/* Pages of two and three frequent words by relevance, scored only in the
 * blocks that may enter the page (match.c: block_bound): pairs and triples
 * of the vocabulary, and pairs beside a word no document has (all words
 * but one: match.c, all_but_one), several page sizes, five pages deep,
 * without filters and with each kind. */
static void multi_word_pages(void)
{
    static const int limits[] = {1, 7, 20, 100};
    char qbuf[128];
    for (int v = 0; v < NVOCAB; v++)
        for (int l = 0; l < 4; l++) {
            if (l == 3) /* a word nothing has: the documents with the others (all but one) */
                snprintf(qbuf, sizeof qbuf, "%s qqzxqq %s", vocab[v], vocab[(v + 5) % NVOCAB]);
            else if (l % 2)
                snprintf(qbuf, sizeof qbuf, "%s %s", vocab[v], vocab[(v + 1 + l) % NVOCAB]);
            else
                snprintf(qbuf, sizeof qbuf, "%s %s %s", vocab[v], vocab[(v + 3) % NVOCAB],
                         vocab[(v + 11 + l) % NVOCAB]);
            struct search_params p = {.q = qbuf,
                                      .min_price = -1,
                                      .max_price = -1,
                                      .in_stock = -1,
                                      .facets = l == 0,
                                      .sort = SEARCH_SORT_RELEVANCE,
                                      .limit = limits[l]};
            set_filter(&p, (v + l) % 4);
            compare_pages(&p, 5);
        }
}

/* Pages of one and two words sorted other than by relevance, from the
 * category orders when the words are dense (query.c:
 * words_page_from_orders) or by ranking every match: each word, each sort,
 * several page sizes, three pages deep, without filters and with each kind. */
static void sorted_word_pages(void)
{
    static const int limits[] = {1, 20, 100};
    char qbuf[128];
    for (int v = 0; v < NVOCAB; v++)
        for (int k = 0; k < 5; k++) {
            if (k % 2)
                snprintf(qbuf, sizeof qbuf, "%s %s", vocab[v], vocab[(v + 7 + k) % NVOCAB]);
            else
                snprintf(qbuf, sizeof qbuf, "%s", vocab[v]);
            struct search_params p = {.q = qbuf,
                                      .min_price = -1,
                                      .max_price = -1,
                                      .in_stock = -1,
                                      .facets = k == 0,
                                      .sort = sorts[1 + k],
                                      .limit = limits[(v + k) % 3]};
            set_filter(&p, (v + k) % 6);
            compare_pages(&p, 3);
        }
}

/* Listings without text, filtered (query.c: browse): filters most
 * documents pass (the page from the category orders) and filters few pass
 * (the page from ranking what the count kept), a brand's documents taken
 * from its list, whole-star ratings decided by the column and fractional
 * ones by the row, every sort, three pages deep. */
static void filtered_listings(void)
{
    static const int limits[] = {1, 20, 100};
    static const int32_t ratings[] = {1000, 2000, 2500, 3000, 4000, 4001, 5000};
    for (int k = 0; k < 64; k++) { /* k / 8: every rating for cases 1 and 7 */
        struct search_params p = {.min_price = -1,
                                  .max_price = -1,
                                  .in_stock = -1,
                                  .facets = k % 4 != 0,
                                  .sort = sorts[1 + k % 5],
                                  .limit = limits[k % 3]};
        switch (k % 8) {
        case 0:
            p.in_stock = k % 16 == 0;
            break;
        case 1:
            p.min_rating_milli = ratings[(k / 8) % 7];
            break;
        case 2:
            p.brand = brands[k % NBRANDS];
            break;
        case 3:
            p.brand = brands[k % NBRANDS];
            p.category_id = 1 + k % NCATS;
            break;
        case 4:
            if (k % 16 == 4) { /* one price: about 160 products */
                p.min_price = p.max_price = 500 + (int64_t)(k * 37 % 300) * 997;
            } else { /* a wide range: the whole catalog read, the price column first */
                p.min_price = 20000 + (int64_t)(k % 5) * 7001;
                p.max_price = p.min_price * 4;
            }
            break;
        case 5: /* prices past the price column (PRICE_COL_BIG): from the rows */
            p.min_price = 4294967295LL;
            break;
        case 6:
            p.brand = k % 3 ? brands[k % NBRANDS] : "No Such Brand";
            p.min_rating_milli = 5000;
            break;
        default:
            p.category_id = 1 + k % 4;
            p.in_stock = 1;
            p.min_rating_milli = ratings[(k / 8) % 7];
            break;
        }
        compare_pages(&p, 3);
    }
}

/* Every dense term's bitset and counts by word give each of its postings'
 * position (derived.c: rank), as updates add and remove them. */
static void dense_ranks_agree(void)
{
    const struct index *ix = S->ix;
    int dense = 0;
    for (uint32_t term = 0; term < ix->tdcap && term < ix->lx.term_ix.n; term++) {
        const struct tderiv *td = &ix->td[term];
        if (!td->bits)
            continue;
        dense++;
        const struct term *t = &ix->lx.terms[term];
        uint32_t set = 0;
        for (uint32_t w = 0; w < ix->bwords; w++)
            set += (uint32_t)__builtin_popcountll(td->bits[w]);
        cr_assert_eq(set, t->n, "term %u: %u bits for %u postings", term, set, t->n);
        for (uint32_t i = 0; i < t->n; i++)
            cr_assert_eq(derived_rank(td->bits, td->rank, t->p[i].slot), i, "term %u posting %u",
                         term, i);
    }
    cr_assert_gt(dense, 0, "no dense term to check");
}

/* Suggest: the title lists in suggestion order (and their fall-backs)
 * against the exhaustive walk of the postings. */
static void random_suggest(int rounds)
{
    char pre[128];
    for (int round = 0; round < rounds; round++) {
        int kind = (int)rnd(7), len = 0;
        const char *a = rnd(4) ? vocab[rnd(NVOCAB)] : rare[rnd(NRARE)];
        const char *b = rnd(4) ? vocab[rnd(NVOCAB)] : rare[rnd(NRARE)];
        int cut = 1 + (int)rnd((uint32_t)strlen(b));
        if (kind == 0) /* one unfinished word */
            len = snprintf(pre, sizeof pre, "%.*s", cut < 2 ? 2 : cut, b);
        else if (kind == 1) /* a complete word and an unfinished one */
            len = snprintf(pre, sizeof pre, "%s %.*s", a, cut, b);
        else if (kind == 2) /* complete words only */
            len = snprintf(pre, sizeof pre, "%s %s ", a, b);
        else if (kind == 3) /* two complete words and an unfinished one */
            len = snprintf(pre, sizeof pre, "%s %s %.*s", vocab[rnd(NVOCAB)], a, cut, b);
        else if (kind == 4) /* a rare word as the unfinished one */
            len = snprintf(pre, sizeof pre, "%s %.*s", a, 2 + (int)rnd(4), rare[rnd(NRARE)]);
        else if (kind == 5) /* a model number being typed */
            len = snprintf(pre, sizeof pre, "m%u", 1 + rnd(300));
        else /* a word, then a model number being typed */
            len = snprintf(pre, sizeof pre, "%s m%u", a, 1 + rnd(300));
        (void)len;
        int limit = 1 + (int)rnd(SEARCH_SUGGESTIONS);
        struct search_suggestion *f, *r;
        uint64_t v;
        S->reference = false;
        int nf = search_suggest(S, pre, limit, A, &f, &v);
        S->reference = true;
        int nr = search_suggest(S, pre, limit, A, &r, &v);
        S->reference = false;
        cr_assert_eq(nf, nr, "suggest '%s': %d vs %d", pre, nf, nr);
        for (int i = 0; i < nf; i++) {
            cr_assert(same_str(f[i].text, r[i].text), "suggest '%s' %d: %s vs %s", pre, i,
                      f[i].text, r[i].text);
            cr_assert_eq(f[i].product_id, r[i].product_id, "suggest '%s' %d", pre, i);
        }
    }
}

Test(search_diff, fast_paths_answer_like_the_reference, .timeout = 240)
{
    struct shop *shop = test_shop_open();
    A = arena_new();
    struct problem pb = {0};
    cr_assert_eq(store_write(shop->store, w_catalog, NULL, &pb), SHOP_OK, "%s", pb.detail);
    S = shop->search;
    cr_assert_eq(search_build(S, shop->store, &pb), SHOP_OK, "%s", pb.detail);
    struct search_stats st;
    search_stats(S, &st);
    cr_assert_gt(st.products, 45000);

    random_queries(400);
    random_suggest(600);
    one_word_pages();
    multi_word_pages();
    sorted_word_pages();
    filtered_listings();

    /* Updates: each product re-read by search_refresh, as the catalog does. */
    static struct changes ch;
    ch.n = 3000;
    for (int i = 0; i < ch.n; i++)
        ch.ids[i] = 1 + rnd(NPROD);
    cr_assert_eq(store_write(shop->store, w_changes, &ch, &pb), SHOP_OK, "%s", pb.detail);
    struct db *db = store_db(shop->store);
    for (int i = 0; i < ch.n; i++)
        cr_assert_eq(search_refresh(S, db, ch.ids[i], &pb), SHOP_OK, "%s", pb.detail);
    db_release(db);

    dense_ranks_agree();
    random_queries(400);
    random_suggest(600);
    one_word_pages();
    multi_word_pages();
    sorted_word_pages();
    filtered_listings();

    arena_free(A);
    test_shop_close(shop);
}

/* ---- ties at the top score ---------------------------------------------------------------- */

#define NTIE 3000 /* products with one same title: a frequent word, every score equal */

/* Products `range[0]`…`range[1]` titled "Gizmo widget", one in stock each. */
static enum shop_err w_ties(struct db *db, void *arg, struct problem *pb)
{
    const int64_t *range = arg;
    for (int64_t id = range[0]; id <= range[1]; id++) {
        struct stmt *st = db_prepare(
            db, "INSERT INTO products (id, seller_id, category_id, title, description, brand,"
                " currency, images, status, rating_sum, rating_count, sales_count, created_at,"
                " updated_at) VALUES (?, 1, 1, 'Gizmo widget', 'A gizmo.', 'Acme', 'USD', '[]',"
                " 'published', 0, 0, 0, 1700000000000, 0)");
        stmt_bind_i64(st, 1, id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "product");
        char sku[32];
        snprintf(sku, sizeof sku, "T%lld", (long long)id);
        if (test_put_variant(db, id, id, sku, 1000, 1, 0, pb) != SHOP_OK)
            return pb->err;
    }
    return SHOP_OK;
}

static enum shop_err w_ties_catalog(struct db *db, void *arg, struct problem *pb)
{
    if (test_put_seller_and_warehouse(db, pb) != SHOP_OK ||
        test_put_category(db, 1, 0, "Gadgets", pb) != SHOP_OK)
        return pb->err;
    return w_ties(db, arg, pb);
}

static enum shop_err w_status(struct db *db, void *arg, struct problem *pb)
{
    const int64_t *range = arg; /* first, last, 1 to publish */
    struct stmt *st = db_prepare(db, "UPDATE products SET status = ? WHERE id BETWEEN ? AND ?");
    stmt_bind_text(st, 1, range[2] ? "published" : "draft");
    stmt_bind_i64(st, 2, range[0]);
    stmt_bind_i64(st, 3, range[1]);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "status");
}

static void refresh_range(int64_t first, int64_t last)
{
    struct problem pb = {0};
    struct db *db = store_db(store_of_test);
    for (int64_t id = first; id <= last; id++)
        cr_assert_eq(search_refresh(S, db, id, &pb), SHOP_OK, "%s", pb.detail);
    db_release(db);
}

/* Every product of the word scores the same, so the lowest ids make the
 * page. The lowest ids are moved to the last slots (taken out, their slots
 * given to new products, put back): the blocks the walk visits first hold
 * higher ids, and the tied blocks holding lower ids must still be found. */
Test(search_diff, ties_go_to_the_lowest_ids)
{
    struct shop *shop = test_shop_open();
    store_of_test = shop->store;
    A = arena_new();
    struct problem pb = {0};
    int64_t all[] = {1, NTIE};
    cr_assert_eq(store_write(shop->store, w_ties_catalog, all, &pb), SHOP_OK, "%s", pb.detail);
    S = shop->search;
    cr_assert_eq(search_build(S, shop->store, &pb), SHOP_OK, "%s", pb.detail);

    int64_t down[] = {1, 40, 0}, up[] = {1, 40, 1}, fresh[] = {NTIE + 1, NTIE + 40};
    cr_assert_eq(store_write(shop->store, w_status, down, &pb), SHOP_OK, "%s", pb.detail);
    refresh_range(1, 40);
    cr_assert_eq(store_write(shop->store, w_ties, fresh, &pb), SHOP_OK, "%s", pb.detail);
    refresh_range(NTIE + 1, NTIE + 40);
    cr_assert_eq(store_write(shop->store, w_status, up, &pb), SHOP_OK, "%s", pb.detail);
    refresh_range(1, 40);

    struct search_params p = {.q = "gizmo",
                              .min_price = -1,
                              .max_price = -1,
                              .in_stock = -1,
                              .sort = SEARCH_SORT_RELEVANCE,
                              .limit = 20};
    struct search_result r = run(&p, false);
    cr_assert_eq(r.total, NTIE + 40, "total %lld", (long long)r.total);
    cr_assert_eq(r.nitems, 20, "items %d", r.nitems);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(r.items[i].id, i + 1, "item %d is %lld", i, (long long)r.items[i].id);
    for (int pg = 0; pg < 4; pg++) { /* and the next pages, like the reference */
        const char *next = compare(&p);
        cr_assert_not_null(next);
        p.cursor = next;
    }
    /* Two words: every block's bound equals the tied score (match.c:
     * block_out) and only the blocks holding the lowest ids may enter. */
    p.q = "gizmo widget";
    p.cursor = NULL;
    r = run(&p, false);
    cr_assert_eq(r.total, NTIE + 40, "total %lld", (long long)r.total);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(r.items[i].id, i + 1, "two words: item %d is %lld", i,
                     (long long)r.items[i].id);
    for (int pg = 0; pg < 4; pg++) {
        const char *next = compare(&p);
        cr_assert_not_null(next);
        p.cursor = next;
    }
    arena_free(A);
    test_shop_close(shop);
}

/* ---- words that never meet ------------------------------------------------------------------ */

#define NSPLIT 2600 /* products per word: both frequent (block bounds), never together */

/* Products 1…NSPLIT have the word "gizmo", the next NSPLIT "widget"; their
 * descriptions repeat the word and other words a varying number of times,
 * and a third are out of stock, so that scores spread and tie. */
static enum shop_err w_split(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    if (test_put_seller_and_warehouse(db, pb) != SHOP_OK ||
        test_put_category(db, 1, 0, "Gadgets", pb) != SHOP_OK)
        return pb->err;
    for (int64_t id = 1; id <= 2 * NSPLIT; id++) {
        const char *word = id <= NSPLIT ? "gizmo" : "widget";
        char title[64], desc[256];
        snprintf(title, sizeof title, "%s %s", id % 2 ? "Handy" : "Solid", word);
        int len = snprintf(desc, sizeof desc, "A %s.", word);
        for (int k = 0; k < (int)(id % 4); k++)
            len += snprintf(desc + len, sizeof desc - (size_t)len, " %s", word);
        for (int k = 0; k < (int)(id % 7); k++)
            len += snprintf(desc + len, sizeof desc - (size_t)len, " useful");
        struct stmt *st = db_prepare(
            db, "INSERT INTO products (id, seller_id, category_id, title, description, brand,"
                " currency, images, status, rating_sum, rating_count, sales_count, created_at,"
                " updated_at) VALUES (?, 1, 1, ?, ?, 'Acme', 'USD', '[]', 'published', 0, 0, 0,"
                " 1700000000000, 0)");
        stmt_bind_i64(st, 1, id);
        stmt_bind_text(st, 2, title);
        stmt_bind_text(st, 3, desc);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "product");
        char sku[32];
        snprintf(sku, sizeof sku, "S%lld", (long long)id);
        if (test_put_variant(db, id, id, sku, 1000 + id, id % 3 ? 5 : 0, 0, pb) != SHOP_OK)
            return pb->err;
    }
    return SHOP_OK;
}

/* No document has both words, so the matches are the documents with all
 * words but one, and a block's bound is the best sum without one word
 * (match.c: block_bound): the fast pages equal the reference's, for
 * several page sizes, five pages deep, with and without filters. */
Test(search_diff, words_that_never_meet)
{
    struct shop *shop = test_shop_open();
    A = arena_new();
    struct problem pb = {0};
    cr_assert_eq(store_write(shop->store, w_split, NULL, &pb), SHOP_OK, "%s", pb.detail);
    S = shop->search;
    cr_assert_eq(search_build(S, shop->store, &pb), SHOP_OK, "%s", pb.detail);
    static const int limits[] = {1, 7, 20, 100};
    static const char *queries[] = {"gizmo widget", "widget gizmo", "handy gizmo widget",
                                    "gizmo qqzxqq", "useful widget gizmo"};
    for (int qi = 0; qi < 5; qi++)
        for (int l = 0; l < 4; l++)
            for (int stock = -1; stock <= 1; stock += 2) {
                struct search_params p = {.q = queries[qi],
                                          .min_price = -1,
                                          .max_price = -1,
                                          .in_stock = stock,
                                          .facets = true,
                                          .sort = SEARCH_SORT_RELEVANCE,
                                          .limit = limits[l]};
                compare_pages(&p, 5);
            }
    struct search_params p = {.q = "gizmo widget",
                              .min_price = -1,
                              .max_price = -1,
                              .in_stock = -1,
                              .sort = SEARCH_SORT_RELEVANCE,
                              .limit = 20};
    struct search_result r = run(&p, false);
    cr_assert_eq(r.total, 2 * NSPLIT, "total %lld", (long long)r.total);
    arena_free(A);
    test_shop_close(shop);
}
