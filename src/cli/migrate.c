/* migrate.c — `shopd migrate`: bring the database to this binary's schema. */
#include <stdio.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/problem.h"

int cli_migrate(int argc, char **argv)
{
    const char *db = NULL;
    const struct opt opts[] = {
        {"--db", OPT_STR, &db, "database file (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc, argv, opts,
                   "usage: shopd migrate [--db PATH]\n\nCreates the database if needed and "
                   "applies pending migrations.",
                   &code))
        return code;
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    struct store *s = store_open(path, NULL, &pb);
    if (!s) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        return 1;
    }
    int applied = 0;
    enum shop_err e = store_migrate(s, &applied, &pb);
    int version = e == SHOP_OK ? store_schema_version(s) : 0;
    store_close(s);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        return 1;
    }
    printf("%s: schema version %d (%d migration%s applied)\n", path, version, applied,
           applied == 1 ? "" : "s");
    return 0;
}
