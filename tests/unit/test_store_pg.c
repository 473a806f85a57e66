/* Unit tests for src/store that need a PostgreSQL server: `make unit-pg`
 * runs them with one (scripts/pgtmp.sh sets SHOPD_TEST_PG); without it
 * they are skipped. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"

static struct store *pg_store(void)
{
    const char *base = getenv("SHOPD_TEST_PG");
    if (!base || !*base)
        cr_skip_test("no PostgreSQL server (SHOPD_TEST_PG)");
    setenv("SHOPD_LOG_LEVEL", "off", 0);
    static int seq;
    char name[64], cmd[512], url[400];
    snprintf(name, sizeof name, "unit_%d_%d", (int)getpid(), ++seq);
    snprintf(cmd, sizeof cmd, "psql -qAt '%s/postgres' -c 'CREATE DATABASE %s' >/dev/null", base,
             name);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(url, sizeof url, "%s/%s", base, name);
    struct problem pb = {0};
    struct store *s = store_open(url, NULL, &pb);
    cr_assert_not_null(s, "store_open: %s", pb.detail);
    int applied;
    cr_assert_eq(store_migrate(s, &applied, &pb), SHOP_OK, "%s", pb.detail);
    return s;
}

static enum shop_err put_key(struct db *db, void *arg, struct problem *pb)
{
    const char *status = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO idempotency_keys (user_id, key, request_hash,"
                                     " status, created_at) VALUES (1, 'k', 'h', ?, 0)");
    stmt_bind_text(st, 1, status);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "put");
}

struct finish {
    const char *marker;
    int runs;
};

/* Moves key 'k' from in_progress to done, insisting on one row, then
 * writes a marker that must not outlive a miss. */
static enum shop_err finish_key(struct db *db, void *arg, struct problem *pb)
{
    struct finish *f = arg;
    f->runs++;
    struct stmt *st = db_prepare(db, "UPDATE idempotency_keys SET status = 'done'"
                                     " WHERE user_id = 1 AND key = 'k' AND status = 'in_progress'");
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "finish");
    if (db_expect_changes(db, 1, pb, SHOP_CONFLICT, "the key changed meanwhile") != SHOP_OK)
        return pb->err;
    st = db_prepare(db, "INSERT INTO idempotency_keys (user_id, key, request_hash, status,"
                        " created_at) VALUES (1, ?, 'h', 'done', 0)");
    stmt_bind_text(st, 1, f->marker);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "marker");
}

static int64_t markers(struct store *s)
{
    struct db *db = store_db(s);
    int64_t n = db_scalar_i64(db, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'after-%'"
                                  " AND user_id = ?", 1, -1);
    db_release(db);
    return n;
}

/* A conditional write that finds its row: answered with the pipeline, no
 * second run. One that does not: the first (pipelined) run cannot know at
 * once, so the batch fails, runs again with each write alone, and the
 * write gets its conflict; nothing it wrote after the miss remains. */
Test(store_pg, a_conditional_write_is_checked_with_its_answer)
{
    struct store *s = pg_store();
    struct problem pb = {0};
    struct store_stats before, after;
    cr_assert_eq(store_write(s, put_key, "in_progress", &pb), SHOP_OK, "%s", pb.detail);
    store_stats(s, &before);
    struct finish hit = {"after-hit", 0};
    cr_assert_eq(store_write(s, finish_key, &hit, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(hit.runs, 1);
    cr_assert_eq(markers(s), 1);
    store_stats(s, &after);
    cr_assert_eq(after.batch_reruns, before.batch_reruns);

    struct finish miss = {"after-miss", 0};
    cr_assert_eq(store_write(s, finish_key, &miss, &pb), SHOP_CONFLICT);
    cr_assert_str_eq(pb.detail, "the key changed meanwhile");
    problem_clear(&pb);
    cr_assert_eq(miss.runs, 2, "pipelined, then alone (%d runs)", miss.runs);
    cr_assert_eq(markers(s), 1, "the missed write's marker was rolled back");
    store_stats(s, &after);
    cr_assert_eq(after.batch_reruns, before.batch_reruns + 1);
    store_close(s);
}
