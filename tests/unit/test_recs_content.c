/* Unit tests for content neighbours (recs/content.c): the candidate set is
 * bounded whatever the category's size, the rule it answers by, and the
 * per-category index kept in order through changes — compared with a model
 * built afresh from the same products. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "recs/engine.h"
#include "recs/recs.h"
#include "util/arena.h"

static struct recs *empty(void)
{
    return recs_new(&(struct recs_config){.min_support = 3,
                                          .half_life_ms = 3600000,
                                          .history_ms = 86400000},
                    NULL);
}

static void put(struct recs *r, int64_t id, int64_t cat, int64_t price, const char *brand,
                const char *title, bool live)
{
    recs_put_product(r, &(struct prod_src){.id = id, .category_id = cat, .price = price,
                                            .title = title, .brand = brand, .currency = "USD",
                                            .published = true, .in_stock = live});
}

static const char *BRANDS[] = {"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay"};
static const char *WORDS[] = {"walnut", "lamp", "desk", "steel", "compact", "deluxe", "mini"};

Test(recs_content, candidates_are_bounded_whatever_the_category_size)
{
    struct recs *r = empty();
    char title[64];
    for (int id = 1; id <= 20000; id++) {
        snprintf(title, sizeof title, "%s %s %s %d", BRANDS[id % 6], WORDS[id % 7],
                 WORDS[(id / 7) % 7], id);
        put(r, id, 5, 500 + (id * 7919) % 100000, BRANDS[id % 6], title, true);
    }
    struct arena *a = arena_new();
    struct recs_item it[RECS_LIMIT_MAX];
    for (int id = 1; id <= 20000; id += 997) {
        uint32_t s = idmap_get(&r->by_id, id), cands[CONTENT_CANDIDATES];
        struct clist l = {0};
        int n = recs_content_candidates(r, s, &l, NULL, cands);
        cr_assert_leq(n, CONTENT_CANDIDATES);
        cr_assert_geq(n, CONTENT_NEAR, "a big category fills both walks");
        for (int i = 0; i < n; i++) {
            cr_assert_neq(cands[i], s, "never the product itself");
            cr_assert_eq(r->p[cands[i]].category_id, 5);
        }
        int k = recs_also_viewed(r, id, 6, a, it);
        cr_assert_eq(k, 6, "a cold-start product gets a full list");
        /* Same brand and close in price outranks anything else. */
        cr_assert_eq(r->p[idmap_get(&r->by_id, it[0].product_id)].brand, r->p[s].brand);
    }
    arena_free(a);
    recs_free(r);
}

Test(recs_content, neighbours_come_from_the_nearest_in_price)
{
    /* A's title twin B of its brand costs 10× more; 80 products of A's
     * brand cost about 2× and share no title term. Scoring every product
     * ranked B first (1 + 1 + 0 + 1 = 3 against about 2.5); the rule
     * scores only the 64 of the brand nearest in price, and B is not one. */
    struct recs *r = empty();
    put(r, 1, 7, 1000, "Acme", "Walnut Desk Lamp", true);
    put(r, 2, 7, 10000, "Acme", "Walnut Desk Lamp", true);
    char title[32];
    for (int id = 10; id < 90; id++) {
        snprintf(title, sizeof title, "Gizmo %d", id);
        put(r, id, 7, 1900 + id, "Acme", title, true);
    }
    struct arena *a = arena_new();
    struct recs_item it[RECS_LIMIT_MAX];
    int n = recs_also_viewed(r, 1, 6, a, it);
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++)
        cr_assert_neq(it[i].product_id, 2, "beyond the 64 nearest in price of the brand");
    /* Nearest first among equals: 10 costs 1910, closest to 1000. */
    cr_assert_eq(it[0].product_id, 10);
    /* Among few, the twin is a candidate and wins. */
    struct recs *small = empty();
    put(small, 1, 7, 1000, "Acme", "Walnut Desk Lamp", true);
    put(small, 2, 7, 10000, "Acme", "Walnut Desk Lamp", true);
    put(small, 3, 7, 1950, "Acme", "Gizmo", true);
    n = recs_also_viewed(small, 1, 6, a, it);
    cr_assert_eq(n, 2);
    cr_assert_eq(it[0].product_id, 2);
    arena_free(a);
    recs_free(small);
    recs_free(r);
}

/* Every category's arrays, once a reader sorted them, hold its indexed
 * products once each, in order. */
static void check_index(struct recs *r)
{
    for (uint32_t c = 0; c < r->ncl; c++) {
        struct catlist *cl = &r->cl[c];
        uint32_t cands[CONTENT_CANDIDATES];
        struct clist l = {0};
        if (cl->n)
            recs_content_candidates(r, cl->by_price[0], &l, NULL, cands); /* sorts it */
        uint32_t members = 0;
        for (uint32_t s = 0; s < r->np; s++)
            members += r->p[s].indexed && r->p[s].category_id == cl->category_id;
        cr_assert_eq(cl->n, members, "category %lld", (long long)cl->category_id);
        for (uint32_t i = 0; i < cl->n; i++) {
            const struct rprod *p = &r->p[cl->by_price[i]];
            cr_assert(p->indexed && p->live && p->category_id == cl->category_id);
            if (i) {
                const struct rprod *q = &r->p[cl->by_price[i - 1]];
                cr_assert(q->price < p->price ||
                          (q->price == p->price && cl->by_price[i - 1] < cl->by_price[i]));
                const struct rprod *x = &r->p[cl->by_brand[i - 1]], *y = &r->p[cl->by_brand[i]];
                cr_assert(x->brand < y->brand || (x->brand == y->brand && x->price <= y->price));
            }
        }
    }
}

struct spec {
    int64_t cat, price;
    int brand, word;
    bool live;
};

static void put_spec(struct recs *r, int64_t id, const struct spec *s)
{
    char title[64];
    snprintf(title, sizeof title, "%s %s %s", BRANDS[s->brand], WORDS[s->word],
             WORDS[(s->word + 3) % 7]);
    put(r, id, s->cat, s->price, BRANDS[s->brand], title, s->live);
}

Test(recs_content, the_index_kept_through_changes_answers_as_a_fresh_build)
{
    enum { N = 3000 };
    static struct spec spec[N + 1];
    uint64_t seed = 42;
#define RND(m) ((int64_t)((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (m))
    struct recs *r = empty();
    for (int id = 1; id <= N; id++) {
        spec[id] = (struct spec){.cat = 1 + RND(4), .price = RND(5) ? 100 + RND(5000) : 0,
                                 .brand = (int)RND(6), .word = (int)RND(7), .live = RND(8) != 0};
        put_spec(r, id, &spec[id]);
    }
    struct arena *a = arena_new();
    struct recs_item it[RECS_LIMIT_MAX];
    /* Changes one at a time (kept sorted in place) and in bursts (appended,
     * re-sorted by the next reader), with readers in between. */
    for (int round = 0; round < 40; round++) {
        int burst = round % 3 == 0 ? 200 : 5;
        for (int k = 0; k < burst; k++) {
            int64_t id = 1 + RND(N);
            switch (RND(4)) {
            case 0: spec[id].price = 100 + RND(5000); break;
            case 1: spec[id].cat = 1 + RND(4); break;
            case 2: spec[id].brand = (int)RND(6); break;
            default: spec[id].live = !spec[id].live; break;
            }
            put_spec(r, id, &spec[id]);
        }
        recs_also_viewed(r, 1 + RND(N), 6, a, it);
    }
    check_index(r);
    /* The same products put afresh, in the same order (same slots). */
    struct recs *fresh = empty();
    for (int id = 1; id <= N; id++)
        put_spec(fresh, id, &spec[id]);
    struct recs_item jt[RECS_LIMIT_MAX];
    for (int id = 1; id <= N; id++) {
        int n = recs_also_viewed(r, id, 8, a, it), m = recs_also_viewed(fresh, id, 8, a, jt);
        cr_assert_eq(n, m, "product %d", id);
        for (int i = 0; i < n; i++)
            cr_assert_eq(it[i].product_id, jt[i].product_id, "product %d item %d", id, i);
    }
    check_index(fresh);
    arena_free(a);
    recs_free(fresh);
    recs_free(r);
}
