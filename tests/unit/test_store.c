/* Unit tests for src/store: group commit, savepoint isolation, migrations. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "store/store.h"
#include "util/clock.h"

struct add_job {
    int64_t id, value;
    bool fail_after_insert;
    int appends; /* rows appended at commit (db_append) instead of one insert */
};

static struct db_append_kind test_event = {
    "outbox (topic, aggregate_id, payload, created_at)", 4, {NULL}};

/* Inserts a row (or appends j->appends); optionally fails afterwards (its
 * rows must vanish). */
static enum shop_err add_write(struct db *db, void *arg, struct problem *pb)
{
    struct add_job *j = arg;
    for (int i = 0; i < j->appends; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        struct db_value row[] = {DB_TEXT("test"), DB_I64(j->value), DB_TEXT(payload), DB_I64(i)};
        if (db_append(db, &test_event, row, pb) != SHOP_OK)
            return pb->err;
    }
    if (j->appends)
        return j->fail_after_insert ? problem_set(pb, SHOP_CONFLICT, "changed my mind") : SHOP_OK;
    struct stmt *st = db_prepare(db, "INSERT INTO outbox (topic, aggregate_id, payload, created_at)"
                                     " VALUES ('test', ?, '{}', 0)");
    stmt_bind_i64(st, 1, j->value);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "insert");
    if (j->fail_after_insert)
        return problem_set(pb, SHOP_CONFLICT, "changed my mind");
    return SHOP_OK;
}

static int64_t count_rows(struct shop *shop, int64_t value)
{
    int64_t n = db_scalar_i64(
        store_db(shop->store),
        "SELECT count(*) FROM outbox WHERE topic = 'test' AND aggregate_id = ?", value, -1);
    db_release(store_db(shop->store));
    return n;
}

Test(store, failed_write_changes_nothing)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    struct add_job ok = {.value = 1}, bad = {.value = 2, .fail_after_insert = true};
    cr_assert_eq(store_write(shop->store, add_write, &ok, &pb), SHOP_OK);
    cr_assert_eq(store_write(shop->store, add_write, &bad, &pb), SHOP_CONFLICT);
    cr_assert_str_eq(pb.detail, "changed my mind");
    cr_assert_eq(count_rows(shop, 1), 1);
    cr_assert_eq(count_rows(shop, 2), 0);
    test_shop_close(shop);
}

struct counted_job {
    struct add_job add;
    int runs;
};

/* add_write, counting how often the writer ran it. */
static enum shop_err counted_write(struct db *db, void *arg, struct problem *pb)
{
    struct counted_job *j = arg;
    j->runs++;
    return add_write(db, &j->add, pb);
}

struct worker {
    struct shop *shop;
    int n, base;
    bool (*fails)(int i, int n); /* whether write i of n fails after its insert */
    int appends;                 /* rows each write appends (0: one insert) */
    int ok, failed, runs;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        struct problem pb = {0};
        struct counted_job j = {.add = {.value = w->base,
                                        .fail_after_insert = w->fails(i, w->n),
                                        .appends = w->appends}};
        if (store_write(w->shop->store, counted_write, &j, &pb) == SHOP_OK)
            w->ok++;
        else
            w->failed++;
        w->runs += j.runs;
        problem_clear(&pb);
    }
    return NULL;
}

static bool every_third(int i, int n)
{
    (void)n;
    return i % 3 == 0;
}

static bool never(int i, int n)
{
    (void)i;
    (void)n;
    return false;
}

static bool halfway(int i, int n)
{
    return i == n / 2;
}

Test(store, concurrent_writes_share_commits_and_stay_isolated)
{
    struct shop *shop = test_shop_open();
    enum { THREADS = 16, EACH = 60 };
    struct store_stats before;
    store_stats(shop->store, &before);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.shop = shop, .n = EACH, .base = 100 + i, .fails = every_third};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(w[i].failed, EACH / 3);
        cr_assert_eq(count_rows(shop, 100 + i), w[i].ok, "only successful writes remain");
    }
    struct store_stats s;
    store_stats(shop->store, &s);
    uint64_t writes = s.writes - before.writes, commits = s.commits - before.commits;
    cr_assert_eq(writes, THREADS * EACH);
    cr_assert_lt(commits, writes, "group commit batched some writes (%llu commits)",
                 (unsigned long long)commits);
    test_shop_close(shop);
}

/* Batches run without savepoints; the first failure rolls its batch back and
 * runs it again with them: the failed write leaves nothing, every other write
 * of the batch lands exactly once. */
Test(store, a_failure_reruns_its_batch_and_nothing_doubles)
{
    struct shop *shop = test_shop_open();
    enum { THREADS = 16, EACH = 40 };
    struct store_stats before, after;
    store_stats(shop->store, &before);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){
            .shop = shop, .base = 300 + i, .n = EACH, .fails = i == 5 ? halfway : never};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    int runs = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        runs += w[i].runs;
    }
    store_stats(shop->store, &after);
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(w[i].ok, i == 5 ? EACH - 1 : EACH);
        cr_assert_eq(count_rows(shop, 300 + i), w[i].ok);
    }
    cr_assert_eq(after.batch_reruns - before.batch_reruns, 1, "only the first failure reruns");
    cr_assert_gt(runs, THREADS * EACH, "the failed write's batch ran twice");
    test_shop_close(shop);
}

Test(store, migrations_are_idempotent)
{
    struct shop *shop = test_shop_open();
    cr_assert_eq(store_schema_version(shop->store), store_schema_latest());
    shop_close(shop);
    /* reopening an up-to-date database applies nothing */
    int applied = -1;
    struct problem pb = {0};
    struct store *s = store_open(test_db_path(), NULL, &pb);
    cr_assert_not_null(s, "%s", pb.detail);
    cr_assert_eq(store_migrate(s, &applied, &pb), SHOP_OK);
    cr_assert_eq(applied, 0);
    store_close(s);
    test_db_remove();
}

static enum shop_err nested_inner(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    (void)db;
    return problem_set(pb, SHOP_CONFLICT, "inner fails");
}

struct nest {
    struct store *store;
};

static enum shop_err nested_outer(struct db *db, void *arg, struct problem *pb)
{
    struct nest *n = arg;
    struct add_job j = {.value = 7};
    if (add_write(db, &j, pb) != SHOP_OK)
        return pb->err;
    struct problem inner = {0};
    cr_assert_eq(store_write(n->store, nested_inner, NULL, &inner), SHOP_CONFLICT);
    return SHOP_OK;
}

Test(store, nested_write_rolls_back_alone)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    struct nest n = {shop->store};
    cr_assert_eq(store_write(shop->store, nested_outer, &n, &pb), SHOP_OK);
    cr_assert_eq(count_rows(shop, 7), 1);
    test_shop_close(shop);
}

Test(store, readers_are_query_only)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    cr_assert_neq(db_exec(store_db(shop->store), "DELETE FROM outbox", &pb), SHOP_OK);
    problem_clear(&pb);
    test_shop_close(shop);
}

/* Inserts a ~30 KB row: about eight WAL pages per commit. */
static enum shop_err page_write(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    struct stmt *st = db_prepare(db, "INSERT INTO outbox (topic, aggregate_id, payload, created_at)"
                                     " VALUES ('pages', 0, printf('%.30000c', 'x'), 0)");
    return st && stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "insert");
}

Test(store, checkpoints_follow_wal_growth_not_every_commit)
{
    /* A reader holding a snapshot keeps the WAL from starting over, so its
     * size stays past the checkpoint threshold: the checkpointer must
     * still wait for new growth (each checkpoint costs two disk syncs). */
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    cr_assert_eq(store_write(shop->store, page_write, NULL, &pb), SHOP_OK);
    struct db *reader = store_db(shop->store);
    db_read_begin(reader);
    cr_assert_eq(db_scalar_i64(reader, "SELECT count(*) FROM outbox WHERE aggregate_id = ?", 0, -1),
                 1);
    struct store_stats before, after;
    store_stats(shop->store, &before);
    int64_t t0 = clock_now_ms();
    for (int i = 0; i < 750; i++)
        cr_assert_eq(store_write(shop->store, page_write, NULL, &pb), SHOP_OK);
    int64_t ms = clock_now_ms() - t0;
    store_stats(shop->store, &after);
    db_read_end(reader);
    uint64_t frames = after.frames_written - before.frames_written;
    uint64_t checkpoints = after.checkpoints - before.checkpoints;
    cr_assert_geq(frames, 6000);
    /* One per 2,000 new frames, one per 200 ms tick, and some slack. */
    uint64_t bound = frames / 2000 + (uint64_t)(ms / 200) + 3;
    cr_assert_leq(checkpoints, bound, "%llu checkpoints for %llu frames in %lld ms",
                  (unsigned long long)checkpoints, (unsigned long long)frames, (long long)ms);
    test_shop_close(shop);
}

Test(store, scalar_or_fail_tells_no_row_from_a_failed_read)
{
    struct shop *shop = test_shop_open();
    struct db *db = store_db(shop->store);
    struct problem pb = {0};
    int64_t v = 0;
    cr_assert_eq(db_scalar_i64_or_fail(db, "SELECT ? + 1", 41, -1, &v, &pb, "adding"), SHOP_OK);
    cr_assert_eq(v, 42);
    cr_assert_eq(db_scalar_i64_or_fail(db, "SELECT id FROM outbox WHERE id = ?", -5, -1, &v, &pb,
                                       "reading"),
                 SHOP_OK);
    cr_assert_eq(v, -1, "no row: the default");
    /* A statement that cannot be prepared, and one that fails when stepped
     * (abs of the smallest integer overflows): failures, not "no row". */
    cr_assert_eq(db_scalar_i64_or_fail(db, "SELECT x FROM no_such_table WHERE x = ?", 1, -1, &v,
                                       &pb, "reading nothing"),
                 SHOP_INTERNAL);
    cr_assert_eq(v, -1);
    problem_clear(&pb);
    cr_assert_eq(db_scalar_i64_or_fail(db, "SELECT abs(?)", INT64_MIN, -1, &v, &pb, "overflowing"),
                 SHOP_INTERNAL);
    problem_clear(&pb);
    /* The plain variant answers the default for both. */
    cr_assert_eq(db_scalar_i64(db, "SELECT abs(?)", INT64_MIN, -7), -7);
    db_release(db);
    test_shop_close(shop);
}

/* Rows appended at commit (db_append): a write's rows land with it, in the
 * order appended, however many chunks they take; a failed write's vanish,
 * whether its batch ran bare or with a savepoint per job. */
Test(store, appended_rows_land_with_their_write_in_order)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    struct add_job j = {.value = 900, .appends = 47}; /* 32 + 8 + 4 + 2 + 1 */
    cr_assert_eq(store_write(shop->store, add_write, &j, &pb), SHOP_OK);
    cr_assert_eq(count_rows(shop, 900), 47);
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT created_at, payload FROM outbox"
                                     " WHERE aggregate_id = 900 ORDER BY id");
    for (int i = 0; i < 47; i++) {
        cr_assert_eq(stmt_step(st), STMT_ROW);
        cr_assert_eq(stmt_i64(st, 0), i, "row %d in the order appended", i);
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        cr_assert_str_eq(stmt_text(st, 1), want);
    }
    db_release(db);
    struct add_job bad = {.value = 901, .appends = 3, .fail_after_insert = true};
    cr_assert_eq(store_write(shop->store, add_write, &bad, &pb), SHOP_CONFLICT);
    problem_clear(&pb);
    cr_assert_eq(count_rows(shop, 901), 0);
    test_shop_close(shop);
}

Test(store, appended_rows_of_failed_writes_vanish_under_load)
{
    struct shop *shop = test_shop_open();
    enum { THREADS = 12, EACH = 30, ROWS = 3 };
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){
            .shop = shop, .n = EACH, .base = 500 + i, .fails = every_third, .appends = ROWS};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(w[i].failed, EACH / 3);
        cr_assert_eq(count_rows(shop, 500 + i), w[i].ok * ROWS);
    }
    test_shop_close(shop);
}

static enum shop_err appending_inner(struct db *db, void *arg, struct problem *pb)
{
    struct add_job j = {.value = 911, .appends = 2, .fail_after_insert = true};
    (void)arg;
    return add_write(db, &j, pb);
}

static enum shop_err appending_outer(struct db *db, void *arg, struct problem *pb)
{
    struct nest *n = arg;
    struct add_job j = {.value = 910, .appends = 2};
    if (add_write(db, &j, pb) != SHOP_OK)
        return pb->err;
    struct problem inner = {0};
    cr_assert_eq(store_write(n->store, appending_inner, NULL, &inner), SHOP_CONFLICT);
    problem_clear(&inner);
    return add_write(db, &j, pb);
}

Test(store, a_nested_write_that_fails_drops_only_its_appended_rows)
{
    struct shop *shop = test_shop_open();
    struct problem pb = {0};
    struct nest n = {shop->store};
    cr_assert_eq(store_write(shop->store, appending_outer, &n, &pb), SHOP_OK);
    cr_assert_eq(count_rows(shop, 910), 4);
    cr_assert_eq(count_rows(shop, 911), 0);
    test_shop_close(shop);
}
