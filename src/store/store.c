/* store.c — store.h over whichever backend the path names: a postgres:// or
 * postgresql:// URL opens PostgreSQL (pg.c), anything else is a SQLite file
 * (sqlite.c). The calls below dispatch through the backend's ops
 * (backend.h); migrations are run here, once for both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/clock.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/xalloc.h"

_Thread_local int64_t tl_db_ns;
static _Thread_local uint64_t tl_read_failures, tl_read_errors;

uint64_t store_thread_read_failures(void)
{
    return tl_read_failures;
}

uint64_t store_thread_read_errors(void)
{
    return tl_read_errors;
}

int64_t store_thread_db_ns(void)
{
    return tl_db_ns;
}

bool store_is_server_url(const char *path)
{
    return path && (!strncmp(path, "postgres://", 11) || !strncmp(path, "postgresql://", 13));
}

struct store *store_open(const char *path, const struct store_opts *opts, struct problem *pb)
{
    if (store_is_server_url(path))
        return pg_store_open(path, opts, pb);
    return sqlite_store_open(path, opts, pb);
}

void store_init_common(struct store *s, const struct store_ops *ops, const char *path,
                       const struct store_opts *opts, int nwriters)
{
    s->ops = ops;
    s->path = xstrdup(path);
    if (opts)
        s->opts = *opts;
    if (s->opts.busy_timeout_ms <= 0)
        s->opts.busy_timeout_ms = 5000;
    s->nwriters = nwriters < 1 ? 1 : nwriters > MAX_WRITERS ? MAX_WRITERS : nwriters;
    writer_init(s);
}

void store_free_common(struct store *s)
{
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->work_cv);
    free(s->path);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    writer_stop(s);
    s->ops->close(s);
}

bool db_serialised(struct db *db)
{
    return db->store->serialised;
}

struct db *store_db(struct store *s)
{
    if (tl_writer_of == s)
        return tl_writer_db;
    return s->ops->reader(s);
}

enum shop_err store_backup(struct store *s, const char *dest, int64_t *pages, struct problem *pb)
{
    *pages = 0;
    if (!s->ops->backup)
        return problem_set(pb, SHOP_INVALID, "%s has no file to copy: back up a PostgreSQL"
                           " database with pg_dump (see docs/OPERATIONS.md)", s->ops->name);
    return s->ops->backup(s, dest, pages, pb);
}

void store_stats(struct store *s, struct store_stats *out)
{
    *out = (struct store_stats){0};
    out->commits = atomic_load(&s->commits);
    out->writes = atomic_load(&s->writes);
    out->failed_writes = atomic_load(&s->failed_writes);
    out->busy_retries = atomic_load(&s->busy_retries);
    out->max_batch = atomic_load(&s->max_batch);
    out->batch_reruns = atomic_load(&s->reruns);
    out->conflict_retries = atomic_load(&s->conflicts);
    out->writer_statements = atomic_load(&s->writer_stmts);
    if (s->ops->stats)
        s->ops->stats(s, out);
}

/* ---- statements --------------------------------------------------------- */

struct stmt *db_prepare(struct db *db, const char *sql)
{
    struct stmt *st = db->ops->prepare(db, sql);
    if (st) {
        st->sql = sql;
        st->store = db->store;
    }
    return st;
}

void db_release(struct db *db)
{
    db->ops->release(db);
}

void stmt_bind_i64(struct stmt *st, int idx, int64_t v)
{
    st->ops->bind_i64(st, idx, v);
}

void stmt_bind_double(struct stmt *st, int idx, double v)
{
    st->ops->bind_double(st, idx, v);
}

void stmt_bind_text(struct stmt *st, int idx, const char *s)
{
    st->ops->bind_text(st, idx, s, -1);
}

void stmt_bind_textn(struct stmt *st, int idx, const char *s, int len)
{
    st->ops->bind_text(st, idx, s ? s : "", len);
}

void stmt_bind_null(struct stmt *st, int idx)
{
    st->ops->bind_text(st, idx, NULL, -1);
}

/* An injected fault (util/faults.h) fails a statement of a store that takes
 * faults: store.stmt on its writer thread (the writer's own transaction
 * statements bypass this, writer.c), store.read on a reading connection. */
static int injected_step_fault(struct stmt *st)
{
    struct store *s = tl_writer_of ? tl_writer_of : st->store;
    if (!s || s->opts.no_faults)
        return 0;
    enum fault_point p = tl_writer_of ? FP_STORE_STMT : FP_STORE_READ;
    switch (faults_hit(p, st->sql)) {
    case FM_NONE:
    case FM_COUNT:
        return 0;
    case FM_BUSY:
    case FM_TIMEOUT:
        return STMT_BUSY;
    default:
        log_event(LOG_WARN, "fault.injected", "{s:s, s:s}", "point", faults_point_name(p), "sql",
                  st->sql ? st->sql : "");
        return STMT_ERROR;
    }
}

int stmt_step(struct stmt *st)
{
    return stmt_step_by(st, st->ops->step);
}

int stmt_step_by(struct stmt *st, int (*step)(struct stmt *st))
{
    int rc = faults_armed() ? injected_step_fault(st) : 0;
    if (!rc)
        rc = step(st);
    /* A write function that reads on past a failed step (a loop taking the
     * error for the last row) must not commit what it did: writer.c fails
     * it. STMT_CONSTRAINT is an answer, not a failure. */
    if (rc == STMT_ERROR || rc == STMT_BUSY) {
        if (tl_writer_of && st->store == tl_writer_of) {
            struct db *db = tl_writer_db;
            db->stmt_busy_only = rc == STMT_BUSY && (db->stmt_busy_only || !db->stmt_failed);
            db->stmt_failed = true;
        } else {
            tl_read_failures++;
            tl_read_errors += rc == STMT_ERROR;
        }
    }
    return rc;
}

int64_t stmt_i64(struct stmt *st, int col)
{
    return st->ops->col_i64(st, col);
}

double stmt_double(struct stmt *st, int col)
{
    return st->ops->col_double(st, col);
}

const char *stmt_text(struct stmt *st, int col)
{
    return st->ops->col_text(st, col);
}

int stmt_len(struct stmt *st, int col)
{
    return st->ops->col_len(st, col);
}

bool stmt_is_null(struct stmt *st, int col)
{
    return st->ops->col_null(st, col);
}

int64_t db_changes(struct db *db)
{
    return db->ops->changes(db);
}

enum shop_err db_expect_changes(struct db *db, int64_t n, struct problem *pb, enum shop_err err,
                                const char *detail)
{
    if (db->ops->defer_expect && db->ops->defer_expect(db, n))
        return SHOP_OK;
    return db_changes(db) == n ? SHOP_OK : problem_set(pb, err, "%s", detail);
}

int64_t db_last_id(struct db *db)
{
    return db->ops->last_id(db);
}

char *db_rows_sql(const char *into, int ncols, int rows, const char *tail)
{
    size_t cap = strlen(into) + strlen(tail) + 32 + (size_t)rows * ((size_t)ncols * 2 + 3);
    char *b = xmalloc(cap);
    size_t n = (size_t)snprintf(b, cap, "INSERT INTO %s VALUES ", into);
    for (int r = 0; r < rows; r++) {
        if (r)
            b[n++] = ',';
        b[n++] = '(';
        for (int c = 0; c < ncols; c++) {
            if (c)
                b[n++] = ',';
            b[n++] = '?';
        }
        b[n++] = ')';
    }
    snprintf(b + n, cap - n, "%s", tail);
    return b;
}

void db_last_id_into(struct db *db, int64_t *out)
{
    if (!db->ops->defer_id || !db->ops->defer_id(db, out))
        *out = db_last_id(db);
}

enum shop_err db_lock(struct db *db, const int64_t *keys, int n, struct problem *pb)
{
    if (n < 1 || n > DB_LOCK_MAX)
        return problem_set(pb, SHOP_INTERNAL, "%d locks asked for at once", n);
    return db->ops->lock ? db->ops->lock(db, keys, n, pb) : SHOP_OK;
}

enum shop_err db_exec(struct db *db, const char *sql, struct problem *pb)
{
    return db->ops->exec(db, sql, pb);
}

void db_read_begin(struct db *db)
{
    db->ops->read_begin(db);
}

void db_read_end(struct db *db)
{
    db->ops->read_end(db);
}

enum shop_err db_fail(struct db *db, struct problem *pb, const char *what)
{
    log_event(LOG_ERROR, "db.fail", "{s:s, s:s}", "what", what, "error", db->ops->errmsg(db));
    if (db->ops->unreachable && db->ops->unreachable(db)) {
        /* The database server is down or refusing: nothing here is wrong,
         * and the same request may well succeed in a moment. */
        pb->retry_after = 1;
        return problem_set(pb, SHOP_UNAVAILABLE, "the database is unavailable while %s; try again",
                           what);
    }
    return problem_set(pb, SHOP_INTERNAL, "database error while %s", what);
}

/* The one implementation of both scalar reads: false when the statement
 * could not be prepared or stepped, true with *out = the value or `dflt`. */
static bool scalar_i64(struct db *db, const char *sql, int64_t arg, int64_t dflt, int64_t *out)
{
    *out = dflt;
    struct stmt *st = db_prepare(db, sql);
    if (!st)
        return false;
    stmt_bind_i64(st, 1, arg);
    int rc = stmt_step(st);
    if (rc == STMT_ROW)
        *out = stmt_i64(st, 0);
    return rc == STMT_ROW || rc == STMT_DONE;
}

int64_t db_scalar_i64(struct db *db, const char *sql, int64_t arg, int64_t dflt)
{
    int64_t v;
    scalar_i64(db, sql, arg, dflt, &v);
    return v;
}

enum shop_err db_scalar_i64_or_fail(struct db *db, const char *sql, int64_t arg, int64_t dflt,
                                    int64_t *out, struct problem *pb, const char *what)
{
    return scalar_i64(db, sql, arg, dflt, out) ? SHOP_OK : db_fail(db, pb, what);
}

/* ---- migrations ---------------------------------------------------------- */

int store_schema_latest(void)
{
    /* Both backends carry the same versions (tests/unit/test_store.c). */
    int v = 0;
    for (const struct migration *m = migrations_sqlite; m->name; m++)
        v = m->version;
    return v;
}

int store_schema_version(struct store *s)
{
    struct db *db = store_db(s);
    struct stmt *st = db_prepare(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int v = st && stmt_step(st) == STMT_ROW ? (int)stmt_i64(st, 0) : 0;
    db_release(db);
    return v;
}

static bool wexec(struct db *db, const char *sql)
{
    struct problem pb = {0};
    return db_exec(db, sql, &pb) == SHOP_OK;
}

/* Applies one migration unless another process already has: the exclusive
 * transaction keeps concurrent migrators apart. */
static enum shop_err migrate_one(struct store *s, const struct migration *m, bool *ran,
                                 struct problem *pb)
{
    struct db *db = s->wdb[0];
    *ran = false;
    if (!s->ops->begin(db, true))
        return problem_set(pb, SHOP_UNAVAILABLE, "database busy while migrating");
    if (!wexec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                   " applied_at BIGINT NOT NULL)")) {
        wexec(db, "ROLLBACK");
        return problem_set(pb, SHOP_UNAVAILABLE, "cannot create schema_migrations");
    }
    bool present = db_scalar_i64(db, "SELECT count(*) FROM schema_migrations WHERE version = ?",
                                 m->version, 0) > 0;
    db_release(db);
    if (present)
        return wexec(db, "COMMIT") ? SHOP_OK
                                   : problem_set(pb, SHOP_UNAVAILABLE, "cannot end a migration");
    struct problem epb = {0};
    if (db_exec(db, m->sql, &epb) != SHOP_OK) {
        problem_set(pb, SHOP_INTERNAL, "migration %s failed: %s", m->name, s->ops->errmsg(db));
        wexec(db, "ROLLBACK");
        return pb->err;
    }
    struct stmt *st = db_prepare(db, "INSERT INTO schema_migrations (version, name, applied_at)"
                                     " VALUES (?, ?, ?)");
    bool ok = st != NULL;
    if (ok) {
        stmt_bind_i64(st, 1, m->version);
        stmt_bind_text(st, 2, m->name);
        stmt_bind_i64(st, 3, clock_now_ms());
        ok = stmt_step(st) == STMT_DONE;
    }
    db_release(db);
    if (!ok || !wexec(db, "COMMIT")) {
        wexec(db, "ROLLBACK");
        return problem_set(pb, SHOP_INTERNAL, "cannot record migration %s", m->name);
    }
    *ran = true;
    return SHOP_OK;
}

enum shop_err store_migrate(struct store *s, int *applied, struct problem *pb)
{
    *applied = 0;
    if (s->writers_started)
        return problem_set(pb, SHOP_INTERNAL, "migrate before the first write");
    for (const struct migration *m = s->ops->migrations; m->name; m++) {
        bool ran;
        if (migrate_one(s, m, &ran, pb) != SHOP_OK)
            return pb->err;
        if (ran) {
            (*applied)++;
            log_event(LOG_INFO, "db.migrated", "{s:s, s:s}", "migration", m->name, "backend",
                      s->ops->name);
        }
    }
    if (s->ops->schema_changed)
        s->ops->schema_changed(s);
    return SHOP_OK;
}
