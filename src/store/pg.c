/* pg.c — the PostgreSQL backend of store.h, over libpq.
 *
 * Connections. A store has writer connections, one per writer thread
 * (SHOPD_PG_WRITERS, default 4: a write's time here is mostly round trips,
 * which other writers overlap), and a pool of read connections
 * (SHOPD_PG_READERS, default 24) shared by every other thread. A thread's
 * `struct db` is a handle of its own that borrows a pooled connection at its
 * first statement and gives it back at `db_release` when no transaction is
 * open, so a process's connections follow the reads in flight, not its
 * thread count (64 HTTP workers would otherwise hold 64 connections each).
 * When the pool is empty a reader waits for one; after a second it opens
 * one more rather than risk waiting on itself.
 *
 * Statements. Each connection prepares a statement once, named after its
 * place in the connection's cache, with `?` markers translated (pg_sql.h)
 * and the parameter types of its first use: bigint for stmt_bind_i64,
 * double precision for doubles, and "unknown" for text and NULL, which the
 * server infers from where the parameter stands. Results come back whole,
 * as text; `stmt_i64` reads "t"/"f" (a comparison selected as a column) as
 * 1/0, as SQLite would give it. An INSERT into a table whose id is an
 * identity column, without a RETURNING of its own, is sent with
 * "RETURNING id" added, and its answer kept for db_last_id: the id without
 * a second round trip (lastval() is asked only after other statements).
 *
 * Errors. A constraint violation (SQLSTATE class 23) is STMT_CONSTRAINT; a
 * deadlock (40P01), serialization failure (40001) or lock timeout (55P03)
 * is STMT_BUSY and marks the connection's transaction as worth running again
 * (the writer does). A failed statement leaves the transaction failed until
 * ROLLBACK (TO SAVEPOINT), which the writer issues.
 *
 * Pipelining. A write's round trips are most of its cost here, and most of
 * its statements (the order's lines, its history, the audit rows, the
 * events) answer nothing the write looks at. While the writer runs a batch
 * bare (writer.c), an INSERT, UPDATE or DELETE without RETURNING is sent in
 * libpq's pipeline mode and stmt_step says STMT_DONE without waiting; the
 * next call that needs an answer (a query, db_changes, db_last_id, the
 * transaction's state, COMMIT) collects the answers of everything sent
 * before it in one round trip. A failure found then fails the transaction,
 * and the writer runs the batch again with a savepoint per job and no
 * pipelining, where every statement answers at once: a write sees exactly
 * what it would have seen on SQLite (a constraint as STMT_CONSTRAINT, say),
 * only later than it ran. Write functions may run twice already (store.h),
 * so nothing depends on the first run's answers being exact.
 *
 * Readers run with default_transaction_read_only (SQLite's readers are
 * query_only): a write that does not go through the writer is refused.
 */
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/pg_sql.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define MAX_ACTIVE     64
#define INT8OID        20
#define FLOAT8OID      701
#define POOL_WAIT_MS   1000
#define MIGRATION_LOCK "7243620001" /* pg_advisory_xact_lock key of migrations */
#define INLINE_PARAM   24
#define MAX_PENDING    128 /* statements in flight before their answers are read */

static const struct store_ops pg_ops;

struct pg_param {
    char num[INLINE_PARAM]; /* a number's text */
    char *text;             /* a copy of bound text (owned) */
    const char *value;      /* what is sent: num, text or NULL */
    int len;
    unsigned type; /* INT8OID, FLOAT8OID or 0 */
};

struct pg_conn;

struct pg_stmt {
    struct stmt base;
    struct pg_conn *conn;
    const char *key; /* the SQL literal the cache is keyed by */
    char *sql;       /* translated */
    char name[16];
    bool prepared;
    bool hidden_id;  /* "RETURNING id" was added: its row is db_last_id's */
    bool deferrable; /* a write whose answer may wait (see Pipelining) */
    int nparams;
    struct pg_param *params;
    const char **values; /* the arrays libpq takes, nparams long */
    int *lens;
    unsigned *types;
    PGresult *res;
    int row, nrows;
    bool executed;
};

struct cached {
    const char *sql;
    struct pg_stmt *st;
};

/* A connection and what lives on it: its prepared statements. */
struct pg_conn {
    PGconn *c;
    struct cached *cache;
    size_t cap, n;
    struct pg_stmt *active[MAX_ACTIVE];
    int nactive;
    int64_t changes;
    int64_t last_id; /* from the last statement, when it was a hidden_id INSERT */
    bool has_last_id;
    bool retryable; /* lost a conflict since the last BEGIN */
    /* Pipelining (writer connections): allowed for this run of a batch, and
     * what was sent and not yet answered. */
    bool pipeline;
    int npending;
    struct pending {
        const char *sql; /* for the log */
        bool hidden_id;
    } pending[MAX_PENDING];
    char err[512];
    struct pg_conn *next_idle, *next_all;
};

/* A struct db: a writer's own connection, or a thread's reader handle that
 * borrows one from the pool while it reads. */
struct pg_db {
    struct db base;
    struct pg_conn *conn;
    bool in_read_tx; /* between db_read_begin and db_read_end */
    struct pg_db *next_handle;
};

struct pg_store {
    struct store base;
    int readers_max;
    pthread_key_t key; /* this thread's reader handle */
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    struct pg_conn *idle, *all;
    int nconns; /* read connections open */
    struct pg_db *handles;
    /* Tables asked whether their id is an identity column (ids_mu). */
    pthread_mutex_t ids_mu;
    struct {
        char name[64];
        bool identity;
    } ids[128];
    int nids;
};

#define PG_STORE(s) ((struct pg_store *)(s))
#define PG_DB(d)    ((struct pg_db *)(d))
#define PG_ST(x)    ((struct pg_stmt *)(x))

static int env_int(const char *name, int dflt, int lo, int hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    long n = strtol(v, NULL, 10);
    return n < lo ? lo : n > hi ? hi : (int)n;
}

/* ---- connections -------------------------------------------------------- */

static void set_err(struct pg_conn *pc, const char *msg)
{
    snprintf(pc->err, sizeof pc->err, "%s", msg ? msg : "");
    size_t n = strlen(pc->err);
    while (n && (pc->err[n - 1] == '\n' || pc->err[n - 1] == ' '))
        pc->err[--n] = 0;
}

/* Runs SQL with the simple protocol (several statements allowed). */
static bool conn_exec(struct pg_conn *pc, const char *sql)
{
    PGresult *r = PQexec(pc->c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        set_err(pc, PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(pc->c));
    PQclear(r);
    return ok;
}

static void notice_quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res; /* "relation already exists, skipping" and the like */
}

static struct pg_conn *conn_open(struct pg_store *s, bool writer, struct problem *pb)
{
    PGconn *c = PQconnectdb(s->base.path);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot connect to PostgreSQL: %s",
                    c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeReceiver(c, notice_quiet, NULL);
    struct pg_conn *pc = xcalloc(1, sizeof *pc);
    pc->c = c;
    char setup[512];
    /* A lock held longer than the busy timeout is a conflict to retry, as
     * SQLite's busy timeout is; times are UTC; text sorts by bytes. */
    snprintf(setup, sizeof setup,
             "SET application_name = 'shopd'; SET lock_timeout = %d; SET TIME ZONE 'UTC';"
             " SET synchronous_commit = %s; SET default_transaction_read_only = %s;",
             s->base.opts.busy_timeout_ms, s->base.opts.sync_normal ? "off" : "on",
             writer ? "off" : "on");
    if (!conn_exec(pc, setup)) {
        problem_set(pb, SHOP_UNAVAILABLE, "cannot configure a PostgreSQL connection: %s", pc->err);
        PQfinish(c);
        free(pc);
        return NULL;
    }
    return pc;
}

static void stmt_clear(struct pg_stmt *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = 0;
    st->executed = false;
}

static void params_clear(struct pg_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        free(st->params[i].text);
        st->params[i].text = NULL;
        st->params[i].value = NULL;
        st->params[i].len = 0;
    }
}

static void conn_close(struct pg_conn *pc)
{
    for (size_t i = 0; i < pc->cap; i++) {
        struct pg_stmt *st = pc->cache[i].st;
        if (!st)
            continue;
        stmt_clear(st);
        params_clear(st);
        free(st->params);
        free(st->values);
        free(st->lens);
        free(st->types);
        free(st->sql);
        free(st);
    }
    free(pc->cache);
    PQfinish(pc->c);
    free(pc);
}

/* Forgets the statements prepared on a connection that was reset. */
static void conn_forget_prepared(struct pg_conn *pc)
{
    for (size_t i = 0; i < pc->cap; i++)
        if (pc->cache[i].st)
            pc->cache[i].st->prepared = false;
}

/* A connection the server dropped is opened again before it is lent. */
static void conn_check(struct pg_conn *pc)
{
    if (PQstatus(pc->c) == CONNECTION_OK)
        return;
    PQreset(pc->c);
    conn_forget_prepared(pc);
    if (PQstatus(pc->c) == CONNECTION_OK)
        log_event(LOG_WARN, "db.reconnected", NULL);
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
        conn_check(pc);
        return pc;
    }
    if (s->nconns >= s->readers_max)
        log_event(LOG_WARN, "db.pool_exhausted", "{s:i}", "connections", s->nconns);
    s->nconns++;
    pthread_mutex_unlock(&s->mu);
    struct problem pb = {0};
    pc = conn_open(s, false, &pb);
    if (!pc) {
        log_event(LOG_ERROR, "db.open", "{s:s}", "detail", pb.detail);
        abort(); /* as a SQLite reader that cannot open: nothing sensible to answer */
    }
    pthread_mutex_lock(&s->mu);
    pc->next_all = s->all;
    s->all = pc;
    pthread_mutex_unlock(&s->mu);
    return pc;
}

static void pool_return(struct pg_store *s, struct pg_conn *pc)
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
            conn_exec(pc, "ROLLBACK");
        pool_return(PG_STORE(h->base.store), pc);
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
static struct pg_conn *db_conn(struct pg_db *db)
{
    if (!db->conn)
        db->conn = pool_borrow(PG_STORE(db->base.store));
    return db->conn;
}

struct store *pg_store_open(const char *url, const struct store_opts *opts, struct problem *pb)
{
    struct pg_store *s = xcalloc(1, sizeof *s);
    store_init_common(&s->base, &pg_ops, url, opts, env_int("SHOPD_PG_WRITERS", 4, 1, MAX_WRITERS));
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

/* ---- statements --------------------------------------------------------- */

/* True when `table`'s id is an identity column (asked once per table). */
static bool has_identity_id(struct pg_store *s, struct pg_conn *pc, const char *table)
{
    pthread_mutex_lock(&s->ids_mu);
    for (int i = 0; i < s->nids; i++)
        if (!strcmp(s->ids[i].name, table)) {
            bool v = s->ids[i].identity;
            pthread_mutex_unlock(&s->ids_mu);
            return v;
        }
    pthread_mutex_unlock(&s->ids_mu);
    const char *param[1] = {table};
    PGresult *r = PQexecParams(pc->c,
                               "SELECT count(*) FROM information_schema.columns"
                               " WHERE table_schema = current_schema() AND table_name = $1"
                               " AND column_name = 'id' AND is_identity = 'YES'",
                               1, NULL, param, NULL, NULL, 0);
    bool identity = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                    strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    pthread_mutex_lock(&s->ids_mu);
    if (s->nids < (int)(sizeof s->ids / sizeof s->ids[0])) {
        snprintf(s->ids[s->nids].name, sizeof s->ids[s->nids].name, "%s", table);
        s->ids[s->nids++].identity = identity;
    }
    pthread_mutex_unlock(&s->ids_mu);
    return identity;
}

/* For an "INSERT INTO t …" without RETURNING into a table with an identity
 * id: the SQL with " RETURNING id" appended (malloc'd), else NULL. */
static char *with_returning_id(struct pg_store *s, struct pg_conn *pc, const char *sql)
{
    const char *p = sql;
    while (*p == ' ' || *p == '\n' || *p == '\t')
        p++;
    if (strncasecmp(p, "INSERT INTO ", 12) != 0 || strcasestr(p, "RETURNING"))
        return NULL;
    p += 12;
    char table[64];
    size_t n = 0;
    while (n + 1 < sizeof table && (isalnum((unsigned char)p[n]) || p[n] == '_')) {
        table[n] = p[n];
        n++;
    }
    table[n] = '\0';
    if (!n || !has_identity_id(s, pc, table))
        return NULL;
    size_t len = strlen(sql);
    char *out = xmalloc(len + sizeof " RETURNING id");
    memcpy(out, sql, len);
    memcpy(out + len, " RETURNING id", sizeof " RETURNING id");
    return out;
}

/* An INSERT, UPDATE or DELETE whose only RETURNING (if any) is the hidden
 * id: its answer may wait (see Pipelining). */
static bool is_plain_write(const char *sql, bool hidden_id)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    if (strncasecmp(sql, "INSERT ", 7) && strncasecmp(sql, "UPDATE ", 7) &&
        strncasecmp(sql, "DELETE ", 7))
        return false;
    return hidden_id || !strcasestr(sql, "RETURNING");
}

static void pg_schema_changed(struct store *base)
{
    struct pg_store *s = PG_STORE(base);
    pthread_mutex_lock(&s->ids_mu);
    s->nids = 0;
    pthread_mutex_unlock(&s->ids_mu);
}

static size_t slot_of(const char *sql, size_t cap)
{
    uintptr_t p = (uintptr_t)sql;
    p ^= p >> 17;
    p *= 0x9E3779B97F4A7C15u;
    return (size_t)(p >> 20) & (cap - 1);
}

static void cache_grow(struct pg_conn *pc)
{
    size_t cap = pc->cap ? pc->cap * 2 : 128;
    struct cached *c = xcalloc(cap, sizeof *c);
    for (size_t i = 0; i < pc->cap; i++) {
        if (!pc->cache[i].sql)
            continue;
        size_t j = slot_of(pc->cache[i].sql, cap);
        while (c[j].sql)
            j = (j + 1) & (cap - 1);
        c[j] = pc->cache[i];
    }
    free(pc->cache);
    pc->cache = c;
    pc->cap = cap;
}

static void pg_release(struct db *base)
{
    struct pg_db *db = PG_DB(base);
    struct pg_conn *pc = db->conn;
    if (!pc)
        return;
    for (int i = 0; i < pc->nactive; i++)
        stmt_clear(pc->active[i]);
    pc->nactive = 0;
    if (!base->writer && !db->in_read_tx && PQtransactionStatus(pc->c) == PQTRANS_IDLE) {
        db->conn = NULL;
        pool_return(PG_STORE(base->store), pc);
    }
}

static struct stmt *pg_prepare(struct db *base, const char *sql)
{
    struct pg_conn *pc = db_conn(PG_DB(base));
    if (pc->n * 2 >= pc->cap)
        cache_grow(pc);
    size_t j = slot_of(sql, pc->cap);
    while (pc->cache[j].sql && pc->cache[j].sql != sql)
        j = (j + 1) & (pc->cap - 1);
    struct pg_stmt *st = pc->cache[j].st;
    if (!st) {
        int n = 0;
        char *text = pg_translate(sql, &n);
        if (!text) {
            log_event(LOG_ERROR, "db.prepare", "{s:s, s:s}", "sql", sql, "error",
                      "bad parameter number");
            return NULL;
        }
        st = xcalloc(1, sizeof *st);
        st->base.ops = &pg_ops;
        st->conn = pc;
        st->key = sql;
        char *ret = with_returning_id(PG_STORE(base->store), pc, text);
        if (ret) {
            free(text);
            text = ret;
            st->hidden_id = true;
        }
        st->sql = text;
        st->deferrable = is_plain_write(text, st->hidden_id);
        st->nparams = n;
        if (n) {
            st->params = xcalloc((size_t)n, sizeof *st->params);
            st->values = xcalloc((size_t)n, sizeof *st->values);
            st->lens = xcalloc((size_t)n, sizeof *st->lens);
            st->types = xcalloc((size_t)n, sizeof *st->types);
        }
        snprintf(st->name, sizeof st->name, "s%zu", pc->n);
        pc->cache[j].sql = sql;
        pc->cache[j].st = st;
        pc->n++;
    } else {
        stmt_clear(st);
        params_clear(st);
    }
    int i;
    for (i = 0; i < pc->nactive; i++)
        if (pc->active[i] == st)
            break;
    if (i == pc->nactive) {
        if (pc->nactive == MAX_ACTIVE) {
            for (int k = 0; k < pc->nactive; k++)
                stmt_clear(pc->active[k]);
            pc->nactive = 0;
        }
        pc->active[pc->nactive++] = st;
    }
    return &st->base;
}

static void pg_reset(struct stmt *st)
{
    stmt_clear(PG_ST(st));
}

static struct pg_param *param(struct stmt *base, int idx)
{
    struct pg_stmt *st = PG_ST(base);
    if (idx < 1 || idx > st->nparams)
        return NULL;
    if (st->executed)
        stmt_clear(st); /* binding again starts a new execution */
    struct pg_param *p = &st->params[idx - 1];
    free(p->text);
    p->text = NULL;
    return p;
}

static void pg_bind_i64(struct stmt *st, int idx, int64_t v)
{
    struct pg_param *p = param(st, idx);
    if (!p)
        return;
    p->len = snprintf(p->num, sizeof p->num, "%lld", (long long)v);
    p->value = p->num;
    p->type = INT8OID;
}

static void pg_bind_double(struct stmt *st, int idx, double v)
{
    struct pg_param *p = param(st, idx);
    if (!p)
        return;
    p->len = snprintf(p->num, sizeof p->num, "%.17g", v);
    p->value = p->num;
    p->type = FLOAT8OID;
}

static void pg_bind_text(struct stmt *st, int idx, const char *s, int len)
{
    struct pg_param *p = param(st, idx);
    if (!p)
        return;
    p->type = 0;
    if (!s) {
        p->value = NULL;
        p->len = 0;
        return;
    }
    size_t n = len < 0 ? strlen(s) : (size_t)len;
    p->text = xmalloc(n + 1);
    memcpy(p->text, s, n);
    p->text[n] = 0;
    p->value = p->text;
    p->len = (int)n;
}

/* Maps a failed result to a STMT_ code, recording why on the connection. */
static int fail_code(struct pg_conn *pc, const char *sql, PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    set_err(pc, r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(pc->c));
    if (state && !strncmp(state, "23", 2))
        return STMT_CONSTRAINT;
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))) {
        pc->retryable = true;
        return STMT_BUSY;
    }
    /* 25P02: an earlier statement failed the transaction, and said so. */
    if (!state || strcmp(state, "25P02"))
        log_event(LOG_ERROR, "db.step", "{s:s, s:s, s:s}", "sql", sql, "error", pc->err,
                  "sqlstate", state ? state : "");
    return STMT_ERROR;
}

/* Records one answer of a statement that ran: changes, the hidden id, or the
 * failure. Returns its STMT_ code (DONE or ROW for success). */
static int take_answer(struct pg_conn *pc, PGresult *r, const char *sql, bool hidden_id)
{
    pc->has_last_id = false;
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
        if (hidden_id) {
            /* An INSERT: its ids are for db_last_id, not rows to step. */
            int rows = PQntuples(r);
            if (rows > 0) {
                pc->last_id = strtoll(PQgetvalue(r, rows - 1, 0), NULL, 10);
                pc->has_last_id = true;
            }
            pc->changes = rows;
            return STMT_DONE;
        }
        pc->changes = *PQcmdTuples(r) ? strtoll(PQcmdTuples(r), NULL, 10) : 0;
        return PQntuples(r) > 0 ? STMT_ROW : STMT_DONE;
    case PGRES_COMMAND_OK:
        pc->changes = *PQcmdTuples(r) ? strtoll(PQcmdTuples(r), NULL, 10) : 0;
        return STMT_DONE;
    case PGRES_PIPELINE_ABORTED:
        /* Skipped after an earlier statement of the pipeline failed. */
        set_err(pc, "skipped after an earlier failure in the same pipeline");
        return STMT_ERROR;
    default:
        return fail_code(pc, sql, r);
    }
}

/* Reads the answers of every statement sent without waiting, and leaves
 * pipeline mode. False when one of them failed (the transaction has). */
static bool sync_pending(struct pg_conn *pc)
{
    if (PQpipelineStatus(pc->c) == PQ_PIPELINE_OFF)
        return true;
    bool ok = PQpipelineSync(pc->c) == 1;
    for (int i = 0; i < pc->npending && ok; i++) {
        PGresult *r = PQgetResult(pc->c);
        if (!r) {
            ok = false;
            break;
        }
        if (take_answer(pc, r, pc->pending[i].sql, pc->pending[i].hidden_id) < 0)
            ok = false;
        PQclear(r);
        while ((r = PQgetResult(pc->c)))
            PQclear(r); /* to the NULL that ends each statement's answers */
    }
    pc->npending = 0;
    /* Everything up to the Sync's own answer, then out of pipeline mode. */
    for (;;) {
        PGresult *r = PQgetResult(pc->c);
        if (!r) {
            if (PQpipelineStatus(pc->c) == PQ_PIPELINE_OFF || PQstatus(pc->c) != CONNECTION_OK)
                break;
            continue;
        }
        bool end = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (end)
            break;
    }
    if (!PQexitPipelineMode(pc->c)) {
        set_err(pc, PQerrorMessage(pc->c));
        ok = false;
    }
    return ok;
}

/* Sends a write without waiting for its answer (see Pipelining). */
static int defer(struct pg_stmt *st)
{
    struct pg_conn *pc = st->conn;
    if (pc->npending == MAX_PENDING)
        sync_pending(pc);
    if (PQpipelineStatus(pc->c) == PQ_PIPELINE_OFF && !PQenterPipelineMode(pc->c)) {
        set_err(pc, PQerrorMessage(pc->c));
        return STMT_ERROR;
    }
    if (!PQsendQueryPrepared(pc->c, st->name, st->nparams, st->values, st->lens, NULL, 0)) {
        set_err(pc, PQerrorMessage(pc->c));
        return STMT_ERROR;
    }
    pc->pending[pc->npending++] = (struct pending){st->sql, st->hidden_id};
    st->executed = true;
    pc->has_last_id = false;
    return STMT_DONE;
}

static int execute(struct pg_stmt *st)
{
    struct pg_conn *pc = st->conn;
    for (int i = 0; i < st->nparams; i++) {
        st->values[i] = st->params[i].value;
        st->lens[i] = st->params[i].len;
    }
    if (!st->prepared) {
        /* Prepared once per connection, answered at once (not pipelined). */
        sync_pending(pc);
        for (int i = 0; i < st->nparams; i++)
            st->types[i] = st->params[i].value ? st->params[i].type : 0;
        PGresult *r = PQprepare(pc->c, st->name, st->sql, st->nparams, st->types);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            int code = fail_code(pc, st->sql, r);
            PQclear(r);
            return code;
        }
        PQclear(r);
        st->prepared = true;
    }
    if (st->deferrable && pc->pipeline)
        return defer(st);
    /* Answers collected now may fail the transaction; the server then
     * refuses this statement too (but for ROLLBACK), and says so. */
    sync_pending(pc);
    st->res = PQexecPrepared(pc->c, st->name, st->nparams, st->values, st->lens, NULL, 0);
    st->executed = true;
    int code = take_answer(pc, st->res, st->sql, st->hidden_id);
    if (code == STMT_ROW) {
        st->nrows = PQntuples(st->res);
        st->row = 0;
    } else if (code < 0) {
        PQclear(st->res);
        st->res = NULL;
    }
    return code;
}

static int pg_step(struct stmt *base)
{
    struct pg_stmt *st = PG_ST(base);
    if (st->executed) {
        if (!st->res || ++st->row >= st->nrows)
            return STMT_DONE;
        return STMT_ROW;
    }
    int64_t t0 = tl_writer_of ? 0 : clock_mono_ns();
    int rc = execute(st);
    if (!tl_writer_of)
        tl_db_ns += clock_mono_ns() - t0;
    return rc;
}

static bool has_value(struct pg_stmt *st, int col)
{
    return st->res && st->row < st->nrows && col >= 0 && col < PQnfields(st->res) &&
           !PQgetisnull(st->res, st->row, col);
}

static int64_t pg_col_i64(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    if (!has_value(st, col))
        return 0;
    const char *v = PQgetvalue(st->res, st->row, col);
    if (v[0] == 't' && !v[1])
        return 1;
    if (v[0] == 'f' && !v[1])
        return 0;
    /* numeric (sum of bigints, avg) may carry a fraction: truncated, as
     * SQLite reads a real as an integer. */
    return strtoll(v, NULL, 10);
}

static double pg_col_double(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    return has_value(st, col) ? strtod(PQgetvalue(st->res, st->row, col), NULL) : 0.0;
}

static const char *pg_col_text(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    return has_value(st, col) ? PQgetvalue(st->res, st->row, col) : "";
}

static int pg_col_len(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    return has_value(st, col) ? PQgetlength(st->res, st->row, col) : 0;
}

static bool pg_col_null(struct stmt *base, int col)
{
    return !has_value(PG_ST(base), col);
}

static int64_t pg_changes(struct db *db)
{
    struct pg_conn *pc = PG_DB(db)->conn;
    if (!pc)
        return 0;
    sync_pending(pc);
    return pc->changes;
}

static int64_t pg_last_id(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    if (!pc)
        return 0;
    sync_pending(pc);
    if (pc->has_last_id)
        return pc->last_id;
    PGresult *r = PQexec(pc->c, "SELECT lastval()");
    int64_t id = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        set_err(pc, PQresultErrorMessage(r));
    PQclear(r);
    return id;
}

static enum shop_err pg_exec(struct db *base, const char *sql, struct problem *pb)
{
    struct pg_conn *pc = db_conn(PG_DB(base));
    int64_t t0 = clock_mono_ns();
    bool ok = sync_pending(pc) && conn_exec(pc, sql);
    tl_db_ns += clock_mono_ns() - t0;
    if (!ok) {
        log_event(LOG_ERROR, "db.exec", "{s:s, s:s}", "sql", sql, "error", pc->err);
        return problem_set(pb, SHOP_INTERNAL, "database error");
    }
    return SHOP_OK;
}

static const char *pg_errmsg(struct db *db)
{
    return PG_DB(db)->conn ? PG_DB(db)->conn->err : "";
}

/* ---- transactions -------------------------------------------------------- */

static bool pg_begin(struct db *base, bool exclusive)
{
    struct pg_conn *pc = db_conn(PG_DB(base));
    conn_check(pc);
    pc->retryable = false;
    if (!conn_exec(pc, exclusive ? "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")"
                                 : "BEGIN")) {
        log_event(LOG_ERROR, "db.begin", "{s:s}", "error", pc->err);
        if (PQtransactionStatus(pc->c) != PQTRANS_IDLE)
            conn_exec(pc, "ROLLBACK");
        return false;
    }
    return true;
}

static enum tx_state pg_tx_state(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    if (!pc)
        return TX_NONE;
    sync_pending(pc);
    switch (PQtransactionStatus(pc->c)) {
    case PQTRANS_INTRANS:
        return TX_OPEN;
    case PQTRANS_INERROR:
        return TX_FAILED;
    default:
        return TX_NONE;
    }
}

static bool pg_retryable(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    if (!pc)
        return false;
    sync_pending(pc);
    return pc->retryable;
}

/* writer.c: pipelining on for a bare run of a batch, off otherwise. */
static void pg_pipeline(struct db *base, bool on)
{
    struct pg_conn *pc = db_conn(PG_DB(base));
    if (!on)
        sync_pending(pc);
    pc->pipeline = on;
}

/* A transaction-level advisory lock (store.h, db_lock). */
static enum shop_err pg_lock(struct db *db, int64_t key, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT pg_advisory_xact_lock(?)");
    if (!st)
        return db_fail(db, pb, "locking");
    stmt_bind_i64(st, 1, key);
    return stmt_step(st) == STMT_ROW ? SHOP_OK : db_fail(db, pb, "locking");
}

/* One snapshot for several reads, as SQLite's BEGIN on a WAL reader. */
static void pg_read_begin(struct db *base)
{
    struct pg_db *db = PG_DB(base);
    if (conn_exec(db_conn(db), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        db->in_read_tx = true;
}

static void pg_read_end(struct db *base)
{
    struct pg_db *db = PG_DB(base);
    if (db->conn && PQtransactionStatus(db->conn->c) != PQTRANS_IDLE)
        conn_exec(db->conn, "COMMIT");
    db->in_read_tx = false;
    pg_release(base);
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .migrations = migrations_postgres,
    .reader = pg_reader,
    .connect_writer = pg_connect_writer,
    .close = pg_close,
    .schema_changed = pg_schema_changed,
    .begin = pg_begin,
    .tx_state = pg_tx_state,
    .retryable = pg_retryable,
    .pipeline = pg_pipeline,
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
