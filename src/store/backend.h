/* backend.h — what a storage backend gives store.c and writer.c, and the
 * heads of `struct store`, `struct db` and `struct stmt` that every backend
 * shares. Nothing outside src/store includes it.
 *
 * store.h is one interface with two implementations: SQLite (sqlite.c, a
 * file path) and PostgreSQL (pg.c, a postgres:// URL). Each backend's own
 * structs begin with these heads, so store.c dispatches through `ops` and a
 * backend casts back to its own type. The writer (group commit, savepoints,
 * retries) is written once, in writer.c, over the transaction calls below.
 */
#ifndef SHOPD_STORE_BACKEND_H
#define SHOPD_STORE_BACKEND_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/migrate.h"
#include "store/store.h"

#define MAX_WRITERS 16

/* Where a connection's transaction stands, as the writer needs to know. */
enum tx_state {
    TX_NONE,   /* no transaction: it never began, or the database rolled it back */
    TX_OPEN,   /* open and usable */
    TX_FAILED, /* open, but a statement failed: only ROLLBACK (TO a savepoint) works */
};

struct store_ops {
    const char *name; /* "sqlite", "postgres" */
    const struct migration *migrations;

    /* ---- connections ---- */
    /* This thread's read connection (opened or borrowed on first use). */
    struct db *(*reader)(struct store *s);
    /* A new writer connection (the writer threads own one each); NULL for
     * a backend with one writer. */
    struct db *(*connect_writer)(struct store *s, struct problem *pb);
    /* Closes every connection and frees the backend (the writer has stopped). */
    void (*close)(struct store *s);
    /* The writer threads are about to start / have stopped (SQLite runs its
     * checkpointer between the two). Either may be NULL. */
    void (*writers_starting)(struct store *s);
    void (*writers_stopped)(struct store *s);
    /* Migrations ran: forget what was learnt of the schema (may be NULL). */
    void (*schema_changed)(struct store *s);
    /* Backend figures for store_stats (may be NULL). */
    void (*stats)(struct store *s, struct store_stats *out);

    /* ---- transactions (writer.c, migrations) ---- */
    /* BEGIN a write transaction; `exclusive` also keeps every other process's
     * migrations out until it ends. Retried while the database is busy. */
    bool (*begin)(struct db *db, bool exclusive);
    enum tx_state (*tx_state)(struct db *db);
    /* True when the last failed statement lost a deadlock or a serialization
     * conflict: running the transaction again may succeed. Cleared by begin. */
    bool (*retryable)(struct db *db);
    /* True when the database server cannot be reached on this handle's
     * connection (closed, refused): a failure then is an outage, answered
     * 503 (db_fail), not a bug. NULL for an embedded database. */
    bool (*unreachable)(struct db *db);
    /* Whether writes may be sent without waiting for their answers while
     * the writer runs a batch bare (PostgreSQL; see pg.c). May be NULL. */
    void (*pipeline)(struct db *db, bool on);
    /* db_expect_changes: true when the statement just stepped was sent
     * without waiting and now must change exactly `n` rows, checked with
     * its answer; NULL or false: check db_changes now. */
    bool (*defer_expect)(struct db *db, int64_t n);
    /* db_last_id_into: true when the INSERT just stepped was sent without
     * waiting and its id will be written to *out with its answer; NULL or
     * false: read it now. */
    bool (*defer_id)(struct db *db, int64_t *out);
    /* db_lock; NULL where writes are serialised anyway. */
    enum shop_err (*lock)(struct db *db, const int64_t *keys, int n, struct problem *pb);
    void (*read_begin)(struct db *db);
    void (*read_end)(struct db *db);

    /* ---- statements ---- */
    struct stmt *(*prepare)(struct db *db, const char *sql);
    void (*release)(struct db *db);
    void (*reset)(struct stmt *st); /* this statement only */
    void (*bind_i64)(struct stmt *st, int idx, int64_t v);
    void (*bind_double)(struct stmt *st, int idx, double v);
    /* `len` < 0: up to the NUL. s == NULL binds SQL NULL. */
    void (*bind_text)(struct stmt *st, int idx, const char *s, int len);
    int (*step)(struct stmt *st);
    int64_t (*col_i64)(struct stmt *st, int col);
    double (*col_double)(struct stmt *st, int col);
    const char *(*col_text)(struct stmt *st, int col);
    int (*col_len)(struct stmt *st, int col);
    bool (*col_null)(struct stmt *st, int col);
    int64_t (*changes)(struct db *db);
    int64_t (*last_id)(struct db *db);
    enum shop_err (*exec)(struct db *db, const char *sql, struct problem *pb);
    const char *(*errmsg)(struct db *db);
    /* store_backup; NULL where the database server has its own tools. */
    enum shop_err (*backup)(struct store *s, const char *dest, int64_t *pages, struct problem *pb);
};

/* stmt_step with a backend's own way of running the statement (pg.c's
 * unanswered lock): the same fault points and failure bookkeeping. */
int stmt_step_by(struct stmt *st, int (*step)(struct stmt *st));

/* One store_write call, on its caller's stack (writer.c). */
struct wjob {
    store_write_fn fn;
    void *arg;
    struct problem *pb;
    enum shop_err result;
    /* Its caller waits here. A semaphore, not a condition: it is posted
     * without holding the queue's lock, so a woken caller does not block
     * again on that lock (a context switch per write, seen in profiles). */
    sem_t done;
    struct wjob *next; /* in the writer's queue */
    /* Once woken, its caller wakes these (see wake_batch in writer.c). */
    struct wjob *wake[2];
};

struct store {
    const struct store_ops *ops;
    char *path; /* file path or URL */
    struct store_opts opts;
    bool serialised; /* one writer at a time, whatever the processes (SQLite) */

    /* The writers (writer.c). wmu guards the queue, `stopping` and
     * `writers_started`. wdb[0] is opened with the store (migrations use it);
     * the others when the writers start. */
    int nwriters;
    struct db *wdb[MAX_WRITERS];
    pthread_t writers[MAX_WRITERS];
    bool writers_started;
    pthread_mutex_t wmu;
    pthread_cond_t work_cv;
    struct wjob *qhead, *qtail;
    int64_t queued;              /* jobs waiting for a writer (under wmu) */
    _Atomic int64_t queue_peak;  /* most waiting since store_queue_peak last asked */
    bool stopping;
    _Atomic int careful_batches; /* batches left to run with a savepoint per job */
    void (*on_commit)(void *cls);
    void *on_commit_cls;

    _Atomic uint64_t commits, writes, failed_writes, busy_retries, max_batch, reruns, conflicts;
    _Atomic uint64_t writer_stmts;
};

struct db {
    const struct store_ops *ops;
    struct store *store;
    bool writer;
    /* A statement of the write function running on this (writer)
     * connection failed (store.c sets it, writer.c clears it per write
     * function and after rolling one back): the function's result is then a
     * failure whatever it returned, as on PostgreSQL, where a failed
     * statement aborts the transaction; a 503 when every failure was the
     * database being busy (stmt_busy_only). */
    bool stmt_failed, stmt_busy_only;
    /* Rows db_append queued on this writer connection (appends.c). */
    struct pending_row *appends;
    size_t nappends, cappends;
};

/* appends.c: the rows db_append queued on a writer connection. The writer
 * inserts them before it commits (or, with a savepoint per job, at the end
 * of each job), then drops them from the queue (appends_drop(db, 0)), as it
 * drops the rows of a write it rolls back (to that write's mark). */
bool appends_flush(struct db *db);
size_t appends_mark(const struct db *db);
void appends_drop(struct db *db, size_t mark);

struct stmt {
    const struct store_ops *ops;
    const char *sql;     /* as given to db_prepare (for injected faults' match) */
    struct store *store; /* whose connection prepared it (for injected faults) */
};

/* The store whose writer this thread is, and its connection (NULL on every
 * other thread). */
extern _Thread_local struct store *tl_writer_of;
/* Statements this writer thread ran since its last batch ended (writer.c
 * adds them to the store's count). */
extern _Thread_local uint64_t tl_writer_stmts;
extern _Thread_local struct db *tl_writer_db;

/* Nanoseconds this thread spent in the database (store.c; backends add). */
extern _Thread_local int64_t tl_db_ns;

/* store.c: the common part of opening (after the backend made `s`). */
void store_init_common(struct store *s, const struct store_ops *ops, const char *path,
                       const struct store_opts *opts, int nwriters);
void store_free_common(struct store *s);

/* writer.c */
void writer_init(struct store *s);
/* Finishes queued writes and stops the writer threads. */
void writer_stop(struct store *s);

/* Backends. */
struct store *sqlite_store_open(const char *path, const struct store_opts *opts,
                                struct problem *pb);
struct store *pg_store_open(const char *url, const struct store_opts *opts, struct problem *pb);

#endif
