/* Unit tests for src/search: filters, facet counts and sort orders checked
 * against brute force over the fixture's own data, for random filter
 * combinations, browse and search; and cursor paging that returns every
 * match exactly once, for every sort. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "test_search_fixture.h"

static struct fixture fx;
static const char *WORD = "durable"; /* in many generated descriptions, in no fixed product */

static bool text_match(int i)
{
    return strstr(fx.p[i].desc, WORD) != NULL;
}

static bool matches(int i, const struct search_params *p)
{
    return fx_passes(&fx, i, p) && (!p->q || text_match(i));
}

static const int64_t edges[] = {0, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000};

/* ---- brute-force sort orders --------------------------------------------------------- */

static enum search_sort cmp_sort;

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int brute_cmp(const void *x, const void *y)
{
    const struct tprod *a = &fx.p[*(const int *)x], *b = &fx.p[*(const int *)y];
    int c = 0;
    switch (cmp_sort) {
    case SEARCH_SORT_POPULARITY:
        c = -cmp_i64(a->sales, b->sales);
        break;
    case SEARCH_SORT_PRICE_ASC:
        c = cmp_i64(a->price, b->price);
        break;
    case SEARCH_SORT_PRICE_DESC:
        c = -cmp_i64(a->price, b->price);
        break;
    case SEARCH_SORT_RATING:
        /* average (0 without ratings), then number of ratings, both descending */
        c = -cmp_i64((int64_t)a->rating_sum * (b->rating_count ? b->rating_count : 1),
                     (int64_t)b->rating_sum * (a->rating_count ? a->rating_count : 1));
        if (!c)
            c = -cmp_i64(a->rating_count, b->rating_count);
        break;
    case SEARCH_SORT_NEWEST:
        c = -cmp_i64(a->created, b->created);
        if (!c)
            return -cmp_i64(a->id, b->id);
        break;
    case SEARCH_SORT_RELEVANCE:
        break;
    }
    return c ? c : cmp_i64(a->id, b->id);
}

/* ---- one comparison ---------------------------------------------------------------------- */

static void check(const struct search_params *p)
{
    struct search_result r = fx_query(&fx, p);
    int64_t total = 0, brand_n[32] = {0}, prices[9] = {0}, ratings[4] = {0};
    const char *brand_v[32];
    int nb = 0;
    int64_t cat_id[32], cat_n[32];
    int nc = 0, depth = p->category_id ? fx_depth(&fx, p->category_id) + 1 : 0;
    int order[FX_MAX], no = 0;
    for (int i = 0; i < fx.n; i++) {
        if (!matches(i, p))
            continue;
        total++;
        order[no++] = i;
        const struct tprod *t = &fx.p[i];
        int b = 0;
        while (b < nb && strcasecmp(brand_v[b], t->brand))
            b++;
        if (b == nb)
            brand_v[nb++] = t->brand;
        brand_n[b]++;
        int64_t anc = fx_ancestor_at(&fx, t->cat, depth);
        if (anc) {
            int c = 0;
            while (c < nc && cat_id[c] != anc)
                c++;
            if (c == nc)
                cat_id[nc] = anc, cat_n[nc++] = 0;
            cat_n[c]++;
        }
        int k = 8;
        while (k > 0 && t->price < edges[k])
            k--;
        prices[k]++;
        for (int s = 0; s < 4 && t->rating_count; s++)
            if (t->rating_sum >= (4 - s) * t->rating_count)
                ratings[s]++;
    }
    cr_assert_eq(r.total, total, "total");
    cr_assert_eq(r.nbrands, nb, "brands");
    for (int i = 0; i < r.nbrands; i++) {
        int b = 0;
        while (b < nb && strcasecmp(brand_v[b], r.brands[i].value))
            b++;
        /* "Crème Co" folds to "creme co": compare the counts through the model */
        if (b == nb && strstr(r.brands[i].value, "Co")) {
            for (b = 0; b < nb && !strstr(brand_v[b], " Co"); b++)
                ;
        }
        cr_assert_lt(b, nb, "brand %s", r.brands[i].value);
        cr_assert_eq(r.brands[i].count, brand_n[b], "brand %s", r.brands[i].value);
        if (i)
            cr_assert_geq(r.brands[i - 1].count, r.brands[i].count, "brands by count");
    }
    cr_assert_eq(r.ncategories, nc, "categories at depth %d", depth);
    for (int i = 0; i < r.ncategories; i++) {
        int c = 0;
        while (c < nc && cat_id[c] != r.categories[i].id)
            c++;
        cr_assert_lt(c, nc);
        cr_assert_eq(r.categories[i].count, cat_n[c], "category %lld", (long long)cat_id[c]);
    }
    int np = 0;
    for (int k = 0; k < 9; k++) {
        if (!prices[k])
            continue;
        cr_assert_lt(np, r.nprices);
        cr_assert_eq(r.prices[np].from_cents, edges[k]);
        cr_assert_eq(r.prices[np].to_cents, k < 8 ? edges[k + 1] : -1);
        cr_assert_eq(r.prices[np].count, prices[k]);
        np++;
    }
    cr_assert_eq(r.nprices, np);
    for (int s = 0; s < 4; s++) {
        cr_assert_eq(r.rating_min[s], 4 - s);
        cr_assert_eq(r.rating_count[s], ratings[s], "rating >= %d", 4 - s);
    }
    /* The first page in the model's order (relevance has no model order). */
    if (p->sort != SEARCH_SORT_RELEVANCE) {
        cmp_sort = p->sort;
        qsort(order, (size_t)no, sizeof *order, brute_cmp);
        cr_assert_eq(r.nitems, no < p->limit ? no : p->limit);
        for (int i = 0; i < r.nitems; i++)
            cr_assert_eq(r.items[i].id, fx.p[order[i]].id, "item %d of %s", i,
                         search_sort_name(p->sort));
    }
    cr_assert_eq(r.next_cursor != NULL, total > p->limit);
}

static const enum search_sort sorts[] = {SEARCH_SORT_POPULARITY, SEARCH_SORT_PRICE_ASC,
                                         SEARCH_SORT_PRICE_DESC, SEARCH_SORT_RATING,
                                         SEARCH_SORT_NEWEST,     SEARCH_SORT_RELEVANCE};

Test(search_facets, random_filters_match_brute_force)
{
    fx_open(&fx, 300);
    const int64_t cats[] = {0, 0, 1, 2, 3, 5, 7, 8, 9};
    const char *brands[] = {NULL, NULL, NULL, "sony", "ACME", "Crème Co", "CREME CO", "nobody"};
    const int32_t ratings[] = {0, 0, 1000, 2500, 3000, 4500, 5000};
    srand(2024);
    for (int round = 0; round < 60; round++) {
        struct search_params p = fx_params();
        p.q = round % 2 ? WORD : NULL;
        p.category_id = cats[rand() % 9];
        p.brand = brands[rand() % 8];
        if (rand() % 2) /* bounds on real prices too, to check they are inclusive */
            p.min_price = rand() % 3 ? rand() % 150000 : fx.p[rand() % fx.n].price;
        if (rand() % 2)
            p.max_price = rand() % 3 ? p.min_price + rand() % 200000 : 1999;
        if (p.max_price >= 0 && p.min_price > p.max_price)
            p.min_price = -1;
        p.min_rating_milli = ratings[rand() % 7];
        p.in_stock = rand() % 3 - 1;
        p.sort = sorts[rand() % (p.q ? 6 : 5)];
        p.limit = 1 + rand() % 30;
        check(&p);
    }
    fx_close(&fx);
}

Test(search_facets, paging_returns_every_match_once_in_order)
{
    fx_open(&fx, 300);
    for (size_t s = 0; s < sizeof sorts / sizeof sorts[0]; s++) {
        for (int text = 0; text < 2; text++) {
            if (sorts[s] == SEARCH_SORT_RELEVANCE && !text)
                continue;
            struct search_params p = fx_params();
            p.sort = sorts[s];
            p.q = text ? WORD : NULL;
            p.limit = 7;
            p.facets = false;
            int64_t seen[FX_MAX];
            int nseen = 0;
            int64_t total = -1;
            for (int page = 0; page < FX_MAX; page++) {
                struct search_result r = fx_query(&fx, &p);
                total = r.total;
                for (int i = 0; i < r.nitems; i++) {
                    for (int j = 0; j < nseen; j++)
                        cr_assert_neq(seen[j], r.items[i].id, "duplicate %lld (%s)",
                                      (long long)r.items[i].id, search_sort_name(p.sort));
                    seen[nseen++] = r.items[i].id;
                }
                if (!r.next_cursor)
                    break;
                cr_assert_eq(r.nitems, 7, "full pages before the last");
                p.cursor = r.next_cursor;
            }
            cr_assert_eq(nseen, total, "every match once (%s)", search_sort_name(p.sort));
            if (p.sort == SEARCH_SORT_RELEVANCE)
                continue;
            int order[FX_MAX], no = 0;
            for (int i = 0; i < fx.n; i++)
                if (matches(i, &p))
                    order[no++] = i;
            cmp_sort = p.sort;
            qsort(order, (size_t)no, sizeof *order, brute_cmp);
            cr_assert_eq(no, nseen);
            for (int i = 0; i < no; i++)
                cr_assert_eq(seen[i], fx.p[order[i]].id, "position %d of %s", i,
                             search_sort_name(p.sort));
        }
    }
    fx_close(&fx);
}
