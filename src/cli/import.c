/* import.c — `shopd import products` and `shopd export products|orders`
 * (CAT-6, shop/import.h). Exit codes of import (API.md): 0 every row was
 * imported, 3 some were rejected and the rest imported, 2 nothing could be
 * read (or bad usage), 1 the database failed.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shop/import.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/tz.h"

#define REJECTS_SHOWN 1000

struct out {
    bool tty;
    int64_t shown, ignored;
    bool newline; /* after the list of ignored columns */
};

static void progress(void *cls, int64_t done, int64_t total)
{
    struct out *o = cls;
    if (!o->tty)
        return;
    int width = 40, filled = total ? (int)(done * width / total) : width;
    fprintf(stderr, "\rimporting [");
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%% %lld/%lld bytes", total ? (int)(done * 100 / total) : 100,
            (long long)done, (long long)total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void rejected(void *cls, int64_t line, const char *handle, const char *reason)
{
    struct out *o = cls;
    if (o->ignored && !o->newline) {
        fputc('\n', stderr);
        o->newline = true;
    }
    if (o->shown++ < REJECTS_SHOWN) {
        if (o->tty)
            fputc('\r', stderr);
        fprintf(stderr, "line %lld: %s%s%s\n", (long long)line, handle ? handle : "",
                handle ? ": " : "", reason);
    }
}

static void ignored(void *cls, const char *column)
{
    struct out *o = cls;
    fprintf(stderr, "%s \"%s\"", o->ignored++ ? "," : "ignoring unknown columns:", column);
}

/* The process's peak resident memory (the importer's is bounded: one batch
 * and the database's page cache, whatever the file's size). */
static long long peak_mb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (long long)ru.ru_maxrss / 1024 : 0;
}

int cli_import(int argc, char **argv)
{
    static const char *usage =
        "usage: shopd import products FILE [--seller EMAIL] [--dry-run] [--db PATH]\n\n"
        "Imports products from a CSV file in Shopify's product layout (either header set).\n"
        "Rows sharing a handle are one product; a product found by its handle (and a variant\n"
        "by its SKU) is updated, not duplicated. Rejected rows are listed on stderr with the\n"
        "line where their record starts. Exit status: 0 all imported, 3 some rows rejected,\n"
        "2 nothing could be read, 1 the database failed.";
    if (argc < 2 || strcmp(argv[1], "products") || argc < 3 || argv[2][0] == '-') {
        bool help = argc >= 2 && (!strcmp(argv[argc - 1], "--help") || !strcmp(argv[1], "-h"));
        fprintf(help ? stdout : stderr, "%s\n", usage);
        return help ? 0 : 2;
    }
    const char *file = argv[2], *db = NULL, *seller = NULL;
    bool dry = false;
    const struct opt opts[] = {
        {"--seller", OPT_STR, &seller, "the seller who owns the products (default: the shop)"},
        {"--dry-run", OPT_FLAG, &dry, "check and report; change nothing"},
        {"--db", OPT_STR, &db, "database file or URL (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc - 2, argv + 2, opts, usage, &code))
        return code;
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "shopd: cannot read %s\n", file);
        return 2;
    }
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    struct shop *shop = shop_open(path, true, &pb);
    if (!shop) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 1;
    }
    struct out o = {.tty = isatty(STDERR_FILENO)};
    struct import_opts io = {.path = file, .seller_email = seller, .dry_run = dry,
                             .progress = progress, .rejected = rejected, .ignored = ignored,
                             .cls = &o};
    struct import_report rep;
    int64_t t0 = clock_mono_ns();
    enum shop_err e = import_products(shop, &io, &rep, &pb);
    if (o.ignored && !o.newline)
        fputc('\n', stderr);
    shop_close(shop);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return e == SHOP_INVALID ? 2 : 1;
    }
    if (o.shown > REJECTS_SHOWN)
        fprintf(stderr, "… and %lld more rejected rows\n", (long long)(o.shown - REJECTS_SHOWN));
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    printf("%s%s: %lld rows in %.1f s (%.0f rows/s): %lld products created, %lld updated,"
           " %lld variants, %lld new categories; %lld rows rejected (%lld products);"
           " peak memory %lld MB\n",
           dry ? "dry run, nothing changed — " : "", file, (long long)rep.rows, secs,
           secs > 0 ? (double)rep.rows / secs : 0.0, (long long)rep.products_created,
           (long long)rep.products_updated, (long long)rep.variants,
           (long long)rep.categories_created, (long long)rep.rows_rejected,
           (long long)rep.products_rejected, peak_mb());
    if (rep.rows == 0 && rep.rows_rejected == 0)
        return 0;
    return rep.rows_rejected ? 3 : 0;
}

int cli_export(int argc, char **argv)
{
    static const char *usage =
        "usage: shopd export products [--out FILE] [--seller EMAIL] [--db PATH]\n"
        "       shopd export orders --from YYYY-MM-DD --to YYYY-MM-DD [--out FILE] [--db PATH]\n\n"
        "products: the catalog in Shopify's product CSV layout (current header set); importing\n"
        "the file gives the same catalog. orders: one row per order line of the orders created\n"
        "in the range (shop-local dates, SHOPD_TIMEZONE).";
    bool products = argc >= 2 && !strcmp(argv[1], "products");
    bool orders = argc >= 2 && !strcmp(argv[1], "orders");
    if (!products && !orders) {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fprintf(help ? stdout : stderr, "%s\n", usage);
        return help ? 0 : 2;
    }
    const char *db = NULL, *outpath = NULL, *seller = NULL, *from = NULL, *to = NULL;
    const struct opt popts[] = {
        {"--out", OPT_STR, &outpath, "the file to write (default: standard output)"},
        {"--seller", OPT_STR, &seller, "only this seller's products"},
        {"--db", OPT_STR, &db, "database file or URL (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    const struct opt oopts[] = {
        {"--from", OPT_STR, &from, "first day, YYYY-MM-DD (required)"},
        {"--to", OPT_STR, &to, "last day, inclusive (required)"},
        {"--out", OPT_STR, &outpath, "the file to write (default: standard output)"},
        {"--db", OPT_STR, &db, "database file or URL (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc - 1, argv + 1, products ? popts : oopts, usage, &code))
        return code;
    int32_t f = 0, t = 0;
    if (orders && (!tz_parse_date(from, &f) || !tz_parse_date(to, &t) || f > t)) {
        fprintf(stderr, "shopd: --from and --to must be dates YYYY-MM-DD, from not after to\n");
        return 2;
    }
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    if (!cli_db_exists(path))
        return 2;
    struct shop *shop = shop_open(path, false, &pb);
    if (!shop) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 1;
    }
    FILE *out = outpath ? fopen(outpath, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "shopd: cannot write %s\n", outpath);
        shop_close(shop);
        return 1;
    }
    int64_t n = 0;
    enum shop_err e = products ? export_products(shop, out, seller, &n, &pb)
                               : export_orders(shop, out, f, t, &n, &pb);
    if (outpath && fclose(out) != 0 && e == SHOP_OK)
        e = problem_set(&pb, SHOP_INTERNAL, "writing %s failed", outpath);
    if (!outpath)
        fflush(stdout);
    shop_close(shop);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return e == SHOP_INVALID ? 2 : 1;
    }
    fprintf(stderr, "exported %lld %s\n", (long long)n, products ? "products" : "order lines");
    return 0;
}
