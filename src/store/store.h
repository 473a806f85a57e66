/* store.h — the database behind shopd, as an opaque handle.
 *
 * One `struct store` per process, over SQLite (a file path: the embedded
 * default) or PostgreSQL (a postgres:// URL: many processes, one shop); the
 * path chooses (store.c). Reads run on the calling thread's own connection
 * (`store_db`), which sees everything committed before the read began.
 * Writes never run on the caller's connection: the caller hands a function
 * to `store_write`, and a writer thread runs it inside a transaction shared
 * with whatever other writes are queued at that moment (group commit):
 *
 *     caller threads            writer thread
 *     store_write(fn, arg) ──►  BEGIN (IMMEDIATE on SQLite)
 *     (blocks)                  fn₁(db, arg₁)
 *     store_write(fn, arg) ──►  fn₂(db, arg₂)
 *                               COMMIT  (one fsync for the whole batch)
 *     returns fn's result  ◄──  wakes every caller of the batch
 *
 * SQLite has one writer thread (the database takes one writer at a time
 * anyway); PostgreSQL a small pool of them (SHOPD_PG_WRITERS, default one
 * per core), each with its own connection and batches, since there a write's
 * time is mostly round trips that other writers can overlap.
 *
 * When a write fails, its batch is rolled back and run again with each write
 * in a savepoint of its own (SAVEPOINT; fn; RELEASE | ROLLBACK TO), and so
 * are the batches that follow for a while: savepoints cost every write a
 * copy of the pages it shares with earlier writes of the batch, so they are
 * paid for only while writes are failing. When a statement loses a deadlock
 * or a serialization conflict (PostgreSQL), the whole batch is rolled back
 * and run again after a short random pause.
 *
 * Invariants:
 *  - `store_write` returns SHOP_OK only after the COMMIT that contains the
 *    write is durable (synchronous=FULL, or synchronous_commit=on, unless
 *    configured otherwise), so a 2xx built on it survives a crash.
 *  - A write function that returns an error has changed nothing. Other
 *    writes in the same batch are unaffected.
 *  - A write function may run more than once (when its batch is run again
 *    after another write of it failed, or lost a conflict); it must derive
 *    everything from its argument and the database and reset its outputs at
 *    the start, and do nothing outside the database that a second run would
 *    repeat.
 *  - On SQLite all writes are serialised (one writer thread per process,
 *    BEGIN IMMEDIATE across processes): what a write read is still true when
 *    it writes (`db_serialised`). On PostgreSQL writers run side by side at
 *    READ COMMITTED: a value read and then written back may have changed in
 *    between. Invariants that span writers are kept by conditional statements
 *    (`UPDATE … WHERE available >= ?`, then check `db_changes`), unique keys
 *    and row locks, never by a read followed by a write.
 *
 * SQL is one text for both backends, written in their common subset
 * (ENGINEERING.md §4) with `?` or `?N` placeholders (PostgreSQL's are
 * translated once, at prepare). Integers are bound as bigint; booleans are
 * stored as integers, and a comparison selected as a column reads as 0/1 on
 * both. Migrations exist once per backend, with the same versions
 * (src/store/migrations/<backend>/).
 */
#ifndef SHOP_STORE_STORE_H
#define SHOP_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct store;
struct db;
struct stmt;

struct store_opts {
    /* SQLite synchronous=NORMAL instead of FULL, PostgreSQL
     * synchronous_commit=off: the last commits may be lost in a crash (the
     * simulated gateway's books, benchmarks of the raw ceiling). */
    bool sync_normal;
    int busy_timeout_ms; /* 0 → 5000 */
    /* The books of an outside system (the simulated gateway): injected
     * store faults (util/faults.h) never fail its writes. */
    bool no_faults;
};

/** Opens (creating if needed) the database at `path`: a SQLite file, or a
 *  postgres:// URL (the database must exist). NULL on failure, with the
 *  reason in `pb`. The schema is not touched: call store_migrate. */
struct store *store_open(const char *path, const struct store_opts *opts, struct problem *pb);

/** True when `path` names a database server (postgres:// or postgresql://)
 *  rather than a file. */
bool store_is_server_url(const char *path);

/** Finishes queued writes, stops the writer and closes every connection.
 *  No other thread may use the store during or after this call. */
void store_close(struct store *s);

/** Applies pending migrations (each in its own transaction; safe when
 *  several processes start at once). `*applied` gets how many ran. */
enum shop_err store_migrate(struct store *s, int *applied, struct problem *pb);

/** The schema version in the database (0 when empty). */
int store_schema_version(struct store *s);

/** The highest migration this binary knows. */
int store_schema_latest(void);

/** This thread's read connection (the writer's own inside a write function).
 *  Opened on first use; query_only. Never NULL (aborts when the database
 *  cannot be opened). */
struct db *store_db(struct store *s);

typedef enum shop_err (*store_write_fn)(struct db *db, void *arg, struct problem *pb);

/** Runs `fn(db, arg, pb)` in the writer thread inside a transaction and
 *  returns its result once committed. On failure nothing `fn` did remains
 *  and `pb` says why (fn's own problem, or SHOP_INTERNAL/SHOP_UNAVAILABLE
 *  when the commit itself failed or the database stayed busy). Called from
 *  inside a write function, runs `fn` inline in a nested savepoint. */
enum shop_err store_write(struct store *s, store_write_fn fn, void *arg, struct problem *pb);

/** True inside a write function of `s` (its changes are not committed yet:
 *  whoever waits for the commit should announce them). */
bool store_in_write(struct store *s);

/** True when no other write can run between this write's reads and its
 *  writes (SQLite): a row read inside the write is as read until it ends.
 *  False on PostgreSQL, whose writers run side by side. */
bool db_serialised(struct db *db);

/** Calls `fn(cls)` on the writer thread after every successful commit
 *  (e.g. to wake the outbox dispatcher). One hook; set it before writes. */
void store_on_commit(struct store *s, void (*fn)(void *cls), void *cls);

/** Copies the database, as of one commit, to the file `dest` while the
 *  shop keeps running (SQLite's online backup API). SHOP_INVALID on a
 *  database server (use its own tools: pg_dump). `*pages` gets its size in
 *  pages. */
enum shop_err store_backup(struct store *s, const char *dest, int64_t *pages, struct problem *pb);

/** Group-commit counters since start (for /metrics and benchmarks). */
struct store_stats {
    uint64_t commits, writes, failed_writes, busy_retries, max_batch;
    uint64_t batch_reruns;      /* batches run again with savepoints after a write failed */
    uint64_t conflict_retries;  /* batches run again after a deadlock or serialization failure */
    uint64_t writer_statements; /* statements the writers ran (executions, not rows) */
    uint64_t checkpoints, wal_restarts, wal_frames, frames_written;
};
void store_stats(struct store *s, struct store_stats *out);

/** The most writes that waited for a writer at once since the last call
 *  (load shedding's measure of the writer's backlog; shop/shedding.h). */
int64_t store_queue_peak(struct store *s);

/** Nanoseconds this thread has spent inside the database (for metrics). */
int64_t store_thread_db_ns(void);

/** Statements that failed on this thread's reading connections so far: the
 *  HTTP layer answers a request during which one failed with a 500 (a 503
 *  when each was the database being busy), whatever the handler made of it
 *  (a short list, a "not found"), unless it is a write's success: what was
 *  committed stands (http/server.c). Inside a write function a failed
 *  statement fails the write instead (writer.c). */
uint64_t store_thread_read_failures(void);
/** Of those, the ones that were errors rather than a busy database. */
uint64_t store_thread_read_errors(void);
/** Writes this thread has had committed so far (store_write calls that
 *  answered SHOP_OK; nested ones count with their outer write). */
uint64_t store_thread_writes(void);

/* ---- statements --------------------------------------------------------- */

enum { STMT_DONE = 0, STMT_ROW = 1, STMT_ERROR = -1, STMT_CONSTRAINT = -2, STMT_BUSY = -3 };

/** The cached prepared statement for `sql` (a string literal: the cache is
 *  keyed by its address), reset and with bindings cleared. NULL on a SQL
 *  error (logged). The statement stays usable until `db_release` — do not
 *  prepare the same literal again while iterating it. */
struct stmt *db_prepare(struct db *db, const char *sql);

/** Resets every statement handed out since the last release, ending any
 *  implicit read transaction. The HTTP layer calls this after each request
 *  and the writer after each write function. */
void db_release(struct db *db);

void stmt_bind_i64(struct stmt *st, int idx, int64_t v);
void stmt_bind_double(struct stmt *st, int idx, double v);
/** Binds a copy of `s` (NULL binds SQL NULL). */
void stmt_bind_text(struct stmt *st, int idx, const char *s);
void stmt_bind_textn(struct stmt *st, int idx, const char *s, int len);
void stmt_bind_null(struct stmt *st, int idx);

/** STMT_ROW, STMT_DONE, STMT_CONSTRAINT (a constraint refused the change;
 *  the statement had no effect), STMT_BUSY or STMT_ERROR (logged). */
int stmt_step(struct stmt *st);

int64_t stmt_i64(struct stmt *st, int col);
double stmt_double(struct stmt *st, int col);
/** Valid until the next step/reset; "" for NULL. */
const char *stmt_text(struct stmt *st, int col);
int stmt_len(struct stmt *st, int col);
bool stmt_is_null(struct stmt *st, int col);

/** Rows changed by the last INSERT/UPDATE/DELETE on this connection. */
int64_t db_changes(struct db *db);

/** After a conditional UPDATE or DELETE that must change exactly `n` rows
 *  (a status that must still be what was read, say): SHOP_OK when it did,
 *  else `err` with `detail`. Inside a write whose statements are being
 *  pipelined (PostgreSQL) the check waits for the statement's answer rather
 *  than a round trip of its own: a miss then fails the transaction, and the
 *  writer runs the batch again with each write alone, where this answers at
 *  once. So code after it may run on a row that did not change, and must
 *  only write (what it writes is rolled back). */
enum shop_err db_expect_changes(struct db *db, int64_t n, struct problem *pb, enum shop_err err,
                                const char *detail);

/** The id the last successful INSERT on this connection gave its row (SQLite:
 *  the rowid; PostgreSQL: lastval(), the last value any sequence gave this
 *  session, so call it right after the INSERT). Cheaper than `RETURNING id`
 *  on SQLite, which runs that through a temporary table. */
int64_t db_last_id(struct db *db);

/** As db_last_id, for an id the write does not look at itself (one it
 *  records for after the commit): *out gets it by the time the write's
 *  transaction has committed, and may before. Where writes are pipelined
 *  (PostgreSQL) it comes with the INSERT's answer, a round trip saved;
 *  elsewhere at once. `out` must outlive the write (the job's own memory,
 *  never the write function's stack), and the write must not read it. */
void db_last_id_into(struct db *db, int64_t *out);

/** Holds an exclusive lock named by each of `keys` (1 ≤ n ≤ DB_LOCK_MAX,
 *  taken in the order given: sort them) until the write transaction that
 *  takes them ends, for a check and the write that depends on it (see
 *  shop/keylock.h). A no-op where writes are serialised (SQLite); on
 *  PostgreSQL transaction-level advisory locks, all in one statement: no
 *  row, no WAL, and a deadlock between two of them is detected and retried
 *  like any other. Call it inside a write function. */
#define DB_LOCK_MAX 8
enum shop_err db_lock(struct db *db, const int64_t *keys, int n, struct problem *pb);

/* ---- rows appended at commit ---------------------------------------------- */

/** A kind of row that is only ever inserted, and that no write reads back
 *  in the transaction that inserts it (an outbox event). Declared once,
 *  statically, as {"outbox (topic, aggregate_id, …)", ncols}; the store
 *  keeps the multi-row INSERTs it builds for it in `sql`. */
#define DB_APPEND_COLS 8
#define DB_APPEND_SIZES 5 /* chunks of 32, 8, 4, 2 and 1 rows */
struct db_append_kind {
    const char *into; /* "table (col, …)" */
    int ncols;        /* ≤ DB_APPEND_COLS */
    _Atomic(const char *) sql[DB_APPEND_SIZES];
};

/** One value of an appended row: text (NULL for SQL NULL) or an integer. */
struct db_value {
    const char *text;
    int64_t i64;
    bool is_text;
};
#define DB_TEXT(s) ((struct db_value){.text = (s), .is_text = true})
#define DB_I64(v) ((struct db_value){.i64 = (v)})

/** Inserts one row of `kind` (`vals`: kind->ncols values, copied). Inside
 *  a write function the row waits on the writer's connection, and the rows
 *  that a batch's writes appended go in together, a few statements per
 *  batch instead of one per row, just before it commits (writer.c): they
 *  are committed, or rolled back, with the write that appended them. Its
 *  failure fails the batch like any failed statement. Elsewhere the row is
 *  inserted at once. */
enum shop_err db_append(struct db *db, struct db_append_kind *kind, const struct db_value *vals,
                        struct problem *pb);

/** The text "INSERT INTO <into> VALUES (?,…),(?,…)<tail>" of `rows` rows of
 *  `ncols` bound values each (tail: "" or " ON CONFLICT …"), malloc'd: for a
 *  multi-row statement built once and kept, as db_prepare knows a text by
 *  its address. `into` and `tail` are the code's own text, never input. */
char *db_rows_sql(const char *into, int ncols, int rows, const char *tail);

/** Runs SQL without parameters or results (DDL, pragmas, several statements). */
enum shop_err db_exec(struct db *db, const char *sql, struct problem *pb);

/** A consistent snapshot across several reads on a read connection. */
void db_read_begin(struct db *db);
void db_read_end(struct db *db);

/** Fills `pb` for a failed statement and returns it: SHOP_UNAVAILABLE with
 *  Retry-After 1 when the database server cannot be reached (an outage, a
 *  restart), else SHOP_INTERNAL. */
enum shop_err db_fail(struct db *db, struct problem *pb, const char *what);

/** Shorthand: prepare, bind one integer, step once; returns the first
 *  column of the first row, or `dflt` when there is no row. A failed read
 *  (SQL error, busy database) ALSO returns `dflt`: use it only where a wrong
 *  figure is harmless (a metric, a hint). Where "none" decides an answer or
 *  lets something through, use db_scalar_i64_or_fail. */
int64_t db_scalar_i64(struct db *db, const char *sql, int64_t arg, int64_t dflt);

/** As db_scalar_i64, but tells "no row" from "the read failed": SHOP_OK with
 *  *out = the first column of the first row, or `dflt` when there is no row;
 *  on a failed prepare/step, fills `pb` through db_fail (SHOP_INTERNAL,
 *  naming `what`) and leaves *out = `dflt`. */
enum shop_err db_scalar_i64_or_fail(struct db *db, const char *sql, int64_t arg, int64_t dflt,
                                    int64_t *out, struct problem *pb, const char *what);

#endif
