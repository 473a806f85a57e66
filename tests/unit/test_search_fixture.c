/* test_search_fixture.c — the synthetic catalog of the search unit tests. */
#include "test_search_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "store/store.h"
#include "util/arena.h"

static struct arena *fx_arena;

static const struct tcat base_cats[FX_CATS] = {
    {1, 0, "Electronics"}, {2, 1, "Audio"},     {3, 2, "Headphones"},
    {4, 2, "Speakers"},    {5, 1, "Computers"}, {6, 5, "Laptops"},
    {7, 0, "Home"},        {8, 7, "Kitchen"},   {9, 8, "Coffee Machines"},
};

/* Hand-written products first (the relevance tests name them by index). */
static const struct {
    const char *title, *brand, *desc;
    int64_t cat, price;
} fixed[] = {
    {"Sony WH-1000XM5 Wireless Headphones", "Sony",
     "Industry leading noise cancellation with thirty hours of battery life.", 3, 34999},
    {"Bose QuietComfort Earbuds", "Bose",
     "Small wireless earbuds, an alternative to big headphones for travel.", 3, 27900},
    {"Breville Barista Express Espresso Machine", "Breville",
     "Grind beans and pull espresso shots at home.", 9, 69995},
    {"Dell XPS 13 Laptop", "Dell", "Thin and light notebook computer with a sharp display.", 6,
     99900},
    {"JBL Flip 6 Portable Speaker", "JBL", "Waterproof bluetooth speaker with punchy bass.", 4,
     12995},
    {"Bravia Television", "SONY", "A smart tv with a bright panel.", 1, 89900},
    {"Trail Running Shoes", "Acme", "The runner's favourite for long runs.", 7, 8999},
    {"Ninja Electric Kettle", "Ninja", "Boils water fast; stainless steel.", 8, 4999},
};
#define NFIXED (int)(sizeof fixed / sizeof fixed[0])

static const char *brands[] = {"Sony", "Bose", "Acme", "Zenith", "Philips", "Crème Co"};
static const char *adjs[] = {"Wireless", "Compact", "Premium", "Classic", "Smart", "Ultra"};
static const int64_t leaves[] = {3, 4, 6, 9, 8, 1};
static const char *nouns[] = {"Headset", "Soundbar", "Notebook", "Grinder", "Toaster", "Monitor"};
static const char *filler[] = {"durable", "quality", "design", "everyday", "gift",  "comfort",
                               "travel",  "home",    "office", "sound",    "build", "value"};

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xFFFFFF;
}

/* ---- writing the database ------------------------------------------------------------- */

static enum shop_err w_seed(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    return test_put_seller_and_warehouse(db, pb);
}

struct cat_job {
    int64_t id, parent;
    const char *name;
    bool rename;
};

static enum shop_err w_cat(struct db *db, void *arg, struct problem *pb)
{
    struct cat_job *j = arg;
    if (!j->rename)
        return test_put_category(db, j->id, j->parent, j->name, pb);
    struct stmt *st = db_prepare(db, "UPDATE categories SET name = ? WHERE id = ?");
    stmt_bind_text(st, 1, j->name);
    stmt_bind_i64(st, 2, j->id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "category");
}

static enum shop_err w_product(struct db *db, void *arg, struct problem *pb)
{
    const struct tprod *p = arg;
    struct stmt *st = db_prepare(
        db, "INSERT INTO products (id, seller_id, category_id, title, description, brand, currency,"
            " images, status, rating_sum, rating_count, sales_count, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?, ?, 0)"
            " ON CONFLICT (id) DO UPDATE SET category_id = excluded.category_id,"
            " title = excluded.title, description = excluded.description, brand = excluded.brand,"
            " status = excluded.status, rating_sum = excluded.rating_sum,"
            " rating_count = excluded.rating_count, sales_count = excluded.sales_count,"
            " created_at = excluded.created_at");
    stmt_bind_i64(st, 1, p->id);
    stmt_bind_i64(st, 2, p->cat);
    stmt_bind_text(st, 3, p->title);
    stmt_bind_text(st, 4, p->desc);
    stmt_bind_text(st, 5, p->brand);
    char img[64];
    snprintf(img, sizeof img, "[\"https://img.example/%lld.jpg\"]", (long long)p->id);
    stmt_bind_text(st, 6, p->id % 5 ? img : "[]");
    stmt_bind_text(st, 7, p->published ? "published" : "draft");
    stmt_bind_i64(st, 8, p->rating_sum);
    stmt_bind_i64(st, 9, p->rating_count);
    stmt_bind_i64(st, 10, p->sales);
    stmt_bind_i64(st, 11, p->created);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "product");
    st = db_prepare(db, "DELETE FROM variants WHERE product_id = ?");
    stmt_bind_i64(st, 1, p->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "variants");
    for (int v = 0; v < 2; v++) {
        char sku[32];
        snprintf(sku, sizeof sku, "P%lld-%d", (long long)p->id, v);
        if (test_put_variant(db, p->id * 10 + v, p->id, sku, v ? p->max_price : p->price,
                             v ? 0 : p->on_hand, v ? 0 : p->reserved, pb) != SHOP_OK)
            return pb->err;
    }
    return SHOP_OK;
}

static enum shop_err w_delete(struct db *db, void *arg, struct problem *pb)
{
    const struct tprod *p = arg;
    struct stmt *st = db_prepare(db, "DELETE FROM products WHERE id = ?");
    stmt_bind_i64(st, 1, p->id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "delete");
}

static void store_job(struct fixture *fx, store_write_fn fn, void *arg)
{
    struct problem pb = {0};
    cr_assert_eq(store_write(fx->shop->store, fn, arg, &pb), SHOP_OK, "%s", pb.detail);
}

void fx_write(struct fixture *fx, int i)
{
    store_job(fx, w_product, &fx->p[i]);
}

void fx_delete(struct fixture *fx, int i)
{
    store_job(fx, w_delete, &fx->p[i]);
}

void fx_add_category(struct fixture *fx, int64_t id, int64_t parent, const char *name)
{
    struct cat_job j = {id, parent, name, false};
    store_job(fx, w_cat, &j);
    fx->cats[fx->ncats++] = (struct tcat){id, parent, name};
}

void fx_rename_category(struct fixture *fx, int64_t id, const char *name)
{
    struct cat_job j = {id, 0, name, true};
    store_job(fx, w_cat, &j);
    for (int i = 0; i < fx->ncats; i++)
        if (fx->cats[i].id == id)
            fx->cats[i].name = name;
}

void fx_refresh(struct fixture *fx, int i)
{
    struct problem pb = {0};
    struct db *db = store_db(fx->shop->store);
    cr_assert_eq(search_refresh(fx->shop->search, db, fx->p[i].id, &pb), SHOP_OK, "%s", pb.detail);
    db_release(db);
}

/* ---- the catalog -------------------------------------------------------------------------- */

void fx_open(struct fixture *fx, int n)
{
    memset(fx, 0, sizeof *fx);
    cr_assert_leq(n + NFIXED, FX_MAX);
    fx->shop = test_shop_open();
    fx_arena = arena_new();
    store_job(fx, w_seed, NULL);
    for (int i = 0; i < FX_CATS; i++)
        fx_add_category(fx, base_cats[i].id, base_cats[i].parent, base_cats[i].name);
    uint32_t seed = 12345;
    for (int i = 0; i < NFIXED + n; i++) {
        struct tprod *p = &fx->p[fx->n++];
        p->id = 1000 + i;
        if (i < NFIXED) {
            snprintf(p->title, sizeof p->title, "%s", fixed[i].title);
            snprintf(p->brand, sizeof p->brand, "%s", fixed[i].brand);
            snprintf(p->desc, sizeof p->desc, "%s", fixed[i].desc);
            p->cat = fixed[i].cat;
            p->price = fixed[i].price;
        } else {
            int k = (int)(lcg(&seed) % 6);
            const char *brand = brands[lcg(&seed) % 6];
            snprintf(p->brand, sizeof p->brand, "%s", brand);
            snprintf(p->title, sizeof p->title, "%s %s %s %d", brand, adjs[lcg(&seed) % 6],
                     nouns[k], i);
            p->cat = leaves[k];
            int len = 0;
            for (int w = 0; w < 12; w++)
                len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, "%s ",
                                filler[lcg(&seed) % 12]);
            /* Some equal prices, to exercise the id tie-break. */
            p->price = i % 7 == 0 ? 1999 : 300 + (int64_t)(lcg(&seed) % 300000);
        }
        p->max_price = p->price + (int64_t)(lcg(&seed) % 5000);
        p->on_hand = (int)(lcg(&seed) % 3);
        p->reserved = p->on_hand && lcg(&seed) % 4 == 0 ? p->on_hand : 0; /* all reserved */
        p->rating_count = (int)(lcg(&seed) % 8);
        p->rating_sum =
            p->rating_count ? p->rating_count + (int)(lcg(&seed) % (4 * p->rating_count + 1)) : 0;
        p->sales = i % 5 == 0 ? 100 : (int64_t)(lcg(&seed) % 5000);
        p->created = 1700000000000LL + (i / 2) * 1000; /* pairs share a time */
        p->published = i < NFIXED || lcg(&seed) % 10 != 0;
        fx_write(fx, fx->n - 1);
    }
    struct problem pb = {0};
    cr_assert_eq(search_build(fx->shop->search, fx->shop->store, &pb), SHOP_OK, "%s", pb.detail);
}

void fx_close(struct fixture *fx)
{
    test_shop_close(fx->shop);
    arena_free(fx_arena);
    fx_arena = NULL;
}

/* ---- brute force --------------------------------------------------------------------------- */

static const struct tcat *cat_of(const struct fixture *fx, int64_t id)
{
    for (int i = 0; i < fx->ncats; i++)
        if (fx->cats[i].id == id)
            return &fx->cats[i];
    return NULL;
}

bool fx_in_subtree(const struct fixture *fx, int64_t c, int64_t anc)
{
    for (const struct tcat *t = cat_of(fx, c); t; t = t->parent ? cat_of(fx, t->parent) : NULL)
        if (t->id == anc)
            return true;
    return false;
}

int fx_depth(const struct fixture *fx, int64_t c)
{
    int d = 0;
    for (const struct tcat *t = cat_of(fx, c); t && t->parent; t = cat_of(fx, t->parent))
        d++;
    return d;
}

int64_t fx_ancestor_at(const struct fixture *fx, int64_t c, int depth)
{
    int d = fx_depth(fx, c);
    if (d < depth)
        return 0;
    const struct tcat *t = cat_of(fx, c);
    for (; d > depth; d--)
        t = cat_of(fx, t->parent);
    return t->id;
}

static void fold(const char *s, char *out, size_t cap)
{
    /* ASCII-only brands in the fixture but one: "Crème Co". */
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == 0xC3 && (unsigned char)s[1] == 0xA8) {
            out[o++] = 'e';
            s++;
        } else {
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    out[o] = '\0';
}

bool fx_passes(const struct fixture *fx, int i, const struct search_params *p)
{
    const struct tprod *t = &fx->p[i];
    if (!t->published)
        return false;
    if (p->category_id && !fx_in_subtree(fx, t->cat, p->category_id))
        return false;
    if (p->brand) {
        char a[64], b[64];
        fold(p->brand, a, sizeof a);
        fold(t->brand, b, sizeof b);
        if (strcmp(a, b))
            return false;
    }
    if (p->min_price >= 0 && t->price < p->min_price)
        return false;
    if (p->max_price >= 0 && t->price > p->max_price)
        return false;
    if (p->min_rating_milli > 0 &&
        (t->rating_count == 0 || t->rating_sum * 1000 < p->min_rating_milli * t->rating_count))
        return false;
    bool in_stock = t->on_hand > t->reserved;
    if (p->in_stock >= 0 && in_stock != (p->in_stock == 1))
        return false;
    return true;
}

struct search_result fx_query(struct fixture *fx, const struct search_params *p)
{
    struct search_result res;
    struct problem pb = {0};
    cr_assert_eq(search_query(fx->shop->search, p, fx_arena, &res, &pb), SHOP_OK, "%s", pb.detail);
    return res;
}

struct search_params fx_params(void)
{
    return (struct search_params){.min_price = -1,
                                  .max_price = -1,
                                  .in_stock = -1,
                                  .sort = SEARCH_SORT_POPULARITY,
                                  .limit = 20,
                                  .facets = true};
}

bool fx_in_top(const struct search_result *res, int64_t id, int k)
{
    for (int i = 0; i < res->nitems && i < k; i++)
        if (res->items[i].id == id)
            return true;
    return false;
}
