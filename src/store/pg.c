/* pg.c — the PostgreSQL backend of store.h, over libpq: connections, the
 * pool, transactions (statements and pipelining are pg_stmt.c).
 *
 * Connections. A store has writer connections, one per writer thread
 * (SHOPD_PG_WRITERS, default one per core, at least 2: a write's time here
 * is mostly round trips, which other writers overlap), and a pool of read connections
 * (SHOPD_PG_READERS, default 24) shared by every other thread. A thread's
 * `struct db` is a handle of its own that borrows a pooled connection at its
 * first statement and gives it back at `db_release` when no transaction is
 * open, so a process's connections follow the reads in flight, not its
 * thread count (64 HTTP workers would otherwise hold 64 connections each).
 * When the pool is empty a reader waits for one; after a second it opens
 * one more rather than risk waiting on itself.
 *
 * Readers run with default_transaction_read_only (SQLite's readers are
 * query_only): a write that does not go through the writer is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pg_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

static int env_int(const char *name, int dflt, int lo, int hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    long n = strtol(v, NULL, 10);
    return n < lo ? lo : n > hi ? hi : (int)n;
}

/* ---- connections -------------------------------------------------------- */

void pg_set_err(struct pg_conn *pc, const char *msg)
{
    snprintf(pc->err, sizeof pc->err, "%s", msg ? msg : "");
    size_t n = strlen(pc->err);
    while (n && (pc->err[n - 1] == '\n' || pc->err[n - 1] == ' '))
        pc->err[--n] = 0;
}

/* Runs SQL with the simple protocol (several statements allowed). */
bool pg_conn_exec(struct pg_conn *pc, const char *sql)
{
    PGresult *r = PQexec(pc->c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        pg_set_err(pc,
                   PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(pc->c));
    PQclear(r);
    return ok;
}

static void notice_quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res; /* "relation already exists, skipping" and the like */
}

/* The session settings every connection runs with, after each (re)connect:
 * a lock held longer than the busy timeout is a conflict to retry, as
 * SQLite's busy timeout is; times are UTC; text sorts by bytes. */
static bool conn_setup(struct pg_store *s, struct pg_conn *pc)
{
    char setup[512];
    snprintf(setup, sizeof setup,
             "SET application_name = 'shopd'; SET lock_timeout = %d; SET TIME ZONE 'UTC';"
             " SET synchronous_commit = %s; SET default_transaction_read_only = %s;",
             s->base.opts.busy_timeout_ms, s->base.opts.sync_normal ? "off" : "on",
             pc->writer ? "off" : "on");
    return pg_conn_exec(pc, setup);
}

/* A new connection, set up. With `lenient`, one that cannot be made now
 * (the server restarting, out of connections) is still returned, broken:
 * its statements fail, and conn_check connects and sets it up when it is
 * next lent. Otherwise NULL, with the reason in `pb`. */
static struct pg_conn *conn_make(struct pg_store *s, bool writer, bool lenient, struct problem *pb)
{
    PGconn *c = PQconnectdb(s->base.path);
    if (!c)
        abort(); /* libpq out of memory, as xalloc */
    PQsetNoticeReceiver(c, notice_quiet, NULL);
    struct pg_conn *pc = xcalloc(1, sizeof *pc);
    pc->c = c;
    pc->writer = writer;
    if (PQstatus(c) != CONNECTION_OK) {
        pg_set_err(pc, PQerrorMessage(c));
        problem_set(pb, SHOP_UNAVAILABLE, "cannot connect to PostgreSQL: %s", pc->err);
    } else if (!(pc->set_up = conn_setup(s, pc))) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot configure a PostgreSQL connection: %s", pc->err);
    }
    if (pc->set_up || lenient)
        return pc;
    PQfinish(c);
    free(pc);
    return NULL;
}

static struct pg_conn *conn_open(struct pg_store *s, bool writer, struct problem *pb)
{
    return conn_make(s, writer, false, pb);
}

static void conn_close(struct pg_conn *pc)
{
    for (size_t i = 0; i < pc->cache.cap; i++)
        if (pc->cache.slot[i].st)
            pg_stmt_free(PG_ST(pc->cache.slot[i].st));
    stmt_cache_free(&pc->cache);
    PQfinish(pc->c);
    free(pc);
}

/* Forgets the statements prepared on a connection that was reset. */
static void conn_forget_prepared(struct pg_conn *pc)
{
    for (size_t i = 0; i < pc->cache.cap; i++)
        if (pc->cache.slot[i].st)
            PG_ST(pc->cache.slot[i].st)->prepared = false;
}

/* A connection the server dropped is opened again before it is lent, and
 * set up again: a reset connection has none of conn_setup's settings (a
 * reader would accept writes, a lock wait would never time out). While the
 * server refuses, the connection stays broken and its statements fail. */
static void conn_check(struct pg_store *s, struct pg_conn *pc)
{
    /* An idle connection the server has closed (a restart, a terminated
     * backend) still says CONNECTION_OK until something is read: read what
     * has arrived (never blocks), which notices the close. */
    if (PQstatus(pc->c) == CONNECTION_OK && PQtransactionStatus(pc->c) == PQTRANS_IDLE)
        PQconsumeInput(pc->c);
    if (PQstatus(pc->c) != CONNECTION_OK) {
        PQreset(pc->c);
        conn_forget_prepared(pc);
        pc->set_up = false;
        if (PQstatus(pc->c) != CONNECTION_OK) {
            pg_set_err(pc, PQerrorMessage(pc->c));
            return;
        }
        log_event(LOG_WARN, "db.reconnected", NULL);
    }
    if (!pc->set_up && !(pc->set_up = conn_setup(s, pc)))
        log_event(LOG_WARN, "db.setup_failed", "{s:s}", "error", pc->err);
}

static struct pg_conn *pool_borrow(struct pg_store *s)
{
    pthread_mutex_lock(&s->mu);
    struct timespec until = clock_deadline(POOL_WAIT_MS);
    while (!s->idle && s->nconns >= s->readers_max)
        if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &until) == ETIMEDOUT)
            break;
    struct pg_conn *pc = s->idle;
    if (pc) {
        s->idle = pc->next_idle;
        pthread_mutex_unlock(&s->mu);
        conn_check(s, pc);
        return pc;
    }
    if (s->nconns >= s->readers_max)
        log_event(LOG_WARN, "db.pool_exhausted", "{s:i}", "connections", s->nconns);
    s->nconns++;
    pthread_mutex_unlock(&s->mu);
    struct problem pb = {0};
    /* Never NULL: a connection the server refuses now (restarting, out of
     * connections) fails its statements, so the request fails, not the
     * process; the next borrower connects it again (conn_check). */
    pc = conn_make(s, false, true, &pb);
    if (!pc->set_up)
        log_event(LOG_ERROR, "db.open", "{s:s}", "detail", pb.detail);
    pthread_mutex_lock(&s->mu);
    pc->next_all = s->all;
    s->all = pc;
    pthread_mutex_unlock(&s->mu);
    return pc;
}

void pg_pool_return(struct pg_store *s, struct pg_conn *pc)
{
    pthread_mutex_lock(&s->mu);
    pc->next_idle = s->idle;
    s->idle = pc;
    pthread_cond_signal(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

/* A reader handle's thread ended: what it borrowed goes back. */
static void handle_thread_exit(void *arg)
{
    struct pg_db *h = arg;
    if (h->conn) {
        struct pg_conn *pc = h->conn;
        h->conn = NULL;
        if (PQtransactionStatus(pc->c) != PQTRANS_IDLE)
            pg_conn_exec(pc, "ROLLBACK");
        pg_pool_return(PG_STORE(h->base.store), pc);
    }
}

static struct pg_db *handle_new(struct pg_store *s, bool writer)
{
    struct pg_db *h = xcalloc(1, sizeof *h);
    h->base = (struct db){.ops = &pg_ops, .store = &s->base, .writer = writer};
    pthread_mutex_lock(&s->mu);
    h->next_handle = s->handles;
    s->handles = h;
    pthread_mutex_unlock(&s->mu);
    return h;
}

/* The connection a handle's statements run on, borrowed if need be. */
struct pg_conn *pg_db_conn(struct pg_db *db)
{
    if (!db->conn)
        db->conn = pool_borrow(PG_STORE(db->base.store));
    return db->conn;
}

struct store *pg_store_open(const char *url, const struct store_opts *opts, struct problem *pb)
{
    struct pg_store *s = xcalloc(1, sizeof *s);
    /* As many writers as cores by default (at least 2): measured on 2 cores
     * with PostgreSQL on the same box, 2 writers gave 750 checkouts/s, 4
     * gave 720 and 8 gave 600; a remote server's longer round trips would
     * want more. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int writers = cores < 2 ? 2 : cores > MAX_WRITERS ? MAX_WRITERS : (int)cores;
    store_init_common(&s->base, &pg_ops, url, opts,
                      env_int("SHOPD_PG_WRITERS", writers, 1, MAX_WRITERS));
    s->readers_max = env_int("SHOPD_PG_READERS", 24, 1, 1000);
    pthread_key_create(&s->key, handle_thread_exit);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ids_mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    struct pg_conn *pc = conn_open(s, true, pb);
    if (!pc) {
        pthread_key_delete(s->key);
        pthread_mutex_destroy(&s->ids_mu);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->idle_cv);
        store_free_common(&s->base);
        free(s);
        return NULL;
    }
    struct pg_db *w = handle_new(s, true);
    w->conn = pc;
    s->base.wdb[0] = &w->base;
    return &s->base;
}

static struct db *pg_reader(struct store *base)
{
    struct pg_store *s = PG_STORE(base);
    struct pg_db *h = pthread_getspecific(s->key);
    if (!h) {
        h = handle_new(s, false);
        pthread_setspecific(s->key, h);
    }
    return &h->base;
}

static struct db *pg_connect_writer(struct store *base, struct problem *pb)
{
    struct pg_store *s = PG_STORE(base);
    struct pg_conn *pc = conn_open(s, true, pb);
    if (!pc)
        return NULL;
    struct pg_db *w = handle_new(s, true);
    w->conn = pc;
    return &w->base;
}

static void pg_close(struct store *base)
{
    struct pg_store *s = PG_STORE(base);
    pthread_mutex_lock(&s->mu);
    struct pg_db *h = s->handles;
    s->handles = NULL;
    struct pg_conn *pc = s->all;
    s->all = s->idle = NULL;
    pthread_mutex_unlock(&s->mu);
    /* Readers' connections are on `all` (lent or idle); writers own theirs. */
    while (h) {
        struct pg_db *next = h->next_handle;
        if (h->base.writer && h->conn)
            conn_close(h->conn);
        free(h);
        h = next;
    }
    while (pc) {
        struct pg_conn *next = pc->next_all;
        conn_close(pc);
        pc = next;
    }
    /* This thread's handle is gone: its key must not hand it back later. */
    pthread_setspecific(s->key, NULL);
    pthread_key_delete(s->key);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ids_mu);
    pthread_cond_destroy(&s->idle_cv);
    store_free_common(base);
    free(s);
}

/* ---- transactions -------------------------------------------------------- */

static bool pg_begin(struct db *base, bool exclusive)
{
    struct pg_conn *pc = pg_db_conn(PG_DB(base));
    const char *sql =
        exclusive ? "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")" : "BEGIN";
    pg_sync(pc);
    conn_check(PG_STORE(base->store), pc);
    pc->retryable = pc->expect_failed = false;
    bool ok = pg_conn_exec(pc, sql);
    if (!ok && PQstatus(pc->c) != CONNECTION_OK) {
        /* The server closed the connection while it was idle (a restart, a
         * terminated backend): libpq finds out only now. Nothing was done,
         * so connect again and begin once more rather than fail the write. */
        conn_check(PG_STORE(base->store), pc);
        ok = pg_conn_exec(pc, sql);
    }
    if (!ok) {
        log_event(LOG_ERROR, "db.begin", "{s:s}", "error", pc->err);
        if (PQtransactionStatus(pc->c) != PQTRANS_IDLE)
            pg_conn_exec(pc, "ROLLBACK");
        return false;
    }
    return true;
}

static enum tx_state pg_tx_state(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    if (!pc)
        return TX_NONE;
    pg_sync(pc);
    switch (PQtransactionStatus(pc->c)) {
    case PQTRANS_INTRANS:
        return pc->expect_failed ? TX_FAILED : TX_OPEN;
    case PQTRANS_INERROR:
        return TX_FAILED;
    default:
        return TX_NONE;
    }
}

static bool pg_unreachable(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    return pc && PQstatus(pc->c) != CONNECTION_OK;
}

static bool pg_retryable(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    if (!pc)
        return false;
    pg_sync(pc);
    return pc->retryable;
}

/* writer.c: pipelining on for a bare run of a batch, off otherwise. */
static void pg_pipeline(struct db *base, bool on)
{
    struct pg_conn *pc = pg_db_conn(PG_DB(base));
    if (!on)
        pg_sync(pc);
    pc->pipeline = on;
}

/* A transaction-level advisory lock (store.h, db_lock). */
static enum shop_err pg_lock(struct db *db, const int64_t *keys, int n, struct problem *pb)
{
    /* One statement for all: its target list is evaluated left to right,
     * so the locks are taken in the order given. */
#define L(i) "pg_advisory_xact_lock(?" #i ")"
    static const char *const sql[DB_LOCK_MAX] = {
        "SELECT " L(1),
        "SELECT " L(1) ", " L(2),
        "SELECT " L(1) ", " L(2) ", " L(3),
        "SELECT " L(1) ", " L(2) ", " L(3) ", " L(4),
        "SELECT " L(1) ", " L(2) ", " L(3) ", " L(4) ", " L(5),
        "SELECT " L(1) ", " L(2) ", " L(3) ", " L(4) ", " L(5) ", " L(6),
        "SELECT " L(1) ", " L(2) ", " L(3) ", " L(4) ", " L(5) ", " L(6) ", " L(7),
        "SELECT " L(1) ", " L(2) ", " L(3) ", " L(4) ", " L(5) ", " L(6) ", " L(7) ", " L(8),
    };
#undef L
    struct stmt *st = db_prepare(db, sql[n - 1]);
    if (!st)
        return db_fail(db, pb, "locking");
    for (int i = 0; i < n; i++)
        stmt_bind_i64(st, i + 1, keys[i]);
    /* Nothing waits for the lock's answer: the statements after it run once
     * it is held, and a deadlock fails the transaction (the writer runs it
     * again). A round trip fewer for each check a lock guards. */
    int rc = stmt_step_by(st, pg_step_unanswered);
    return rc == STMT_ROW || rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "locking");
}

/* One snapshot for several reads, as SQLite's BEGIN on a WAL reader. */
static void pg_read_begin(struct db *base)
{
    struct pg_db *db = PG_DB(base);
    if (pg_conn_exec(pg_db_conn(db), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        db->in_read_tx = true;
}

static void pg_read_end(struct db *base)
{
    struct pg_db *db = PG_DB(base);
    if (db->conn && PQtransactionStatus(db->conn->c) != PQTRANS_IDLE)
        pg_conn_exec(db->conn, "COMMIT");
    db->in_read_tx = false;
    pg_release(base);
}

const struct store_ops pg_ops = {
    .name = "postgres",
    .migrations = migrations_postgres,
    .reader = pg_reader,
    .connect_writer = pg_connect_writer,
    .close = pg_close,
    .schema_changed = pg_schema_changed,
    .begin = pg_begin,
    .tx_state = pg_tx_state,
    .retryable = pg_retryable,
    .unreachable = pg_unreachable,
    .pipeline = pg_pipeline,
    .defer_expect = pg_defer_expect,
    .defer_id = pg_defer_id,
    .lock = pg_lock,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .prepare = pg_prepare,
    .release = pg_release,
    .reset = pg_reset,
    .bind_i64 = pg_bind_i64,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .step = pg_step,
    .col_i64 = pg_col_i64,
    .col_double = pg_col_double,
    .col_text = pg_col_text,
    .col_len = pg_col_len,
    .col_null = pg_col_null,
    .changes = pg_changes,
    .last_id = pg_last_id,
    .exec = pg_exec,
    .errmsg = pg_errmsg,
};
