/* sqlite.c — the SQLite backend of store.h: connections, the statement
 * cache, migrations (the writer and the checkpointer are writer.c).
 *
 * Connections are opened SQLITE_OPEN_NOMUTEX (each is used by one thread at a
 * time) with WAL, foreign keys and a busy timeout. Readers are query_only: a
 * write that does not go through the writer is a bug, and SQLite refuses it.
 *
 * No mmap: a reader that finds the database changed since its last read
 * unmaps the whole file and maps it again, and under a steady stream of
 * commits the munmaps (TLB shootdowns on every core) cost more than the
 * pread copies they save (checkout: ~450 against ~360 us of CPU per order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate.h"
#include "store/sqlite_int.h"
#include "store/walbuf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

static _Thread_local int64_t tl_db_ns;

int64_t store_thread_db_ns(void)
{
    return tl_db_ns;
}

/* ---- connections -------------------------------------------------------- */

static void sqlite_global_init(void)
{
    /* Memory statistics take a global mutex on every allocation. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
    if (walbuf_register() != SQLITE_OK)
        log_event(LOG_WARN, "db.vfs", "{s:s}", "error", "cannot register " WALBUF_VFS);
}

/* The VFS for a store's connections: WAL writes gathered per commit when
 * every commit syncs (walbuf.h). */
const char *sqlite_vfs_for(const struct store *s)
{
    return s->opts.sync_normal || !sqlite3_vfs_find(WALBUF_VFS) ? NULL : WALBUF_VFS;
}

static void global_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_init);
}

bool sqlite_exec_simple(sqlite3 *h, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK) {
        log_event(LOG_ERROR, "db.exec", "{s:s, s:s}", "sql", sql, "error", err ? err : "?");
        sqlite3_free(err);
        return false;
    }
    return true;
}

static struct db *db_open(struct store *s, bool writer, struct problem *pb)
{
    sqlite3 *h = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(s->path, &h, flags, sqlite_vfs_for(s)) != SQLITE_OK) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot open database %s: %s", s->path,
                    h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return NULL;
    }
    sqlite3_busy_timeout(h, s->opts.busy_timeout_ms);
    /* The writer keeps its cache across commits (readers start cold after
     * each one) and touches a page of every buyer's cart, key and session:
     * 64 MB measured 7% more checkouts than 16 on a shop of 300,000 buyers
     * (128 MB measured worse). */
    char pragmas[512];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY;"
             "PRAGMA mmap_size=0; PRAGMA cache_size=%d;%s",
             s->opts.sync_normal ? "NORMAL" : "FULL", writer ? -64000 : -16000,
             writer ? "" : "PRAGMA query_only=ON;");
    if (writer && !sqlite_exec_simple(h, "PRAGMA journal_mode=WAL;")) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot switch %s to WAL: %s", s->path,
                    sqlite3_errmsg(h));
        sqlite3_close(h);
        return NULL;
    }
    if (!sqlite_exec_simple(h, pragmas)) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot configure %s", s->path);
        sqlite3_close(h);
        return NULL;
    }
    if (writer) {
        /* Grow the file in large steps: fewer size changes, less
         * fragmentation. */
        int chunk = 64 << 20;
        sqlite3_file_control(h, "main", SQLITE_FCNTL_CHUNK_SIZE, &chunk);
    }
    struct db *db = xcalloc(1, sizeof *db);
    db->h = h;
    db->store = s;
    db->writer = writer;
    pthread_mutex_lock(&s->conns_mu);
    db->next = s->conns;
    s->conns = db;
    pthread_mutex_unlock(&s->conns_mu);
    return db;
}

/* True when `st` builds a temporary table each time it runs (ORDER BY or
 * DISTINCT without an index, RETURNING, IN lists of constants, ...). */
static bool uses_temp_table(sqlite3 *h, sqlite3_stmt *st)
{
    char *q = sqlite3_mprintf("EXPLAIN %s", sqlite3_sql(st));
    sqlite3_stmt *p = NULL;
    bool temp = false;
    if (q && sqlite3_prepare_v2(h, q, -1, &p, NULL) == SQLITE_OK)
        while (!temp && sqlite3_step(p) == SQLITE_ROW) {
            const char *op = (const char *)sqlite3_column_text(p, 1);
            temp = op && (!strcmp(op, "OpenEphemeral") || !strcmp(op, "SorterOpen"));
        }
    sqlite3_finalize(p);
    sqlite3_free(q);
    return temp;
}

/* SHOPD_SQL_AUDIT=path: appends the query plan of every statement this
 * connection prepared, and "TEMP TABLE" for those that build one, for
 * finding full scans and avoidable work (tests/api/test_sql_plans.py). */
static void audit_plans(struct db *db)
{
    const char *path = getenv("SHOPD_SQL_AUDIT");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    for (size_t i = 0; i < db->cap; i++) {
        if (!db->cache[i].st)
            continue;
        const char *sql = sqlite3_sql(db->cache[i].st);
        char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
        sqlite3_stmt *p = NULL;
        if (q && sqlite3_prepare_v2(db->h, q, -1, &p, NULL) == SQLITE_OK)
            while (sqlite3_step(p) == SQLITE_ROW)
                fprintf(f, "%s\t%s\n", (const char *)sqlite3_column_text(p, 3), sql);
        sqlite3_finalize(p);
        sqlite3_free(q);
        if (uses_temp_table(db->h, db->cache[i].st))
            fprintf(f, "TEMP TABLE\t%s\n", sql);
    }
    fclose(f);
}

static void db_close(struct db *db)
{
    audit_plans(db);
    for (size_t i = 0; i < db->cap; i++)
        if (db->cache[i].st)
            sqlite3_finalize(db->cache[i].st);
    free(db->cache);
    sqlite3_close(db->h);
    free(db);
}

struct store *store_open(const char *path, const struct store_opts *opts, struct problem *pb)
{
    global_init();
    struct store *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    if (opts)
        s->opts = *opts;
    if (s->opts.busy_timeout_ms <= 0)
        s->opts.busy_timeout_ms = 5000;
    pthread_key_create(&s->key, NULL);
    pthread_mutex_init(&s->conns_mu, NULL);
    writer_init(s);
    s->wdb = db_open(s, true, pb);
    if (!s->wdb) {
        pthread_key_delete(s->key);
        free(s->path);
        free(s);
        return NULL;
    }
    return s;
}

struct db *store_db(struct store *s)
{
    if (tl_writer_of == s)
        return s->wdb;
    struct db *db = pthread_getspecific(s->key);
    if (db)
        return db;
    struct problem pb = {0};
    db = db_open(s, false, &pb);
    if (!db) {
        log_event(LOG_ERROR, "db.open", "{s:s}", "detail", pb.detail);
        abort();
    }
    pthread_setspecific(s->key, db);
    return db;
}

/* ---- statements --------------------------------------------------------- */

static size_t slot_of(const char *sql, size_t cap)
{
    uintptr_t p = (uintptr_t)sql;
    p ^= p >> 17;
    p *= 0x9E3779B97F4A7C15u;
    return (size_t)(p >> 20) & (cap - 1);
}

static void cache_grow(struct db *db)
{
    size_t cap = db->cap ? db->cap * 2 : 128;
    struct cached *c = xcalloc(cap, sizeof *c);
    for (size_t i = 0; i < db->cap; i++) {
        if (!db->cache[i].sql)
            continue;
        size_t j = slot_of(db->cache[i].sql, cap);
        while (c[j].sql)
            j = (j + 1) & (cap - 1);
        c[j] = db->cache[i];
    }
    free(db->cache);
    db->cache = c;
    db->cap = cap;
}

struct stmt *db_prepare(struct db *db, const char *sql)
{
    if (db->n * 2 >= db->cap)
        cache_grow(db);
    size_t j = slot_of(sql, db->cap);
    while (db->cache[j].sql && db->cache[j].sql != sql)
        j = (j + 1) & (db->cap - 1);
    sqlite3_stmt *st = db->cache[j].st;
    if (!st) {
        if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
            log_event(LOG_ERROR, "db.prepare", "{s:s, s:s}", "sql", sql, "error",
                      sqlite3_errmsg(db->h));
            return NULL;
        }
        db->cache[j].sql = sql;
        db->cache[j].st = st;
        db->n++;
    } else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    int i;
    for (i = 0; i < db->nactive; i++)
        if (db->active[i] == st)
            break;
    if (i == db->nactive) {
        if (db->nactive == MAX_ACTIVE)
            db_release(db);
        db->active[db->nactive++] = st;
    }
    return (struct stmt *)st;
}

void db_release(struct db *db)
{
    for (int i = 0; i < db->nactive; i++)
        sqlite3_reset(db->active[i]);
    db->nactive = 0;
}

#define ST(x) ((sqlite3_stmt *)(x))

void stmt_bind_i64(struct stmt *st, int idx, int64_t v)
{
    sqlite3_bind_int64(ST(st), idx, v);
}

void stmt_bind_double(struct stmt *st, int idx, double v)
{
    sqlite3_bind_double(ST(st), idx, v);
}

void stmt_bind_text(struct stmt *st, int idx, const char *s)
{
    if (s)
        sqlite3_bind_text(ST(st), idx, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(ST(st), idx);
}

void stmt_bind_textn(struct stmt *st, int idx, const char *s, int len)
{
    sqlite3_bind_text(ST(st), idx, s, len, SQLITE_TRANSIENT);
}

void stmt_bind_null(struct stmt *st, int idx)
{
    sqlite3_bind_null(ST(st), idx);
}

int stmt_step(struct stmt *st)
{
    int rc;
    if (tl_writer_of) {
        /* The writer's time is nobody's request's: two clock reads per
         * statement were 3% of its time. */
        rc = sqlite3_step(ST(st));
    } else {
        int64_t t0 = clock_mono_ns();
        rc = sqlite3_step(ST(st));
        tl_db_ns += clock_mono_ns() - t0;
    }
    switch (rc) {
    case SQLITE_ROW:
        return STMT_ROW;
    case SQLITE_DONE:
        return STMT_DONE;
    case SQLITE_CONSTRAINT:
        return STMT_CONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STMT_BUSY;
    default:
        log_event(LOG_ERROR, "db.step", "{s:s, s:s, s:i}", "sql", sqlite3_sql(ST(st)), "error",
                  sqlite3_errmsg(sqlite3_db_handle(ST(st))), "code", rc);
        return STMT_ERROR;
    }
}

int64_t stmt_i64(struct stmt *st, int col)
{
    return sqlite3_column_int64(ST(st), col);
}

double stmt_double(struct stmt *st, int col)
{
    return sqlite3_column_double(ST(st), col);
}

const char *stmt_text(struct stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(ST(st), col);
    return t ? (const char *)t : "";
}

int stmt_len(struct stmt *st, int col)
{
    return sqlite3_column_bytes(ST(st), col);
}

bool stmt_is_null(struct stmt *st, int col)
{
    return sqlite3_column_type(ST(st), col) == SQLITE_NULL;
}

int64_t db_changes(struct db *db)
{
    return sqlite3_changes64(db->h);
}

int64_t db_last_id(struct db *db)
{
    return sqlite3_last_insert_rowid(db->h);
}

enum shop_err db_exec(struct db *db, const char *sql, struct problem *pb)
{
    int64_t t0 = clock_mono_ns();
    bool ok = sqlite_exec_simple(db->h, sql);
    tl_db_ns += clock_mono_ns() - t0;
    if (!ok)
        return problem_set(pb, SHOP_INTERNAL, "database error");
    return SHOP_OK;
}

void db_read_begin(struct db *db)
{
    struct stmt *st = db_prepare(db, "BEGIN");
    if (st)
        stmt_step(st);
}

void db_read_end(struct db *db)
{
    db_release(db);
    struct stmt *st = db_prepare(db, "COMMIT");
    if (st)
        stmt_step(st);
    db_release(db);
}

enum shop_err db_fail(struct db *db, struct problem *pb, const char *what)
{
    log_event(LOG_ERROR, "db.fail", "{s:s, s:s}", "what", what, "error", sqlite3_errmsg(db->h));
    return problem_set(pb, SHOP_INTERNAL, "database error while %s", what);
}

int64_t db_scalar_i64(struct db *db, const char *sql, int64_t arg, int64_t dflt)
{
    struct stmt *st = db_prepare(db, sql);
    if (!st)
        return dflt;
    stmt_bind_i64(st, 1, arg);
    return stmt_step(st) == STMT_ROW ? stmt_i64(st, 0) : dflt;
}

void store_stats(struct store *s, struct store_stats *out)
{
    out->commits = atomic_load(&s->commits);
    out->writes = atomic_load(&s->writes);
    out->failed_writes = atomic_load(&s->failed_writes);
    out->busy_retries = atomic_load(&s->busy_retries);
    out->max_batch = atomic_load(&s->max_batch);
    out->batch_reruns = atomic_load(&s->reruns);
    out->checkpoints = atomic_load(&s->checkpoints);
    out->wal_restarts = atomic_load(&s->restarts);
    out->wal_frames = (uint64_t)s->wal_frames;
    out->frames_written = atomic_load(&s->frames_written);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    writer_stop(s);
    pthread_mutex_lock(&s->conns_mu);
    struct db *db = s->conns;
    s->conns = NULL;
    pthread_mutex_unlock(&s->conns_mu);
    /* The writer connection last, so its close checkpoints the WAL. */
    struct db *wdb = NULL;
    while (db) {
        struct db *next = db->next;
        if (db->writer)
            wdb = db;
        else
            db_close(db);
        db = next;
    }
    if (wdb)
        db_close(wdb);
    pthread_key_delete(s->key);
    pthread_mutex_destroy(&s->conns_mu);
    free(s->path);
    free(s);
}

/* ---- migrations ---------------------------------------------------------- */

int store_schema_latest(void)
{
    int v = 0;
    for (const struct migration *m = migrations_sqlite; m->name; m++)
        v = m->version;
    return v;
}

int store_schema_version(struct store *s)
{
    struct db *db = store_db(s);
    sqlite3_stmt *st = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(db->h, "SELECT max(version) FROM schema_migrations", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

enum shop_err store_migrate(struct store *s, int *applied, struct problem *pb)
{
    struct db *db = s->wdb;
    *applied = 0;
    if (s->writer_started)
        return problem_set(pb, SHOP_INTERNAL, "migrate before the first write");
    if (!sqlite_exec_simple(db->h, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                            " applied_at INTEGER NOT NULL)"))
        return problem_set(pb, SHOP_UNAVAILABLE, "cannot create schema_migrations");
    for (const struct migration *m = migrations_sqlite; m->name; m++) {
        if (!writer_begin_immediate(s))
            return problem_set(pb, SHOP_UNAVAILABLE, "database busy while migrating");
        sqlite3_stmt *st = NULL;
        bool present = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM schema_migrations WHERE version = ?", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_int(st, 1, m->version);
            present = sqlite3_step(st) == SQLITE_ROW;
        }
        sqlite3_finalize(st);
        if (present) {
            sqlite_exec_simple(db->h, "COMMIT");
            continue;
        }
        char *err = NULL;
        if (sqlite3_exec(db->h, m->sql, NULL, NULL, &err) != SQLITE_OK) {
            problem_set(pb, SHOP_INTERNAL, "migration %s failed: %s", m->name, err ? err : "?");
            sqlite3_free(err);
            sqlite_exec_simple(db->h, "ROLLBACK");
            return pb->err;
        }
        st = NULL;
        sqlite3_prepare_v2(db->h, "INSERT INTO schema_migrations VALUES (?, ?, ?)", -1, &st, NULL);
        sqlite3_bind_int(st, 1, m->version);
        sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, clock_now_ms());
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE || !sqlite_exec_simple(db->h, "COMMIT")) {
            sqlite_exec_simple(db->h, "ROLLBACK");
            return problem_set(pb, SHOP_INTERNAL, "cannot record migration %s", m->name);
        }
        (*applied)++;
        log_event(LOG_INFO, "db.migrated", "{s:s}", "migration", m->name);
    }
    return SHOP_OK;
}
