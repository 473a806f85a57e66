/* analytics.c — `shopd analytics rebuild` (OPS-2; shop/analytics.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "shop/analytics.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/tz.h"

int cli_analytics(int argc, char **argv)
{
    static const char *usage =
        "usage: shopd analytics rebuild [--from YYYY-MM-DD --to YYYY-MM-DD] [--db PATH]\n\n"
        "Recomputes the daily sales rollups from the orders, refunds and returns: all of\n"
        "them, or the whole months from..to. Safe while the shop runs, and idempotent.";
    if (argc < 2 || strcmp(argv[1], "rebuild")) {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fprintf(help ? stdout : stderr, "%s\n", usage);
        return help ? 0 : 2;
    }
    const char *db = NULL, *from = NULL, *to = NULL;
    const struct opt opts[] = {
        {"--from", OPT_STR, &from, "first shop-local date (its whole month is rebuilt)"},
        {"--to", OPT_STR, &to, "last shop-local date (its whole month is rebuilt)"},
        {"--db", OPT_STR, &db, "database file or URL (default data/shop.db; $SHOPD_DB)"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc - 1, argv + 1, opts, usage, &code))
        return code;
    int32_t f = 0, t = 0;
    if (!from != !to || (from && (!tz_parse_date(from, &f) || !tz_parse_date(to, &t) || f > t))) {
        fprintf(stderr, "shopd: --from and --to go together, as dates YYYY-MM-DD, from <= to\n");
        return 2;
    }
    const char *path = cli_db_path(db);
    if (!cli_db_exists(path))
        return 2;
    struct problem pb = {0};
    struct shop *shop = shop_open(path, false, &pb);
    if (!shop) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 1;
    }
    struct analytics_rebuild_stats st;
    int64_t t0 = clock_mono_ns();
    enum shop_err e = analytics_rebuild(shop, f, t, &st, &pb);
    shop_close(shop);
    if (e != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        problem_clear(&pb);
        return 1;
    }
    if (st.from)
        printf("rebuilt analytics %d..%d", st.from, st.to);
    else
        printf("rebuilt all analytics");
    printf(": %lld paid orders, %lld refunds, %lld returns in %.2f s\n", (long long)st.orders,
           (long long)st.refunds, (long long)st.returns, (double)(clock_mono_ns() - t0) / 1e9);
    return 0;
}
