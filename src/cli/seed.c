/* seed.c — `shopd seed`: fill the database with a demo shop (shop/seed.h),
 * with a progress bar when stderr is a terminal.
 */
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shop/seed.h"
#include "shop/shop.h"
#include "util/clock.h"

struct bar {
    bool tty;
    int64_t t0;
};

static void progress(void *cls, const char *phase, int64_t done, int64_t total)
{
    struct bar *b = cls;
    if (!b->tty)
        return;
    int width = 40, filled = total ? (int)(done * width / total) : width;
    fprintf(stderr, "\r%-10s [", phase);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%% %lld/%lld", total ? (int)(done * 100 / total) : 100, (long long)done,
            (long long)total);
    if (done == total && total > 1)
        fputc('\n', stderr);
    fflush(stderr);
}

int cli_seed(int argc, char **argv)
{
    const char *db = NULL;
    long long products = 1000, users = 100, rng = 42;
    bool if_empty = false;
    const struct opt opts[] = {
        {"--products", OPT_INT, &products, "products to create (default 1000)"},
        {"--users", OPT_INT, &users, "users to create: 1 admin, 1 seller per 20, customers (default 100)"},
        {"--seed", OPT_INT, &rng, "random seed; the same seed gives the same shop (default 42)"},
        {"--if-empty", OPT_FLAG, &if_empty, "do nothing when the shop already has products"},
        {"--db", OPT_STR, &db, "database file (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc, argv, opts,
                   "usage: shopd seed [--products N] [--users N] [--if-empty] [--db PATH]\n\n"
                   "Adds a demo shop: categories, warehouses, users of every role (password "
                   SEED_PASSWORD "), products with variants and stock.",
                   &code))
        return code;
    if (products < 0 || products > 10000000 || users < 0 || users > 10000000) {
        fprintf(stderr, "shopd: --products and --users must be between 0 and 10,000,000\n");
        return 2;
    }
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    struct shop *shop = shop_open(path, true, &pb);
    if (!shop) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        return 1;
    }
    bool empty = true;
    if (if_empty && seed_shop_is_empty(shop, &empty, &pb) != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        shop_close(shop);
        return 1;
    }
    if (!empty) {
        printf("%s already has products; not seeding\n", path);
        shop_close(shop);
        return 0;
    }
    struct bar bar = {.tty = isatty(STDERR_FILENO), .t0 = clock_mono_ns()};
    struct seed_opts o = {.products = products, .users = users, .rng_seed = (uint64_t)rng,
                          .progress = progress, .cls = &bar};
    struct seed_report rep = {0};
    enum shop_err e = seed_run(shop, &o, &rep, &pb);
    shop_close(shop);
    if (e != SHOP_OK) {
        fprintf(stderr, "\nshopd: seeding failed: %s\n", pb.detail);
        problem_clear(&pb);
        return 1;
    }
    double secs = (double)(clock_mono_ns() - bar.t0) / 1e9;
    printf("seeded %s in %.1f s: %lld products (%lld variants), %lld users, %lld new categories,"
           " %lld new warehouses\nlog in as admin@shopd.local, seller1@shopd.local or"
           " customer1@shopd.local with password " SEED_PASSWORD "\n",
           path, secs, (long long)rep.products, (long long)rep.variants, (long long)rep.users,
           (long long)rep.categories, (long long)rep.warehouses);
    return 0;
}
