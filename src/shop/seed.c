/* seed.c — builds the demo shop described in seed.h.
 *
 * Everything is derived from one splitmix64 stream, so a seed value always
 * gives the same shop. Products go in batches of BATCH per write (one
 * transaction each); a batch regenerates from its saved rng state if the
 * writer has to run it again.
 */
#include "shop/seed.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shop/account.h"
#include "shop/category.h"
#include "shop/changes.h"
#include "shop/outbox.h"
#include "shop/seed_data.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

#define BATCH 2000
#define MAX_LEAVES 128
#define MAX_SELLERS 4096
#define NWAREHOUSES 3

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int below(uint64_t *s, int n)
{
    return (int)(next(s) % (uint64_t)n);
}

/* ---- variant options by kind ------------------------------------------------- */

static const struct {
    const char *option;
    const char *values[5];
    int step_pct; /* each further value costs this much more */
} kinds[SEED_KIND_COUNT] = {
    [SEED_NONE] = {NULL, {NULL}, 0},
    [SEED_COLOR] = {"color", {NULL}, 0},
    [SEED_STORAGE] = {"storage", {"128 GB", "256 GB", "512 GB", "1 TB"}, 20},
    [SEED_SIZE_SCREEN] = {"size", {"24 in", "27 in", "32 in"}, 30},
    [SEED_SIZE_PIECES] = {"pieces", {"500", "1000", "2000"}, 35},
    [SEED_SIZE_BED] = {"size", {"Twin", "Full", "Queen", "King"}, 15},
    [SEED_SIZE_RUG] = {"size", {"3x5 ft", "5x8 ft", "8x10 ft"}, 60},
    [SEED_APPAREL] = {"size", {"S", "M", "L", "XL"}, 0},
    [SEED_SHOES] = {"size", {"7", "8", "9", "10"}, 0},
    [SEED_WEIGHT] = {"weight", {"10 lb", "20 lb", "40 lb"}, 70},
    [SEED_SIZE_TENT] = {"capacity", {"2-person", "4-person", "6-person"}, 40},
    [SEED_SIZE_FRAME] = {"frame", {"S", "M", "L"}, 0},
    [SEED_FORMAT] = {"format", {"Paperback", "Hardcover", "E-book"}, 0},
    [SEED_VOLUME] = {"volume", {"50 ml", "100 ml", "200 ml"}, 45},
    [SEED_SIZE_HOSE] = {"length", {"25 ft", "50 ft", "100 ft"}, 50},
};

static int count_values(enum seed_kind k)
{
    if (k == SEED_COLOR)
        return 4;
    int n = 0;
    while (n < 5 && kinds[k].values[n])
        n++;
    return n;
}

/* ---- the shape of the shop ------------------------------------------------------ */

struct leaf_ref {
    int64_t category_id;
    const struct seed_leaf *leaf;
};

struct seed_ctx {
    struct leaf_ref leaves[MAX_LEAVES];
    int nleaves;
    int64_t warehouses[NWAREHOUSES];
    int64_t sellers[MAX_SELLERS];
    int nsellers;
    struct seed_report report;
};

/* Finds a category by name under a parent, or creates it. */
static enum shop_err ensure_category(struct db *db, const char *name, int64_t parent,
                                     int64_t *id, int64_t *created, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT id FROM categories WHERE name = ? AND"
                                     " coalesce(parent_id, 0) = ?");
    if (!st)
        return db_fail(db, pb, "reading categories");
    stmt_bind_text(st, 1, name);
    stmt_bind_i64(st, 2, parent);
    if (stmt_step(st) == STMT_ROW) {
        *id = stmt_i64(st, 0);
        return SHOP_OK;
    }
    (*created)++;
    return category_insert(db, name, parent, clock_now_ms(), id, pb);
}

static enum shop_err shape_write(struct db *db, void *arg, struct problem *pb)
{
    struct seed_ctx *c = arg;
    c->nleaves = 0;
    c->report.categories = 0;
    for (int t = 0; t < seed_taxonomy_count; t++) {
        int64_t top, sub, leaf;
        const struct seed_top *T = &seed_taxonomy[t];
        if (ensure_category(db, T->name, 0, &top, &c->report.categories, pb) != SHOP_OK)
            return pb->err;
        for (int s = 0; s < T->nsubs; s++) {
            const struct seed_sub *S = &T->subs[s];
            if (ensure_category(db, S->name, top, &sub, &c->report.categories, pb) != SHOP_OK)
                return pb->err;
            for (int l = 0; l < S->nleaves && c->nleaves < MAX_LEAVES; l++) {
                if (ensure_category(db, S->leaves[l].name, sub, &leaf, &c->report.categories,
                                    pb) != SHOP_OK)
                    return pb->err;
                c->leaves[c->nleaves++] = (struct leaf_ref){leaf, &S->leaves[l]};
            }
        }
    }
    static const struct {
        const char *code, *name, *postal;
        double lat, lon;
    } wh[NWAREHOUSES] = {
        {"SEA1", "Seattle fulfilment centre", "98108", 47.55, -122.32},
        {"NYC1", "New Jersey fulfilment centre", "07102", 40.73, -74.17},
        {"DFW1", "Dallas fulfilment centre", "75261", 32.90, -97.04},
    };
    c->report.warehouses = 0;
    for (int i = 0; i < NWAREHOUSES; i++) {
        struct stmt *st = db_prepare(db, "INSERT INTO warehouses (code, name, country, postal_code,"
                                         " lat, lon, created_at) VALUES (?, ?, 'US', ?, ?, ?, ?)"
                                         " ON CONFLICT (code) DO NOTHING");
        if (!st)
            return db_fail(db, pb, "creating warehouses");
        stmt_bind_text(st, 1, wh[i].code);
        stmt_bind_text(st, 2, wh[i].name);
        stmt_bind_text(st, 3, wh[i].postal);
        stmt_bind_double(st, 4, wh[i].lat);
        stmt_bind_double(st, 5, wh[i].lon);
        stmt_bind_i64(st, 6, clock_now_ms());
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "creating warehouses");
        c->report.warehouses += db_changes(db);
        st = db_prepare(db, "SELECT id FROM warehouses WHERE code = ?");
        stmt_bind_text(st, 1, wh[i].code);
        if (stmt_step(st) != STMT_ROW)
            return db_fail(db, pb, "reading warehouses");
        c->warehouses[i] = stmt_i64(st, 0);
    }
    return SHOP_OK;
}

/* ---- users ------------------------------------------------------------------------ */

struct users_job {
    struct seed_ctx *c;
    int64_t total;
    const char *hash;
};

static enum shop_err insert_user(struct db *db, const char *email, const char *name,
                                 const char *role, bool trusted, const char *hash,
                                 int64_t *created, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO users (email, name, password_hash, role, trusted,"
                                     " created_at) VALUES (?, ?, ?, ?, ?, ?)"
                                     " ON CONFLICT (email) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "creating users");
    stmt_bind_text(st, 1, email);
    stmt_bind_text(st, 2, name);
    stmt_bind_text(st, 3, hash);
    stmt_bind_text(st, 4, role);
    stmt_bind_i64(st, 5, trusted);
    stmt_bind_i64(st, 6, clock_now_ms());
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating users");
    *created += db_changes(db);
    return SHOP_OK;
}

static enum shop_err users_write(struct db *db, void *arg, struct problem *pb)
{
    struct users_job *j = arg;
    struct seed_ctx *c = j->c;
    c->report.users = 0;
    int64_t sellers = j->total / 20 > 3 ? j->total / 20 : 3;
    if (sellers > MAX_SELLERS)
        sellers = MAX_SELLERS;
    if (insert_user(db, "admin@shopd.local", "Demo Admin", "admin", false, j->hash,
                    &c->report.users, pb) != SHOP_OK)
        return pb->err;
    char email[64], name[64];
    for (int64_t i = 1; i <= sellers; i++) {
        snprintf(email, sizeof email, "seller%lld@shopd.local", (long long)i);
        snprintf(name, sizeof name, "%s Store", seed_brands[(i - 1) % seed_brands_count]);
        if (insert_user(db, email, name, "seller", i % 2 == 1, j->hash, &c->report.users, pb))
            return pb->err;
    }
    for (int64_t i = 1; i <= j->total - sellers - 1; i++) {
        snprintf(email, sizeof email, "customer%lld@shopd.local", (long long)i);
        snprintf(name, sizeof name, "Customer %lld", (long long)i);
        if (insert_user(db, email, name, "customer", false, j->hash, &c->report.users, pb))
            return pb->err;
    }
    struct stmt *st = db_prepare(db, "SELECT id FROM users WHERE role = 'seller' ORDER BY id LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading sellers");
    stmt_bind_i64(st, 1, MAX_SELLERS);
    c->nsellers = 0;
    while (stmt_step(st) == STMT_ROW)
        c->sellers[c->nsellers++] = stmt_i64(st, 0);
    return SHOP_OK;
}

/* ---- products ---------------------------------------------------------------------- */

struct batch_job {
    struct seed_ctx *c;
    uint64_t rng; /* state at the start of the batch */
    int n;
    int64_t now;
    int64_t variants; /* out */
};

static int64_t price_between(uint64_t *rng, int lo, int hi)
{
    /* Skewed towards the cheap end (u² of the range), ending in 99 cents. */
    int64_t u = (int64_t)(next(rng) % 10000);
    int64_t cents = lo + ((int64_t)hi - lo) * u * u / 100000000;
    return cents / 100 * 100 + 99;
}

static enum shop_err insert_product(struct db *db, struct batch_job *j, uint64_t *rng,
                                    struct problem *pb)
{
    struct seed_ctx *c = j->c;
    const struct leaf_ref *L = &c->leaves[below(rng, c->nleaves)];
    const struct seed_leaf *leaf = L->leaf;
    const char *brand = seed_brands[below(rng, seed_brands_count)];
    const char *adj = seed_adjectives[below(rng, seed_adjectives_count)];
    const char *adj2 = seed_adjectives[below(rng, seed_adjectives_count)];
    char model[16];
    snprintf(model, sizeof model, "%c%d", "AXZMQRTV"[below(rng, 8)], 100 + below(rng, 900));
    char title[160], desc[640], specs[256];
    if (adj2 != adj && below(rng, 3) == 0)
        snprintf(title, sizeof title, "%s %s %s %s %s", brand, adj, adj2, leaf->noun, model);
    else
        snprintf(title, sizeof title, "%s %s %s %s", brand, adj, leaf->noun, model);
    int i1 = below(rng, seed_features_count);
    const char *f1 = seed_features[i1];
    const char *f2 = seed_features[(i1 + 1 + below(rng, seed_features_count - 1)) % seed_features_count];
    snprintf(desc, sizeof desc,
             "The %s %s %s is made for %s. It comes with %s and %s. "
             "A %s choice among %s, backed by %s customer support.",
             brand, leaf->noun, model, seed_uses[below(rng, seed_uses_count)], f1, f2,
             below(rng, 2) ? "dependable" : "popular", leaf->name, brand);
    snprintf(specs, sizeof specs, "{\"Brand\":\"%s\",\"Model\":\"%s\",\"Warranty\":\"%d year%s\"}",
             brand, model, 1 + below(rng, 3), "s");
    int roll = below(rng, 100);
    const char *status = roll < 96 ? "published" : roll < 98 ? "pending_review" : "draft";
    int64_t created = j->now - (int64_t)below(rng, 365 * 24) * 3600 * 1000;

    struct stmt *st = db_prepare(db, "INSERT INTO products (seller_id, category_id, title,"
                                     " description, brand, currency, images, specs, returnable,"
                                     " status, created_at, updated_at, published_at) VALUES"
                                     " (?, ?, ?, ?, ?, 'USD', '[]', ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "seeding a product");
    stmt_bind_i64(st, 1, c->sellers[below(rng, c->nsellers)]);
    stmt_bind_i64(st, 2, L->category_id);
    stmt_bind_text(st, 3, title);
    stmt_bind_text(st, 4, desc);
    stmt_bind_text(st, 5, brand);
    stmt_bind_text(st, 6, specs);
    stmt_bind_i64(st, 7, leaf->kind != SEED_FORMAT && below(rng, 10) != 0);
    stmt_bind_text(st, 8, status);
    stmt_bind_i64(st, 9, created);
    stmt_bind_i64(st, 10, created);
    if (!strcmp(status, "published"))
        stmt_bind_i64(st, 11, created);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "seeding a product");
    int64_t pid = db_last_id(db);

    /* No pictures: a demo shop has none of its own, and a made-up address
     * would send every storefront visitor's browser to a host that is not
     * there. */

    enum seed_kind k = leaf->kind;
    int nvalues = count_values(k);
    int nvariants = nvalues ? 1 + below(rng, nvalues < 4 ? nvalues : 4) : 1;
    int64_t base = price_between(rng, leaf->lo_cents, leaf->hi_cents);
    int color0 = below(rng, seed_colors_count);
    for (int v = 0; v < nvariants; v++) {
        char sku[40], options[96] = "{}";
        snprintf(sku, sizeof sku, "SD-%lld-%d", (long long)pid, v + 1);
        if (k == SEED_COLOR)
            snprintf(options, sizeof options, "{\"color\":\"%s\"}",
                     seed_colors[(color0 + v) % seed_colors_count]);
        else if (k != SEED_NONE)
            snprintf(options, sizeof options, "{\"%s\":\"%s\"}", kinds[k].option,
                     kinds[k].values[v]);
        int64_t price = base + base * kinds[k].step_pct * v / 100;
        price = price / 100 * 100 + 99;
        st = db_prepare(db, "INSERT INTO variants (product_id, sku, options, price_cents,"
                            " weight_grams, position, created_at, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "seeding a variant");
        stmt_bind_i64(st, 1, pid);
        stmt_bind_text(st, 2, sku);
        stmt_bind_text(st, 3, options);
        stmt_bind_i64(st, 4, price);
        stmt_bind_i64(st, 5, 100 + below(rng, 4900));
        stmt_bind_i64(st, 6, v);
        stmt_bind_i64(st, 7, created);
        stmt_bind_i64(st, 8, created);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "seeding a variant");
        int64_t vid = db_last_id(db);
        j->variants++;
        for (int w = 0; w < NWAREHOUSES; w++) {
            int64_t on_hand = below(rng, 100) < 12 ? 0 : 1 + below(rng, 250);
            st = db_prepare(db, "INSERT INTO stock (variant_id, warehouse_id, on_hand, reserved,"
                                " updated_at) VALUES (?, ?, ?, 0, ?)");
            if (!st)
                return db_fail(db, pb, "seeding stock");
            stmt_bind_i64(st, 1, vid);
            stmt_bind_i64(st, 2, c->warehouses[w]);
            stmt_bind_i64(st, 3, on_hand);
            stmt_bind_i64(st, 4, created);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "seeding stock");
        }
    }
    return SHOP_OK;
}

static enum shop_err batch_write(struct db *db, void *arg, struct problem *pb)
{
    struct batch_job *j = arg;
    uint64_t rng = j->rng;
    j->variants = 0;
    for (int i = 0; i < j->n; i++)
        if (insert_product(db, j, &rng, pb) != SHOP_OK)
            return pb->err;
    return SHOP_OK;
}

static enum shop_err done_write(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    return outbox_emit(db, "catalog.reloaded", 0, NULL, pb);
}

enum shop_err seed_shop_is_empty(struct shop *shop, bool *empty, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    int64_t n;
    enum shop_err e = db_scalar_i64_or_fail(
        db, "SELECT count(*) FROM (SELECT 1 FROM products LIMIT ?) AS sample", 1, 0, &n, pb,
        "reading the products");
    db_release(db);
    *empty = e == SHOP_OK && n == 0;
    return e;
}

enum shop_err seed_run(struct shop *shop, const struct seed_opts *o, struct seed_report *out,
                       struct problem *pb)
{
    static struct seed_ctx c; /* large; the CLI runs one seed at a time */
    memset(&c, 0, sizeof c);
    uint64_t rng = o->rng_seed ? o->rng_seed : 42;

    if (o->progress)
        o->progress(o->cls, "categories", 0, 1);
    if (store_write(shop->store, shape_write, &c, pb) != SHOP_OK)
        return pb->err;

    if (o->progress)
        o->progress(o->cls, "users", 0, 1);
    char hash[crypto_pwhash_STRBYTES];
    if (!account_hash_password(SEED_PASSWORD, hash, sizeof hash))
        return problem_set(pb, SHOP_UNAVAILABLE, "cannot hash the demo password");
    struct users_job uj = {.c = &c, .total = o->users < 4 ? 4 : o->users, .hash = hash};
    if (store_write(shop->store, users_write, &uj, pb) != SHOP_OK)
        return pb->err;
    if (c.nsellers == 0)
        return problem_set(pb, SHOP_INTERNAL, "no sellers to own the products");

    int64_t now = clock_now_ms();
    for (int64_t done = 0; done < o->products;) {
        struct batch_job bj = {.c = &c, .rng = next(&rng), .now = now};
        bj.n = (int)(o->products - done < BATCH ? o->products - done : BATCH);
        if (o->progress)
            o->progress(o->cls, "products", done, o->products);
        if (store_write(shop->store, batch_write, &bj, pb) != SHOP_OK)
            return pb->err;
        done += bj.n;
        c.report.products += bj.n;
        c.report.variants += bj.variants;
    }
    if (o->progress)
        o->progress(o->cls, "products", o->products, o->products);
    if (store_write(shop->store, done_write, NULL, pb) != SHOP_OK)
        return pb->err;
    shop_catalog_reloaded(shop);
    if (out)
        *out = c.report;
    return SHOP_OK;
}
