#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[64];
static char path[128];

const char *test_db_path(void)
{
    return path;
}

struct shop *test_shop_open(void)
{
    snprintf(dir, sizeof dir, "/tmp/shopd-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/shop.db", dir);
    setenv("SHOPD_PWHASH_MEMLIMIT", "65536", 1);
    setenv("SHOPD_PWHASH_OPSLIMIT", "1", 1);
    setenv("SHOPD_LOG_LEVEL", "off", 0); /* `make unit` sets it off too */
    struct problem pb = {0};
    struct shop *shop = shop_open(path, true, &pb);
    cr_assert_not_null(shop, "shop_open: %s", pb.detail);
    return shop;
}

void test_shop_close(struct shop *shop)
{
    shop_close(shop);
    test_db_remove();
}

void test_db_remove(void)
{
    char f[160];
    const char *suffixes[] = {"", "-wal", "-shm", "-gateway.db", "-gateway.db-wal",
                              "-gateway.db-shm"};
    for (int i = 0; i < 6; i++) {
        snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
}
