/* Unit tests for src/store/walbuf.c: WAL writes gathered per commit must
 * never be seen missing — not by another connection, not after a crash. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/walbuf.h"

static char dir[64], path[96];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/shopd-walbuf-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    sqlite3_initialize();
    if (!sqlite3_vfs_find(WALBUF_VFS))
        cr_assert_eq(walbuf_register(), SQLITE_OK);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static sqlite3 *open_db(const char *vfs, const char *pragmas)
{
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                 SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL),
        SQLITE_OK);
    if (pragmas)
        cr_assert_eq(sqlite3_exec(h, pragmas, NULL, NULL, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(h));
    return h;
}

static void exec(sqlite3 *h, const char *sql)
{
    cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(h));
}

static int64_t scalar(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void assert_intact(sqlite3 *h)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* Rows of ~3 KB so each commit spans pages; the checksum column lets a
 * reader tell a torn or stale page from the real thing. */
#define SCHEMA                                                                                     \
    "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB NOT NULL, n INTEGER NOT "     \
    "NULL)"
#define INSERT_ROW "INSERT INTO t (body, n) VALUES (randomblob(3000), %d)"

TestSuite(walbuf, .init = setup, .fini = teardown);

Test(walbuf, every_commit_is_in_the_file_before_another_connection_reads_it)
{
    sqlite3 *w = open_db(WALBUF_VFS, SCHEMA);
    sqlite3 *r = open_db(NULL, NULL); /* the plain VFS reads the file itself */
    int64_t sum = 0;
    for (int i = 1; i <= 300; i++) {
        char sql[192];
        snprintf(sql, sizeof sql, "BEGIN; " INSERT_ROW "; " INSERT_ROW "; COMMIT;", i, i);
        exec(w, sql);
        sum += 2 * i;
        cr_assert_eq(scalar(r, "SELECT count(*) FROM t"), 2 * i);
        cr_assert_eq(scalar(r, "SELECT sum(n) FROM t"), sum);
        cr_assert_eq(scalar(r, "SELECT sum(length(body)) FROM t"), 2 * i * 3000);
    }
    assert_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
}

Test(walbuf, large_spilled_and_rewritten_transactions_and_log_restarts_stay_intact)
{
    /* A tiny cache spills frames mid-transaction and writes some pages
     * twice; 6 MB is more than the buffer holds; a checkpoint restart
     * makes the next commit write from the start of the log again. */
    sqlite3 *w = open_db(WALBUF_VFS, SCHEMA "; PRAGMA cache_size=8; PRAGMA wal_autocheckpoint=0");
    sqlite3 *r = open_db(NULL, NULL);
    for (int round = 0; round < 3; round++) {
        exec(w, "BEGIN");
        for (int i = 0; i < 2000; i++) {
            char sql[128];
            snprintf(sql, sizeof sql, INSERT_ROW, i);
            exec(w, sql);
        }
        exec(w, "UPDATE t SET n = n + 1 WHERE id % 7 = 0");
        exec(w, "COMMIT");
        cr_assert_eq(scalar(r, "SELECT count(*) FROM t"), 2000 * (round + 1));
        assert_intact(r);
        cr_assert_eq(sqlite3_wal_checkpoint_v2(r, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL),
                     SQLITE_OK);
    }
    int64_t sum = scalar(r, "SELECT sum(n) FROM t");
    sqlite3_close(r);
    sqlite3_close(w);
    sqlite3 *again = open_db(NULL, NULL);
    cr_assert_eq(scalar(again, "SELECT sum(n) FROM t"), sum);
    assert_intact(again);
    sqlite3_close(again);
}

Test(walbuf, a_killed_writer_keeps_every_commit_it_reported)
{
    sqlite3 *init = open_db(NULL, SCHEMA);
    sqlite3_close(init);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* The writer: reports each commit, then dies inside a transaction
         * whose frames are still in its buffer. */
        close(fds[0]);
        sqlite3 *w = open_db(WALBUF_VFS, "PRAGMA cache_size=8");
        for (int i = 1; i <= 50; i++) {
            char sql[128];
            snprintf(sql, sizeof sql, INSERT_ROW, i);
            if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK ||
                write(fds[1], &i, sizeof i) != sizeof i)
                _exit(1);
        }
        sqlite3_exec(w, "BEGIN", NULL, NULL, NULL);
        for (int i = 0;; i++) {
            char sql[128];
            snprintf(sql, sizeof sql, INSERT_ROW, -1);
            sqlite3_exec(w, sql, NULL, NULL, NULL);
            if (i == 100 && write(fds[1], &i, sizeof i) != sizeof i)
                _exit(1);
        }
    }
    close(fds[1]);
    int got = 0, reported = 0;
    while (got < 51 && read(fds[0], &reported, sizeof reported) == sizeof reported)
        got++;
    cr_assert_eq(got, 51, "the writer reported %d of 50 commits and a transaction", got);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);

    sqlite3 *r = open_db(NULL, NULL);
    cr_assert_eq(scalar(r, "SELECT count(*) FROM t"), 50);
    cr_assert_eq(scalar(r, "SELECT sum(n) FROM t"), 50 * 51 / 2);
    assert_intact(r);
    sqlite3_close(r);
}
