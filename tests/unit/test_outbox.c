/* Unit tests for the outbox purge (shop/outbox.c): only what every consumer
 * has handled and what is older than the retention goes, a chunk at a time. */
#include <criterion/criterion.h>

#include "helpers.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

struct fill_job {
    int n;
    int64_t created_at;
    int64_t first, last; /* out: the ids written */
};

static enum shop_err fill_write(struct db *db, void *arg, struct problem *pb)
{
    struct fill_job *j = arg;
    for (int i = 0; i < j->n; i++) {
        struct stmt *st = db_prepare(db, "INSERT INTO outbox (topic, aggregate_id, payload,"
                                         " origin, created_at) VALUES ('test', 0, '{}', 0, ?)");
        stmt_bind_i64(st, 1, j->created_at);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "insert");
        j->last = db_last_id(db);
        if (i == 0)
            j->first = j->last;
    }
    return SHOP_OK;
}

static int64_t events(struct shop *shop)
{
    struct db *db = store_db(shop->store);
    int64_t n = db_scalar_i64(db, "SELECT count(*) + ? FROM outbox", 0, -1);
    db_release(db);
    return n;
}

Test(outbox, purge_keeps_unhandled_and_recent_events)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    int64_t day = 86400 * 1000LL;
    shop->cfg.outbox_keep_ms = day;
    struct fill_job old = {.n = 3 * OUTBOX_PURGE_CHUNK, .created_at = clock_now_ms() - 2 * day};
    cr_assert_eq(store_write(shop->store, fill_write, &old, &pb), SHOP_OK);
    struct fill_job recent = {.n = OUTBOX_PURGE_CHUNK, .created_at = clock_now_ms()};
    cr_assert_eq(store_write(shop->store, fill_write, &recent, &pb), SHOP_OK);
    int64_t before = events(shop), deleted = -1;

    /* The slowest consumer is inside the second chunk: one chunk may go. */
    /* (SQLite: every event's txid is 0, ids are the order.) */
    struct outbox_pos handled = {0, old.first + OUTBOX_PURGE_CHUNK + 10};
    cr_assert_eq(outbox_purge(shop, handled, 100, &deleted, &pb), SHOP_OK);
    cr_assert_eq(deleted, OUTBOX_PURGE_CHUNK);
    cr_assert_eq(events(shop), before - OUTBOX_PURGE_CHUNK);

    /* Everyone is done: the old events go, the recent ones stay. */
    handled.id = recent.last;
    cr_assert_eq(outbox_purge(shop, handled, 100, &deleted, &pb), SHOP_OK);
    cr_assert_eq(deleted, 2 * OUTBOX_PURGE_CHUNK);
    cr_assert_eq(events(shop), before - 3 * OUTBOX_PURGE_CHUNK);
    struct db *db = store_db(shop->store);
    cr_assert_eq(db_scalar_i64(db, "SELECT min(id) + ? FROM outbox", 0, -1), recent.first,
                 "only the recent events remain");
    db_release(db);

    /* Nothing old enough any more: a no-op. */
    cr_assert_eq(outbox_purge(shop, handled, 100, &deleted, &pb), SHOP_OK);
    cr_assert_eq(deleted, 0);
    test_shop_close(shop);
}

struct tx_job {
    int64_t txid, origin, id; /* id: out */
};

static enum shop_err tx_write(struct db *db, void *arg, struct problem *pb)
{
    struct tx_job *j = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO outbox (topic, aggregate_id, payload, origin,"
                                     " created_at, txid) VALUES ('t', 0, '{}', ?, 0, ?)");
    stmt_bind_i64(st, 1, j->origin);
    stmt_bind_i64(st, 2, j->txid);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "insert");
    j->id = db_last_id(db);
    return SHOP_OK;
}

/* Reads every event after `from` (limit 2 a read, as a slow consumer would)
 * and returns how many; ids land in `ids`. */
static int read_all(struct shop *shop, struct outbox_pos from, int64_t skip, int64_t *ids)
{
    int n = 0;
    for (;;) {
        struct db *db = store_db(shop->store);
        struct stmt *st = outbox_after(db, from, 2, skip);
        cr_assert_not_null(st);
        int got = 0;
        while (stmt_step(st) == STMT_ROW) {
            from = (struct outbox_pos){stmt_i64(st, 0), stmt_i64(st, 1)};
            ids[n++] = from.id;
            got++;
        }
        db_release(db);
        if (got < 2)
            return n;
    }
}

/* Readers follow commit order, (txid, id): an event of an earlier
 * transaction comes before a later one's whatever their ids (PostgreSQL
 * gives such ids; here the txids are written by hand). */
Test(outbox, readers_follow_transaction_order_then_ids)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    struct db *db = store_db(shop->store);
    struct outbox_pos start = outbox_final(db, (struct outbox_pos){0, 0});
    db_release(db);
    struct tx_job ev[] = {{0, 1, 0}, {7, 1, 0}, {3, 2, 0}, {7, 2, 0}, {0, 2, 0}, {9, 1, 0}};
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
        cr_assert_eq(store_write(shop->store, tx_write, &ev[i], &pb), SHOP_OK);
    int64_t ids[16];
    int n = read_all(shop, start, -1, ids);
    int64_t want[] = {ev[0].id, ev[4].id, ev[2].id, ev[1].id, ev[3].id, ev[5].id};
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ids[i], want[i], "event %d: %lld, not %lld", i, (long long)ids[i],
                     (long long)want[i]);
    /* From the middle of a transaction's events, leaving out origin 2's. */
    n = read_all(shop, (struct outbox_pos){7, ev[1].id - 1}, 2, ids);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], ev[1].id);
    cr_assert_eq(ids[1], ev[5].id);
    /* The last final event is the last in that order. */
    db = store_db(shop->store);
    struct outbox_pos last = outbox_final(db, (struct outbox_pos){-1, -1});
    db_release(db);
    cr_assert_eq(last.txid, 9);
    cr_assert_eq(last.id, ev[5].id);
    test_shop_close(shop);
}
