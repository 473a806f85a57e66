/* user.c — `shopd user create`: accounts of any role from the command line. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "shop/account.h"
#include "shop/shop.h"

int cli_user(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        fprintf(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
                "usage: shopd user create --email E --password P --role customer|seller|admin"
                " [--name N] [--trusted] [--db PATH]\n");
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    const char *email = NULL, *password = NULL, *role = "customer", *name = NULL, *db = NULL;
    bool trusted = false;
    const struct opt opts[] = {
        {"--email", OPT_STR, &email, "the login email (required)"},
        {"--password", OPT_STR, &password, "at least 8 characters (required)"},
        {"--role", OPT_STR, &role, "customer, seller or admin (default customer)"},
        {"--name", OPT_STR, &name, "display name (default: the email's local part)"},
        {"--trusted", OPT_FLAG, &trusted, "a seller whose listings publish without review"},
        {"--db", OPT_STR, &db, "database file (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc - 1, argv + 1, opts,
                   "usage: shopd user create --email E --password P --role R [options]\n\n"
                   "Creates an account.",
                   &code))
        return code;
    if (!email || !password) {
        fprintf(stderr, "shopd: --email and --password are required\n");
        return 2;
    }
    char local[ACCOUNT_NAME_MAX + 1];
    if (!name) {
        size_t n = strcspn(email, "@");
        snprintf(local, sizeof local, "%.*s", (int)(n > ACCOUNT_NAME_MAX ? ACCOUNT_NAME_MAX : n),
                 email);
        name = local;
    }
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    struct shop *shop = shop_open(path, true, &pb);
    if (!shop) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        return 1;
    }
    int64_t id = 0;
    enum shop_err e = account_create(shop, email, password, name, role_parse(role), trusted, &id, &pb);
    shop_close(shop);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        for (int i = 0; i < pb.nfields; i++)
            fprintf(stderr, "  %s: %s\n", pb.fields[i].field, pb.fields[i].message);
        problem_clear(&pb);
        return 1;
    }
    printf("created %s %s (id %lld)\n", role, email, (long long)id);
    return 0;
}
