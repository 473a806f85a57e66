/* ops.c — `shopd backup` and `shopd doctor` (OPS-6; docs/OPERATIONS.md). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shop/doctor.h"
#include "store/store.h"
#include "util/clock.h"

int cli_backup(int argc, char **argv)
{
    static const char *usage =
        "usage: shopd backup FILE [--db PATH]\n\n"
        "Copies the SQLite database, as of one commit, to FILE while the shop runs (SQLite's\n"
        "online backup API). A PostgreSQL database is backed up with pg_dump instead.";
    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fprintf(help ? stdout : stderr, "%s\n", usage);
        return help ? 0 : 2;
    }
    const char *dest = argv[1], *db = NULL;
    const struct opt opts[] = {
        {"--db", OPT_STR, &db, "database file (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc - 1, argv + 1, opts, usage, &code))
        return code;
    const char *path = cli_db_path(db);
    if (store_is_server_url(path)) {
        fprintf(stderr, "shopd: %s is a PostgreSQL database: back it up with pg_dump, e.g.\n"
                        "  pg_dump --format=custom --file=shop.dump '<url>'\n"
                        "and restore with pg_restore (docs/OPERATIONS.md)\n",
                path);
        return 2;
    }
    if (!cli_db_exists(path))
        return 2;
    struct problem pb = {0};
    struct store *s = store_open(path, NULL, &pb);
    if (!s) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 1;
    }
    int64_t pages = 0, t0 = clock_mono_ns();
    enum shop_err e = store_backup(s, dest, &pages, &pb);
    store_close(s);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return e == SHOP_INVALID ? 2 : 1;
    }
    printf("backed up %s to %s: %lld pages in %.2f s\n", path, dest, (long long)pages,
           (double)(clock_mono_ns() - t0) / 1e9);
    return 0;
}

static void found(void *cls, const char *check, const char *detail)
{
    (void)cls;
    printf("%-10s %s\n", check, detail);
}

int cli_doctor(int argc, char **argv)
{
    const char *db = NULL;
    const struct opt opts[] = {
        {"--db", OPT_STR, &db, "database file or URL (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc, argv, opts,
                   "usage: shopd doctor [--db PATH]\n\n"
                   "Checks the database's integrity and the shop's invariants (stock, payments,\n"
                   "refunds, store credit, outbox positions) and lists what is wrong.\n"
                   "Exit status: 0 clean, 1 problems found, 2 the database could not be read.",
                   &code))
        return code;
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    if (!cli_db_exists(path))
        return 2;
    struct store *s = store_open(path, NULL, &pb);
    if (!s) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 2;
    }
    int have = store_schema_version(s), want = store_schema_latest();
    if (have != want) {
        if (have > want)
            fprintf(stderr,
                    "shopd: %s was migrated by a newer shopd (schema version %d, this"
                    " binary's is %d): check it with that binary\n",
                    path, have, want);
        else
            fprintf(stderr,
                    "shopd: %s is at schema version %d, this binary's is %d: run shopd"
                    " migrate first\n",
                    path, have, want);
        store_close(s);
        return 2;
    }
    int64_t problems = 0;
    enum shop_err e = doctor_run(s, found, NULL, &problems, &pb);
    store_close(s);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 2;
    }
    if (problems) {
        printf("%lld problem%s found in %s\n", (long long)problems, problems == 1 ? "" : "s", path);
        return 1;
    }
    printf("%s: no problems found\n", path);
    return 0;
}
