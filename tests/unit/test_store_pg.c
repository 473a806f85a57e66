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

/* Inserts key `key` of user 1, done: stmt_step's answer. */
static int insert_done_key(struct db *db, const char *key)
{
    struct stmt *st = db_prepare(db, "INSERT INTO idempotency_keys (user_id, key, request_hash,"
                                     " status, created_at) VALUES (1, ?, 'h', 'done', 0)");
    stmt_bind_text(st, 1, key);
    return stmt_step(st);
}

/* A value user 1's keys hold, read outside any write (`sql` binds the user). */
static int64_t read_i64(struct store *s, const char *sql)
{
    struct db *db = store_db(s);
    int64_t n = db_scalar_i64(db, sql, 1, -1);
    db_release(db);
    return n;
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
    return insert_done_key(db, f->marker) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "marker");
}

static enum shop_err put_marker(struct db *db, void *arg, struct problem *pb)
{
    return insert_done_key(db, arg) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "marker");
}

static int64_t markers(struct store *s)
{
    return read_i64(s, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'after-%'"
                       " AND user_id = ?");
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

/* ---- statements that wait, after pipelined writes ------------------------------------ */

/* One writer connection, so that a write run first has prepared the
 * statements of the ones after it: a statement prepared for the first time
 * collects the answers owed before it, and would not join the pipeline. */
static struct store *pg_store_one_writer(void)
{
    setenv("SHOPD_PG_WRITERS", "1", 1);
    return pg_store();
}

struct counted {
    const char *key; /* the key the conditional write must find */
    int runs;
    int64_t seen; /* what the counting UPDATE answered in the first run */
};

/* A conditional write (answered later, with the pipeline), then a statement
 * that waits for its answer: the two answers come back together, and the
 * second statement runs once however the batch ends. */
static enum shop_err find_then_count(struct db *db, void *arg, struct problem *pb)
{
    struct counted *c = arg;
    c->runs++;
    struct stmt *st = db_prepare(db, "UPDATE idempotency_keys SET status = 'done'"
                                     " WHERE user_id = 1 AND key = ?");
    stmt_bind_text(st, 1, c->key);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "find");
    if (db_expect_changes(db, 1, pb, SHOP_CONFLICT, "no such key") != SHOP_OK)
        return pb->err;
    st = db_prepare(db, "UPDATE idempotency_keys SET outcome = coalesce(outcome, 0) + 1"
                        " WHERE user_id = 1 AND key = 'k' RETURNING outcome");
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "count");
    if (c->runs == 1)
        c->seen = stmt_i64(st, 0);
    return SHOP_OK;
}

static int64_t count_of_k(struct store *s)
{
    return read_i64(s, "SELECT coalesce(outcome, 0) FROM idempotency_keys"
                       " WHERE user_id = ? AND key = 'k'");
}

Test(store_pg, a_statement_that_waits_after_a_missed_write_runs_once)
{
    struct store *s = pg_store_one_writer();
    struct problem pb = {0};
    cr_assert_eq(store_write(s, put_key, "done", &pb), SHOP_OK, "%s", pb.detail);
    struct counted hit = {"k", 0, 0};
    cr_assert_eq(store_write(s, find_then_count, &hit, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(hit.runs, 1);
    cr_assert_eq(hit.seen, 1);
    struct counted miss = {"absent", 0, 0};
    cr_assert_eq(store_write(s, find_then_count, &miss, &pb), SHOP_CONFLICT);
    problem_clear(&pb);
    cr_assert_eq(miss.runs, 2, "pipelined, then alone (%d runs)", miss.runs);
    cr_assert_eq(miss.seen, 2, "the count ran once in the first run (answered %lld)",
                 (long long)miss.seen);
    cr_assert_eq(count_of_k(s), 1, "the missed write's count was rolled back");
    store_close(s);
}

/* An INSERT of key `arg` (answered later, with the pipeline), then a read
 * that waits. */
static enum shop_err insert_then_read(struct db *db, void *arg, struct problem *pb)
{
    struct counted *c = arg;
    c->runs++;
    int rc = insert_done_key(db, c->key);
    if (rc == STMT_CONSTRAINT)
        return problem_set(pb, SHOP_CONFLICT, "the key exists");
    if (rc != STMT_DONE)
        return db_fail(db, pb, "insert");
    struct stmt *st = db_prepare(db, "SELECT count(*) FROM idempotency_keys WHERE user_id = ?");
    stmt_bind_i64(st, 1, 1);
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "read");
    c->seen = stmt_i64(st, 0);
    return SHOP_OK;
}

/* The read sees the INSERT sent before it. After an INSERT that violates a
 * key, the read is refused in the first run (the server skipped it), the
 * INSERT alone gets its constraint, and the connection is fit for the next
 * write. */
Test(store_pg, a_read_after_a_failed_pipelined_write_fails_and_the_writer_goes_on)
{
    struct store *s = pg_store_one_writer();
    struct problem pb = {0};
    struct counted first = {"k", 0, 0};
    cr_assert_eq(store_write(s, insert_then_read, &first, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(first.runs, 1);
    cr_assert_eq(first.seen, 1, "the read saw the INSERT before it");
    struct counted again = {"k", 0, 0};
    cr_assert_eq(store_write(s, insert_then_read, &again, &pb), SHOP_CONFLICT);
    cr_assert_str_eq(pb.detail, "the key exists");
    problem_clear(&pb);
    cr_assert_eq(again.runs, 2, "pipelined, then alone (%d runs)", again.runs);
    cr_assert_eq(store_write(s, put_marker, "after-dup", &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(markers(s), 1);
    store_close(s);
}

/* ---- ids asked for later ----------------------------------------------------------- */

struct two_ids {
    int64_t first, second;
};

static enum shop_err two_declines(struct db *db, void *arg, struct problem *pb)
{
    struct two_ids *ids = arg;
    int64_t *into[2] = {&ids->first, &ids->second};
    for (int i = 0; i < 2; i++) {
        struct stmt *st =
            db_prepare(db, "INSERT INTO fraud_declines (user_id, code, at) VALUES (?, 'x', 0)");
        stmt_bind_i64(st, 1, 7 + i);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "insert");
        db_last_id_into(db, into[i]);
    }
    return SHOP_OK;
}

/* Each INSERT's id reaches where its write said by the time it committed,
 * the right id to the right place, whether it came with the INSERT's
 * pipelined answer or at once. */
Test(store_pg, an_id_asked_for_later_is_there_once_the_write_committed)
{
    struct store *s = pg_store();
    struct problem pb = {0};
    struct two_ids ids = {0, 0};
    cr_assert_eq(store_write(s, two_declines, &ids, &pb), SHOP_OK, "%s", pb.detail);
    struct db *db = store_db(s);
    int64_t first = db_scalar_i64(db, "SELECT id FROM fraud_declines WHERE user_id = ?", 7, -1);
    int64_t second = db_scalar_i64(db, "SELECT id FROM fraud_declines WHERE user_id = ?", 8, -1);
    db_release(db);
    cr_assert(first > 0 && second > 0 && first != second);
    cr_assert_eq(ids.first, first);
    cr_assert_eq(ids.second, second);
    store_close(s);
}
