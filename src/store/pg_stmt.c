/* pg_stmt.c — the PostgreSQL backend's statements: prepare, bind, step,
 * columns, and the pipelining of writes (pg.c has connections and
 * transactions).
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
 * before it in one round trip, which a statement that waits for its own
 * answer shares by joining the pipeline first. A failure found then fails
 * the transaction, and the writer runs the batch again with a savepoint per
 * job and no pipelining, where every statement answers at once: a write
 * sees exactly what it would have seen on SQLite (a constraint as
 * STMT_CONSTRAINT, say), only later than it ran. Write functions may run
 * twice already (store.h), so nothing depends on the first run's answers
 * being exact. An advisory lock (pg.c, pg_lock) goes the same way through
 * pg_step_unanswered: its row is never read, and what is sent after it runs
 * once it is held. An INSERT's id that the write only records
 * (db_last_id_into) is written where it said when the answer comes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/pg_sql.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

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

void pg_stmt_free(struct pg_stmt *st)
{
    stmt_clear(st);
    params_clear(st);
    free(st->params);
    free(st->values);
    free(st->lens);
    free(st->types);
    free(st->sql);
    free(st);
}

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
    /* Not in pipeline mode, where a synchronous query fails at once: a
     * table first written while the writer pipelined was taken for one
     * without an identity id, and each of its INSERTs then cost a lastval()
     * round trip (payments: one per order). */
    pg_sync(pc);
    const char *param[1] = {table};
    PGresult *r = PQexecParams(pc->c,
                               "SELECT count(*) FROM information_schema.columns"
                               " WHERE table_schema = current_schema() AND table_name = $1"
                               " AND column_name = 'id' AND is_identity = 'YES'",
                               1, NULL, param, NULL, NULL, 0);
    bool answered = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    bool identity = answered && strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    if (!answered)
        return false; /* this time (lastval() will do); asked again next time */
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

void pg_schema_changed(struct store *base)
{
    struct pg_store *s = PG_STORE(base);
    pthread_mutex_lock(&s->ids_mu);
    s->nids = 0;
    pthread_mutex_unlock(&s->ids_mu);
}

void pg_release(struct db *base)
{
    struct pg_db *db = PG_DB(base);
    struct pg_conn *pc = db->conn;
    if (!pc)
        return;
    for (int i = 0; i < pc->nactive; i++)
        stmt_clear(pc->active[i]);
    pc->nactive = 0;
    /* A broken connection (the server went away) goes back too: the next
     * borrower connects it again (pg.c, conn_check); kept, it would fail
     * every later read of this thread. */
    if (!base->writer && !db->in_read_tx &&
        (PQtransactionStatus(pc->c) == PQTRANS_IDLE || PQstatus(pc->c) != CONNECTION_OK)) {
        db->conn = NULL;
        pg_pool_return(PG_STORE(base->store), pc);
    }
}

struct stmt *pg_prepare(struct db *base, const char *sql)
{
    struct pg_conn *pc = pg_db_conn(PG_DB(base));
    struct stmt_slot *slot = stmt_cache_find(&pc->cache, sql);
    struct pg_stmt *st = PG_ST(slot->st);
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
        snprintf(st->name, sizeof st->name, "s%zu", pc->cache.n);
        stmt_cache_put(&pc->cache, slot, sql, &st->base);
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

void pg_reset(struct stmt *st)
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

void pg_bind_i64(struct stmt *st, int idx, int64_t v)
{
    struct pg_param *p = param(st, idx);
    if (!p)
        return;
    p->len = snprintf(p->num, sizeof p->num, "%lld", (long long)v);
    p->value = p->num;
    p->type = INT8OID;
}

void pg_bind_double(struct stmt *st, int idx, double v)
{
    struct pg_param *p = param(st, idx);
    if (!p)
        return;
    p->len = snprintf(p->num, sizeof p->num, "%.17g", v);
    p->value = p->num;
    p->type = FLOAT8OID;
}

void pg_bind_text(struct stmt *st, int idx, const char *s, int len)
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
    pg_set_err(pc,
               r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(pc->c));
    if (state && !strncmp(state, "23", 2))
        return STMT_CONSTRAINT;
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))) {
        pc->retryable = true;
        return STMT_BUSY;
    }
    /* 25P02: an earlier statement failed the transaction, and said so. */
    if (!state || strcmp(state, "25P02"))
        log_event(LOG_ERROR, "db.step", "{s:s, s:s, s:s}", "sql", sql, "error", pc->err, "sqlstate",
                  state ? state : "");
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
        pg_set_err(pc, "skipped after an earlier failure in the same pipeline");
        return STMT_ERROR;
    default:
        return fail_code(pc, sql, r);
    }
}

/* Reads the answers of every statement sent without waiting, and leaves
 * pipeline mode. False when one of them failed (the transaction has). */
bool pg_sync(struct pg_conn *pc)
{
    if (PQpipelineStatus(pc->c) == PQ_PIPELINE_OFF)
        return true;
    bool ok = PQpipelineSync(pc->c) == 1, missed = false;
    /* After a failed statement the server skipped the rest: their answers
     * are read out below, unseen. A write that changed other rows than it
     * had to failed nothing on the server, so what follows it is read. */
    for (int i = 0; i < pc->npending && ok; i++) {
        PGresult *r = PQgetResult(pc->c);
        if (!r) {
            ok = false;
            break;
        }
        if (pc->pending[i].keep) {
            *pc->pending[i].keep = r; /* a statement that waits: its caller reads it */
        } else {
            if (take_answer(pc, r, pc->pending[i].sql, pc->pending[i].hidden_id) < 0)
                ok = false;
            else if (pc->pending[i].expect >= 0 && pc->changes != pc->pending[i].expect) {
                pg_set_err(pc, "a write that had to change a row found it changed meanwhile");
                pc->expect_failed = missed = true;
            } else if (pc->pending[i].id_into && pc->has_last_id)
                *pc->pending[i].id_into = pc->last_id;
            PQclear(r);
        }
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
        pg_set_err(pc, PQerrorMessage(pc->c));
        ok = false;
    }
    return ok && !missed;
}

/* Sends a write without waiting for its answer (see Pipelining). */
static int defer(struct pg_stmt *st)
{
    struct pg_conn *pc = st->conn;
    if (pc->npending == MAX_PENDING)
        pg_sync(pc);
    if (PQpipelineStatus(pc->c) == PQ_PIPELINE_OFF && !PQenterPipelineMode(pc->c)) {
        pg_set_err(pc, PQerrorMessage(pc->c));
        return STMT_ERROR;
    }
    if (!PQsendQueryPrepared(pc->c, st->name, st->nparams, st->values, st->lens, NULL, 0)) {
        pg_set_err(pc, PQerrorMessage(pc->c));
        return STMT_ERROR;
    }
    pc->pending[pc->npending++] = (struct pending){st->sql, st->hidden_id, -1, NULL, NULL};
    st->executed = true;
    pc->has_last_id = false;
    return STMT_DONE;
}

static int execute(struct pg_stmt *st, bool unanswered)
{
    struct pg_conn *pc = st->conn;
    if (tl_writer_of)
        tl_writer_stmts++;
    for (int i = 0; i < st->nparams; i++) {
        st->values[i] = st->params[i].value;
        st->lens[i] = st->params[i].len;
    }
    if (!st->prepared) {
        /* Prepared once per connection, answered at once (not pipelined). */
        pg_sync(pc);
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
    if ((st->deferrable || unanswered) && pc->pipeline)
        return defer(st);
    /* With answers owed it joins the pipeline, so theirs and its own come
     * back in one round trip. Skipped after a failure among them, it is
     * sent again alone: the server refuses it (but ROLLBACK) and says so. */
    if (pc->npending > 0 && pc->npending < MAX_PENDING &&
        PQsendQueryPrepared(pc->c, st->name, st->nparams, st->values, st->lens, NULL, 0))
        pc->pending[pc->npending++] = (struct pending){st->sql, false, -1, &st->res, NULL};
    pg_sync(pc);
    if (st->res && PQresultStatus(st->res) == PGRES_PIPELINE_ABORTED) {
        PQclear(st->res);
        st->res = NULL;
    }
    if (!st->res)
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

static int step(struct stmt *base, bool unanswered)
{
    struct pg_stmt *st = PG_ST(base);
    if (st->executed) {
        if (!st->res || ++st->row >= st->nrows)
            return STMT_DONE;
        return STMT_ROW;
    }
    int64_t t0 = tl_writer_of ? 0 : clock_mono_ns();
    int rc = execute(st, unanswered);
    /* The server is gone (a restart, refused connections): an outage to
     * retry later, as SQLite's busy is, not an error in the statement. */
    if (rc == STMT_ERROR && PQstatus(st->conn->c) != CONNECTION_OK)
        rc = STMT_BUSY;
    if (!tl_writer_of)
        tl_db_ns += clock_mono_ns() - t0;
    return rc;
}

int pg_step(struct stmt *base)
{
    return step(base, false);
}

int pg_step_unanswered(struct stmt *base)
{
    return step(base, true);
}

static bool has_value(struct pg_stmt *st, int col)
{
    return st->res && st->row < st->nrows && col >= 0 && col < PQnfields(st->res) &&
           !PQgetisnull(st->res, st->row, col);
}

int64_t pg_col_i64(struct stmt *base, int col)
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

double pg_col_double(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    return has_value(st, col) ? strtod(PQgetvalue(st->res, st->row, col), NULL) : 0.0;
}

const char *pg_col_text(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    return has_value(st, col) ? PQgetvalue(st->res, st->row, col) : "";
}

int pg_col_len(struct stmt *base, int col)
{
    struct pg_stmt *st = PG_ST(base);
    return has_value(st, col) ? PQgetlength(st->res, st->row, col) : 0;
}

bool pg_col_null(struct stmt *base, int col)
{
    return !has_value(PG_ST(base), col);
}

/* The statement just stepped, if it was sent without waiting: every
 * statement either joins the pipeline or reads it out first, so a pending
 * one is the last stepped. NULL otherwise. */
static struct pending *just_sent(struct db *db)
{
    struct pg_conn *pc = PG_DB(db)->conn;
    return pc && pc->npending ? &pc->pending[pc->npending - 1] : NULL;
}

bool pg_defer_expect(struct db *db, int64_t n)
{
    struct pending *p = just_sent(db);
    if (p)
        p->expect = n;
    return p != NULL;
}

bool pg_defer_id(struct db *db, int64_t *out)
{
    struct pending *p = just_sent(db);
    if (!p || !p->hidden_id)
        return false;
    p->id_into = out;
    return true;
}

int64_t pg_changes(struct db *db)
{
    struct pg_conn *pc = PG_DB(db)->conn;
    if (!pc)
        return 0;
    pg_sync(pc);
    return pc->changes;
}

int64_t pg_last_id(struct db *base)
{
    struct pg_conn *pc = PG_DB(base)->conn;
    if (!pc)
        return 0;
    pg_sync(pc);
    if (pc->has_last_id)
        return pc->last_id;
    PGresult *r = PQexec(pc->c, "SELECT lastval()");
    int64_t id = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        pg_set_err(pc, PQresultErrorMessage(r));
    PQclear(r);
    return id;
}

enum shop_err pg_exec(struct db *base, const char *sql, struct problem *pb)
{
    struct pg_conn *pc = pg_db_conn(PG_DB(base));
    int64_t t0 = clock_mono_ns();
    bool ok = pg_sync(pc) && pg_conn_exec(pc, sql);
    tl_db_ns += clock_mono_ns() - t0;
    if (!ok) {
        log_event(LOG_ERROR, "db.exec", "{s:s, s:s}", "sql", sql, "error", pc->err);
        return problem_set(pb, SHOP_INTERNAL, "database error");
    }
    return SHOP_OK;
}

const char *pg_errmsg(struct db *db)
{
    return PG_DB(db)->conn ? PG_DB(db)->conn->err : "";
}
