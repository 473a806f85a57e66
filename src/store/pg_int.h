/* pg_int.h — what the two halves of the PostgreSQL backend share: pg.c
 * (connections, the pool, transactions) and pg_stmt.c (statements and the
 * pipelining of writes). Nothing outside src/store includes it.
 */
#ifndef SHOPD_STORE_PG_INT_H
#define SHOPD_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>

#include "store/backend.h"
#include "store/stmt_cache.h"

#define MAX_ACTIVE     64
#define INT8OID        20
#define FLOAT8OID      701
#define POOL_WAIT_MS   1000
#define MIGRATION_LOCK "7243620001" /* pg_advisory_xact_lock key of migrations */
#define INLINE_PARAM   24
#define MAX_PENDING    128 /* statements in flight before their answers are read */

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

/* A connection and what lives on it: its prepared statements. */
struct pg_conn {
    PGconn *c;
    struct stmt_cache cache;
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
        int64_t expect; /* the rows it must change (db_expect_changes), -1: any */
        PGresult **keep; /* a statement that waits: its answer, kept for it */
        int64_t *id_into; /* an INSERT's id, written where db_last_id_into said */
    } pending[MAX_PENDING];
    /* A write sent without waiting changed other rows than it had to: the
     * transaction reads as failed, and the writer runs the batch again. */
    bool expect_failed;
    char err[512];
    bool writer; /* set up for writes (conn_setup) */
    bool set_up; /* conn_setup ran on this connection since it (re)connected */
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

extern const struct store_ops pg_ops;

/* pg.c */
void pg_set_err(struct pg_conn *pc, const char *msg);
/* Runs SQL with the simple protocol (several statements allowed). */
bool pg_conn_exec(struct pg_conn *pc, const char *sql);
/* The connection a handle's statements run on, borrowed if need be. */
struct pg_conn *pg_db_conn(struct pg_db *db);
/* A reader's connection back to the pool. */
void pg_pool_return(struct pg_store *s, struct pg_conn *pc);

/* pg_stmt.c: the statement half of pg_ops, and */
void pg_stmt_free(struct pg_stmt *st);
/* Reads the answers of every write sent without waiting and leaves pipeline
 * mode; false when one of them failed (the transaction has). */
bool pg_sync(struct pg_conn *pc);
void pg_schema_changed(struct store *base);
struct stmt *pg_prepare(struct db *base, const char *sql);
void pg_release(struct db *base);
void pg_reset(struct stmt *st);
void pg_bind_i64(struct stmt *st, int idx, int64_t v);
void pg_bind_double(struct stmt *st, int idx, double v);
void pg_bind_text(struct stmt *st, int idx, const char *s, int len);
int pg_step(struct stmt *base);
/* pg_step for a statement whose rows nobody reads (an advisory lock): while
 * writes are being pipelined it is sent without waiting, like them, and
 * answered with the next statement that waits; the statements after it run
 * after it, so they see what it waited for. */
int pg_step_unanswered(struct stmt *base);
int64_t pg_col_i64(struct stmt *base, int col);
double pg_col_double(struct stmt *base, int col);
const char *pg_col_text(struct stmt *base, int col);
int pg_col_len(struct stmt *base, int col);
bool pg_col_null(struct stmt *base, int col);
int64_t pg_changes(struct db *db);
bool pg_defer_expect(struct db *db, int64_t n);
bool pg_defer_id(struct db *db, int64_t *out);
int64_t pg_last_id(struct db *base);
enum shop_err pg_exec(struct db *base, const char *sql, struct problem *pb);
const char *pg_errmsg(struct db *db);

#endif
