/* main.c — the shopd program: a thin dispatcher over the CLI verbs, which
 * call into libshop (everything else lives there, where the tests link it).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} verbs[] = {
    {"serve", cli_serve, "run the HTTP API (migrates first)"},
    {"migrate", cli_migrate, "create or upgrade the database schema"},
    {"seed", cli_seed, "fill the database with a demo shop"},
    {"user", cli_user, "manage accounts: user create --email E --password P --role R"},
    {"import", cli_import, "import products FILE: a Shopify product CSV into the catalog"},
    {"export", cli_export, "export products | orders --from D --to D: CSV"},
    {"backup", cli_backup, "backup FILE: a consistent copy of a running shop's SQLite database"},
    {"analytics", cli_analytics, "analytics rebuild [--from D --to D]: rollups from the orders"},
    {"doctor", cli_doctor, "check a database's integrity and the shop's invariants"},
};

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: shopd <command> [options]   (shopd <command> --help for its options)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\nEvery command takes --db PATH (default data/shop.db, or $SHOPD_DB).\n");
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return usage(stdout, 0);
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name))
            return verbs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "shopd: unknown command %s\n\n", argv[1]);
    return usage(stderr, 2);
}
