/* sqlite.c — the SQLite backend of store.h: connections, the statement
 * cache, transactions (the checkpointer is sqlite_ckpt.c; the writer and
 * migrations are written once for both backends, writer.c and store.c).
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
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"
#include "store/walbuf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

static const struct store_ops sqlite_ops;

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
const char *sqlite_vfs_for(const struct sqlite_store *s)
{
    return s->base.opts.sync_normal || !sqlite3_vfs_find(WALBUF_VFS) ? NULL : WALBUF_VFS;
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

static struct sqlite_db *db_open(struct sqlite_store *s, bool writer, struct problem *pb)
{
    sqlite3 *h = NULL;
    const char *path = s->base.path;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &h, flags, sqlite_vfs_for(s)) != SQLITE_OK) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot open database %s: %s", path,
                    h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return NULL;
    }
    sqlite3_busy_timeout(h, s->base.opts.busy_timeout_ms);
    /* The writer keeps its cache across commits (readers start cold after
     * each one) and touches a page of every buyer's cart, key and session:
     * 64 MB measured 7% more checkouts than 16 on a shop of 300,000 buyers
     * (128 MB measured worse). */
    char pragmas[512];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY;"
             "PRAGMA mmap_size=0; PRAGMA cache_size=%d;%s",
             s->base.opts.sync_normal ? "NORMAL" : "FULL", writer ? -64000 : -16000,
             writer ? "" : "PRAGMA query_only=ON;");
    if (writer && !sqlite_exec_simple(h, "PRAGMA journal_mode=WAL;")) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot switch %s to WAL: %s", path, sqlite3_errmsg(h));
        sqlite3_close(h);
        return NULL;
    }
    if (!sqlite_exec_simple(h, pragmas)) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot configure %s", path);
        sqlite3_close(h);
        return NULL;
    }
    if (writer) {
        /* Grow the file in large steps: fewer size changes, less
         * fragmentation. */
        int chunk = 64 << 20;
        sqlite3_file_control(h, "main", SQLITE_FCNTL_CHUNK_SIZE, &chunk);
    }
    struct sqlite_db *db = xcalloc(1, sizeof *db);
    db->base = (struct db){.ops = &sqlite_ops, .store = &s->base, .writer = writer};
    db->h = h;
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
static void audit_plans(struct sqlite_db *db)
{
    const char *path = getenv("SHOPD_SQL_AUDIT");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    for (size_t i = 0; i < db->cache.cap; i++) {
        if (!db->cache.slot[i].st)
            continue;
        sqlite3_stmt *st = ((struct sqlite_stmt *)db->cache.slot[i].st)->h;
        const char *sql = sqlite3_sql(st);
        char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
        sqlite3_stmt *p = NULL;
        if (q && sqlite3_prepare_v2(db->h, q, -1, &p, NULL) == SQLITE_OK)
            while (sqlite3_step(p) == SQLITE_ROW)
                fprintf(f, "%s\t%s\n", (const char *)sqlite3_column_text(p, 3), sql);
        sqlite3_finalize(p);
        sqlite3_free(q);
        if (uses_temp_table(db->h, st))
            fprintf(f, "TEMP TABLE\t%s\n", sql);
    }
    fclose(f);
}

static void db_close(struct sqlite_db *db)
{
    audit_plans(db);
    for (size_t i = 0; i < db->cache.cap; i++)
        if (db->cache.slot[i].st) {
            sqlite3_finalize(((struct sqlite_stmt *)db->cache.slot[i].st)->h);
            free(db->cache.slot[i].st);
        }
    stmt_cache_free(&db->cache);
    sqlite3_close(db->h);
    free(db);
}

struct store *sqlite_store_open(const char *path, const struct store_opts *opts, struct problem *pb)
{
    global_init();
    struct sqlite_store *s = xcalloc(1, sizeof *s);
    store_init_common(&s->base, &sqlite_ops, path, opts, 1);
    s->base.serialised = true;
    pthread_key_create(&s->key, NULL);
    pthread_mutex_init(&s->conns_mu, NULL);
    struct sqlite_db *w = db_open(s, true, pb);
    if (!w) {
        pthread_key_delete(s->key);
        pthread_mutex_destroy(&s->conns_mu);
        store_free_common(&s->base);
        free(s);
        return NULL;
    }
    s->base.wdb[0] = &w->base;
    return &s->base;
}

static struct db *sq_reader(struct store *base)
{
    struct sqlite_store *s = SQ_STORE(base);
    struct sqlite_db *db = pthread_getspecific(s->key);
    if (db)
        return &db->base;
    struct problem pb = {0};
    db = db_open(s, false, &pb);
    if (!db) {
        log_event(LOG_ERROR, "db.open", "{s:s}", "detail", pb.detail);
        abort();
    }
    pthread_setspecific(s->key, db);
    return &db->base;
}

static void sq_close(struct store *base)
{
    struct sqlite_store *s = SQ_STORE(base);
    pthread_mutex_lock(&s->conns_mu);
    struct sqlite_db *db = s->conns;
    s->conns = NULL;
    pthread_mutex_unlock(&s->conns_mu);
    /* The writer connection last, so its close checkpoints the WAL. */
    struct sqlite_db *wdb = NULL;
    while (db) {
        struct sqlite_db *next = db->next;
        if (db->base.writer)
            wdb = db;
        else
            db_close(db);
        db = next;
    }
    if (wdb)
        db_close(wdb);
    pthread_key_delete(s->key);
    pthread_mutex_destroy(&s->conns_mu);
    store_free_common(base);
    free(s);
}

static void sq_stats(struct store *base, struct store_stats *out)
{
    struct sqlite_store *s = SQ_STORE(base);
    out->checkpoints = atomic_load(&s->checkpoints);
    out->wal_restarts = atomic_load(&s->restarts);
    out->wal_frames = (uint64_t)s->wal_frames;
    out->frames_written = atomic_load(&s->frames_written);
}

/* ---- transactions -------------------------------------------------------- */

static bool step_simple(struct db *db, const char *sql)
{
    struct stmt *st = db_prepare(db, sql);
    bool ok = st && stmt_step(st) == STMT_DONE;
    if (st)
        sqlite3_reset(((struct sqlite_stmt *)st)->h);
    return ok;
}

/* BEGIN IMMEDIATE, retried while another process holds the write lock.
 * SQLite's own write lock already keeps other processes' migrations out. */
static bool sq_begin(struct db *db, bool exclusive)
{
    (void)exclusive;
    struct store *s = db->store;
    for (int attempt = 0; attempt < 20; attempt++) {
        if (step_simple(db, "BEGIN IMMEDIATE"))
            return true;
        if (sqlite3_errcode(SQ_DB(db)->h) != SQLITE_BUSY)
            return false;
        atomic_fetch_add_explicit(&s->busy_retries, 1, memory_order_relaxed);
        clock_sleep_ms(1 + (int64_t)(attempt * attempt));
    }
    return false;
}

static enum tx_state sq_tx_state(struct db *db)
{
    /* SQLite rolls a transaction back by itself when it must (a full disk,
     * an interrupted statement): then it is in autocommit mode again. */
    return sqlite3_get_autocommit(SQ_DB(db)->h) ? TX_NONE : TX_OPEN;
}

static bool sq_retryable(struct db *db)
{
    (void)db; /* one writer at a time: no deadlocks, no conflicts */
    return false;
}

static void sq_read_begin(struct db *db)
{
    struct stmt *st = db_prepare(db, "BEGIN");
    if (st)
        stmt_step(st);
}

static void sq_read_end(struct db *db)
{
    db_release(db);
    struct stmt *st = db_prepare(db, "COMMIT");
    if (st)
        stmt_step(st);
    db_release(db);
}

/* ---- statements --------------------------------------------------------- */

static void sq_release(struct db *base)
{
    struct sqlite_db *db = SQ_DB(base);
    for (int i = 0; i < db->nactive; i++)
        sqlite3_reset(db->active[i]->h);
    db->nactive = 0;
}

static struct stmt *sq_prepare(struct db *base, const char *sql)
{
    struct sqlite_db *db = SQ_DB(base);
    struct stmt_slot *slot = stmt_cache_find(&db->cache, sql);
    struct sqlite_stmt *st = (struct sqlite_stmt *)slot->st;
    if (!st) {
        sqlite3_stmt *h = NULL;
        if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &h, NULL) != SQLITE_OK) {
            log_event(LOG_ERROR, "db.prepare", "{s:s, s:s}", "sql", sql, "error",
                      sqlite3_errmsg(db->h));
            return NULL;
        }
        st = xcalloc(1, sizeof *st);
        st->base.ops = &sqlite_ops;
        st->h = h;
        stmt_cache_put(&db->cache, slot, sql, &st->base);
    } else {
        sqlite3_reset(st->h);
        sqlite3_clear_bindings(st->h);
    }
    int i;
    for (i = 0; i < db->nactive; i++)
        if (db->active[i] == st)
            break;
    if (i == db->nactive) {
        if (db->nactive == MAX_ACTIVE)
            sq_release(base);
        db->active[db->nactive++] = st;
    }
    return &st->base;
}

#define ST(x) (((struct sqlite_stmt *)(x))->h)

static void sq_reset(struct stmt *st)
{
    sqlite3_reset(ST(st));
}

static void sq_bind_i64(struct stmt *st, int idx, int64_t v)
{
    sqlite3_bind_int64(ST(st), idx, v);
}

static void sq_bind_double(struct stmt *st, int idx, double v)
{
    sqlite3_bind_double(ST(st), idx, v);
}

static void sq_bind_text(struct stmt *st, int idx, const char *s, int len)
{
    if (s)
        sqlite3_bind_text(ST(st), idx, s, len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(ST(st), idx);
}

static int sq_step(struct stmt *st)
{
    int rc;
    if (tl_writer_of) {
        /* The writer's time is nobody's request's: two clock reads per
         * statement were 3% of its time. */
        tl_writer_stmts += !sqlite3_stmt_busy(ST(st));
        rc = sqlite3_step(ST(st));
    } else {
        /* The per-route database time (http/metrics.c) adds up every step:
         * the coarse clock is right in that sum and costs a fifth; the
         * precise one was a quarter of a year's analytics report (a step
         * per row, two clock reads each). */
        int64_t t0 = clock_coarse_ns();
        rc = sqlite3_step(ST(st));
        tl_db_ns += clock_coarse_ns() - t0;
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

static int64_t sq_col_i64(struct stmt *st, int col)
{
    return sqlite3_column_int64(ST(st), col);
}

static double sq_col_double(struct stmt *st, int col)
{
    return sqlite3_column_double(ST(st), col);
}

static const char *sq_col_text(struct stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(ST(st), col);
    return t ? (const char *)t : "";
}

static int sq_col_len(struct stmt *st, int col)
{
    return sqlite3_column_bytes(ST(st), col);
}

static bool sq_col_null(struct stmt *st, int col)
{
    return sqlite3_column_type(ST(st), col) == SQLITE_NULL;
}

static int64_t sq_changes(struct db *db)
{
    return sqlite3_changes64(SQ_DB(db)->h);
}

static int64_t sq_last_id(struct db *db)
{
    return sqlite3_last_insert_rowid(SQ_DB(db)->h);
}

static enum shop_err sq_exec(struct db *db, const char *sql, struct problem *pb)
{
    int64_t t0 = clock_mono_ns();
    bool ok = sqlite_exec_simple(SQ_DB(db)->h, sql);
    tl_db_ns += clock_mono_ns() - t0;
    if (!ok)
        return problem_set(pb, SHOP_INTERNAL, "database error");
    return SHOP_OK;
}

static const char *sq_errmsg(struct db *db)
{
    return sqlite3_errmsg(SQ_DB(db)->h);
}

/* SQLite's online backup API, run in one step (-1) on this thread's read
 * connection: one read transaction, so the copy is the database as of one
 * commit, while writers (WAL) go on; stepping in pieces would restart
 * whenever another connection wrote. Written to DEST.tmp, synced, then
 * renamed over DEST, so DEST is never a half-written copy. */
static enum shop_err sq_backup(struct store *base, const char *dest, int64_t *pages,
                               struct problem *pb)
{
    struct sqlite_db *src = (struct sqlite_db *)sq_reader(base);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", dest);
    unlink(tmp);
    sqlite3 *to = NULL;
    if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot create %s: %s", tmp,
                    to ? sqlite3_errmsg(to) : "out of memory");
        sqlite3_close(to);
        return pb->err;
    }
    sqlite3_backup *b = sqlite3_backup_init(to, "main", src->h, "main");
    int rc = SQLITE_ERROR;
    if (b) {
        do {
            rc = sqlite3_backup_step(b, -1);
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                sqlite3_sleep(50);
        } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK);
        *pages = sqlite3_backup_pagecount(b);
        sqlite3_backup_finish(b);
    }
    if (rc == SQLITE_DONE)
        rc = sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        problem_set(pb, SHOP_UNAVAILABLE, "backup failed: %s", sqlite3_errmsg(to));
        sqlite3_close(to);
        unlink(tmp);
        return pb->err;
    }
    sqlite3_close(to);
    if (rename(tmp, dest) != 0) {
        unlink(tmp);
        return problem_set(pb, SHOP_UNAVAILABLE, "cannot move the copy to %s", dest);
    }
    return SHOP_OK;
}

static const struct store_ops sqlite_ops = {
    .backup = sq_backup,
    .name = "sqlite",
    .migrations = migrations_sqlite,
    .reader = sq_reader,
    .close = sq_close,
    .writers_starting = sqlite_ckpt_start,
    .writers_stopped = sqlite_ckpt_stop,
    .stats = sq_stats,
    .begin = sq_begin,
    .tx_state = sq_tx_state,
    .retryable = sq_retryable,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .prepare = sq_prepare,
    .release = sq_release,
    .reset = sq_reset,
    .bind_i64 = sq_bind_i64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .step = sq_step,
    .col_i64 = sq_col_i64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .col_len = sq_col_len,
    .col_null = sq_col_null,
    .changes = sq_changes,
    .last_id = sq_last_id,
    .exec = sq_exec,
    .errmsg = sq_errmsg,
};
