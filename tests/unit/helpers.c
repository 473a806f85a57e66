#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"

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

enum shop_err test_put_seller_and_warehouse(struct db *db, struct problem *pb)
{
    return db_exec(db,
                   "INSERT INTO users (id, email, name, password_hash, role, created_at)"
                   " VALUES (1, 's@example.com', 'S', 'x', 'seller', 0);"
                   "INSERT INTO warehouses (id, code, name, country, postal_code, lat, lon,"
                   " created_at) VALUES (1, 'W1', 'Main', 'US', '98101', 0, 0, 0);",
                   pb);
}

enum shop_err test_put_category(struct db *db, int64_t id, int64_t parent, const char *name,
                                struct problem *pb)
{
    struct stmt *st =
        db_prepare(db, "INSERT INTO categories (id, parent_id, name, slug, path, depth, created_at)"
                       " VALUES (?, ?, ?, ?, '/', 0, 0)");
    if (!st)
        return db_fail(db, pb, "category");
    stmt_bind_i64(st, 1, id);
    if (parent)
        stmt_bind_i64(st, 2, parent);
    else
        stmt_bind_null(st, 2);
    stmt_bind_text(st, 3, name);
    char slug[32];
    snprintf(slug, sizeof slug, "c%lld", (long long)id);
    stmt_bind_text(st, 4, slug);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "category");
}

enum shop_err test_put_variant(struct db *db, int64_t id, int64_t product_id, const char *sku,
                               int64_t price, int64_t on_hand, int64_t reserved, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO variants (id, product_id, sku, price_cents,"
                                     " created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0)");
    if (!st)
        return db_fail(db, pb, "variant");
    stmt_bind_i64(st, 1, id);
    stmt_bind_i64(st, 2, product_id);
    stmt_bind_text(st, 3, sku);
    stmt_bind_i64(st, 4, price);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "variant");
    st = db_prepare(db, "INSERT INTO stock (variant_id, warehouse_id, on_hand, reserved,"
                        " updated_at) VALUES (?, 1, ?, ?, 0)");
    if (!st)
        return db_fail(db, pb, "stock");
    stmt_bind_i64(st, 1, id);
    stmt_bind_i64(st, 2, on_hand);
    stmt_bind_i64(st, 3, reserved);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "stock");
}
