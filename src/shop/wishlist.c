#include "shop/wishlist.h"

#include <stdio.h>
#include <stdlib.h>

#include "shop/keylock.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/keyset.h"

/* The columns of an item, after the wishlist row `w` and its product `p`. */
#define ITEM_SQL                                                                                   \
    "SELECT w.product_id, p.title, (SELECT min(price_cents) FROM variants v"                       \
    "   WHERE v.product_id = p.id), p.currency,"                                                   \
    " p.status = 'published' AND EXISTS (SELECT 1 FROM variants v JOIN stock s"                    \
    "   ON s.variant_id = v.id WHERE v.product_id = p.id AND s.on_hand > s.reserved),"             \
    " w.created_at FROM wishlist w JOIN products p ON p.id = w.product_id"

static json_t *item_json(struct stmt *st)
{
    char added[RFC3339_LEN];
    return json_pack("{s:I, s:s, s:I, s:s, s:b, s:s}", "product_id", (json_int_t)stmt_i64(st, 0),
                     "title", stmt_text(st, 1), "price_cents", (json_int_t)stmt_i64(st, 2),
                     "currency", stmt_text(st, 3), "in_stock", stmt_i64(st, 4) != 0, "added_at",
                     clock_fmt(stmt_i64(st, 5), added));
}

struct add_job {
    int64_t user_id, product_id, now;
    bool created;
    json_t *item; /* out: the item as this write left it */
};

/* The item as this transaction sees it: an add answers with what it added
 * even when a remove commits right after it. */
static enum shop_err item_read(struct db *db, struct add_job *j, struct problem *pb)
{
    struct stmt *st = db_prepare(db, ITEM_SQL " WHERE w.user_id = ? AND w.product_id = ?");
    if (!st)
        return db_fail(db, pb, "reading the wishlist");
    stmt_bind_i64(st, 1, j->user_id);
    stmt_bind_i64(st, 2, j->product_id);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "reading the wishlist");
    json_decref(j->item);
    j->item = item_json(st);
    return SHOP_OK;
}

static enum shop_err add_write(struct db *db, void *arg, struct problem *pb)
{
    struct add_job *j = arg;
    j->created = false;
    char key[48];
    snprintf(key, sizeof key, "wishlist:%lld", (long long)j->user_id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st =
        db_prepare(db, "SELECT 1 FROM products WHERE id = ? AND status = 'published'");
    if (!st)
        return db_fail(db, pb, "reading the product");
    stmt_bind_i64(st, 1, j->product_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no product with id %lld", (long long)j->product_id);
    st = db_prepare(db, "SELECT 1 FROM wishlist WHERE user_id = ? AND product_id = ?");
    if (!st)
        return db_fail(db, pb, "reading the wishlist");
    stmt_bind_i64(st, 1, j->user_id);
    stmt_bind_i64(st, 2, j->product_id);
    if (stmt_step(st) == STMT_ROW)
        return item_read(db, j, pb); /* already there: adding again changes nothing */
    int64_t count;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM wishlist WHERE user_id = ?", j->user_id, 0,
                              &count, pb, "counting the wishlist") != SHOP_OK)
        return pb->err;
    if (count >= WISHLIST_MAX)
        return problem_set(pb, SHOP_CONFLICT,
                           "a wishlist holds at most %d products; remove one first", WISHLIST_MAX);
    st = db_prepare(db, "INSERT INTO wishlist (user_id, product_id, created_at) VALUES (?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "adding to the wishlist");
    stmt_bind_i64(st, 1, j->user_id);
    stmt_bind_i64(st, 2, j->product_id);
    stmt_bind_i64(st, 3, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "adding to the wishlist");
    j->created = true;
    return item_read(db, j, pb);
}

enum shop_err wishlist_add(struct shop *shop, int64_t user_id, int64_t product_id, bool *created,
                           json_t **item, struct problem *pb)
{
    struct add_job j = {.user_id = user_id, .product_id = product_id, .now = clock_now_ms()};
    if (store_write(shop->store, add_write, &j, pb) != SHOP_OK) {
        json_decref(j.item); /* a run rolled back may have rendered one */
        return pb->err;
    }
    *created = j.created;
    *item = j.item;
    return SHOP_OK;
}

struct remove_job {
    int64_t user_id, product_id;
};

static enum shop_err remove_write(struct db *db, void *arg, struct problem *pb)
{
    struct remove_job *j = arg;
    /* The add's lock: on PostgreSQL an add and a remove of one user's list
     * then run one after the other, and the add's read-back of what it
     * added cannot miss it (READ COMMITTED reads anew per statement). */
    char key[48];
    snprintf(key, sizeof key, "wishlist:%lld", (long long)j->user_id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st = db_prepare(db, "DELETE FROM wishlist WHERE user_id = ? AND product_id = ?");
    if (!st)
        return db_fail(db, pb, "removing from the wishlist");
    stmt_bind_i64(st, 1, j->user_id);
    stmt_bind_i64(st, 2, j->product_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "removing from the wishlist");
    if (db_changes(db) == 0)
        return problem_set(pb, SHOP_NOT_FOUND, "product %lld is not on your wishlist",
                           (long long)j->product_id);
    return SHOP_OK;
}

enum shop_err wishlist_remove(struct shop *shop, int64_t user_id, int64_t product_id,
                              struct problem *pb)
{
    struct remove_job j = {.user_id = user_id, .product_id = product_id};
    return store_write(shop->store, remove_write, &j, pb);
}

/* A cursor is "<added_at>.<product_id>" of the last item of the page. */
enum shop_err wishlist_list(struct shop *shop, int64_t user_id, int limit, const char *cursor,
                            json_t **out, struct problem *pb)
{
    int64_t before_at = INT64_MAX, before_id = INT64_MAX;
    if (cursor && !keyset_pair_parse(cursor, &before_at, &before_id))
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    struct db *db = store_db(shop->store);
    /* At most WISHLIST_MAX rows per user: the sort is bounded. */
    struct stmt *st = db_prepare(db, ITEM_SQL " WHERE w.user_id = ?"
                                              " AND (w.created_at < ? OR (w.created_at = ?"
                                              "      AND w.product_id < ?))"
                                              " ORDER BY w.created_at DESC, w.product_id DESC"
                                              " LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing the wishlist");
    stmt_bind_i64(st, 1, user_id);
    stmt_bind_i64(st, 2, before_at);
    stmt_bind_i64(st, 3, before_at);
    stmt_bind_i64(st, 4, before_id);
    stmt_bind_i64(st, 5, limit + 1);
    json_t *data = json_array();
    int n = 0;
    int64_t last_at = 0, last_id = 0;
    bool more = false;
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        last_id = stmt_i64(st, 0);
        last_at = stmt_i64(st, 5);
        json_array_append_new(data, item_json(st));
        n++;
    }
    if (rc != STMT_DONE && !more) {
        json_decref(data);
        enum shop_err e = db_fail(db, pb, "listing the wishlist");
        db_release(db);
        return e;
    }
    db_release(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld.%lld", (long long)last_at, (long long)last_id)
                          : json_null());
    return SHOP_OK;
}
