/* appends.c — rows appended at commit (store.h, db_append).
 *
 * A checkout writes three outbox events; on PostgreSQL each INSERT cost a
 * statement's fixed work (bind, executor start and end, the table's checks
 * and indexes opened), ~25 us of server CPU, more than the row itself. The
 * rows of an append-only table are queued on the writer's connection
 * instead, and a batch's rows go in with one INSERT of many VALUES rows per
 * 32 (chunks of 32, 8, 4, 2, 1 rows: a few prepared statements per kind).
 * Rows keep their order within a kind, so ids still follow the order the
 * events were emitted in. The writer (writer.c) decides when: before COMMIT
 * in a bare batch, after each job in a careful one, and it drops the rows of
 * any write it rolls back (appends_mark/appends_drop around a nested write,
 * everything when a batch starts again).
 */
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/xalloc.h"

struct pending_row {
    struct db_append_kind *kind;
    struct db_value v[DB_APPEND_COLS];
};

static const int sizes[DB_APPEND_SIZES] = {32, 8, 4, 2, 1};
static pthread_mutex_t build_mu = PTHREAD_MUTEX_INITIALIZER;

/* The INSERT of `sizes[which]` rows of `k`, built once and kept for good:
 * db_prepare caches statements by the address of their text. The table and
 * columns are the kind's static declaration in the code, never input; the
 * values are bound. */
static const char *insert_sql(struct db_append_kind *k, int which)
{
    const char *sql = atomic_load(&k->sql[which]);
    if (sql)
        return sql;
    pthread_mutex_lock(&build_mu);
    sql = atomic_load(&k->sql[which]);
    if (!sql) {
        sql = db_rows_sql(k->into, k->ncols, sizes[which], "");
        atomic_store(&k->sql[which], sql);
    }
    pthread_mutex_unlock(&build_mu);
    return sql;
}

static void bind_row(struct stmt *st, const struct db_append_kind *k, const struct db_value *v,
                     int first)
{
    for (int c = 0; c < k->ncols; c++) {
        if (!v[c].is_text)
            stmt_bind_i64(st, first + c, v[c].i64);
        else if (v[c].text)
            stmt_bind_text(st, first + c, v[c].text);
        else
            stmt_bind_null(st, first + c);
    }
}

/* Inserts `n` rows of one kind, the largest chunks first. */
static bool insert_rows(struct db *db, struct pending_row **rows, size_t n)
{
    struct db_append_kind *k = rows[0]->kind;
    size_t done = 0;
    for (int which = 0; which < DB_APPEND_SIZES; which++)
        while (n - done >= (size_t)sizes[which]) {
            struct stmt *st = db_prepare(db, insert_sql(k, which));
            if (!st)
                return false;
            for (int r = 0; r < sizes[which]; r++)
                bind_row(st, k, rows[done + (size_t)r]->v, 1 + r * k->ncols);
            if (stmt_step(st) != STMT_DONE)
                return false;
            done += (size_t)sizes[which];
        }
    return true;
}

bool appends_flush(struct db *db)
{
    bool ok = true;
    size_t n = db->nappends;
    if (!n)
        return true;
    struct pending_row **same = xmalloc(n * sizeof *same);
    /* Kind by kind, in the order each first appeared; rows in their order. */
    for (size_t i = 0; i < n && ok; i++) {
        struct db_append_kind *k = db->appends[i].kind;
        if (!k)
            continue;
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (db->appends[j].kind == k) {
                same[m++] = &db->appends[j];
                if (j > i)
                    db->appends[j].kind = NULL; /* taken; the loop skips it */
            }
        ok = insert_rows(db, same, m);
    }
    free(same);
    db_release(db);
    return ok;
}

size_t appends_mark(const struct db *db)
{
    return db->nappends;
}

void appends_drop(struct db *db, size_t mark)
{
    for (size_t i = mark; i < db->nappends; i++)
        for (int c = 0; c < DB_APPEND_COLS; c++)
            free((char *)db->appends[i].v[c].text);
    if (mark < db->nappends)
        db->nappends = mark;
    if (!mark) {
        free(db->appends);
        db->appends = NULL;
        db->cappends = 0;
    }
}

enum shop_err db_append(struct db *db, struct db_append_kind *k, const struct db_value *vals,
                        struct problem *pb)
{
    if (db != tl_writer_db) {
        struct pending_row row = {.kind = k};
        memcpy(row.v, vals, (size_t)k->ncols * sizeof *vals);
        struct pending_row *one = &row;
        return insert_rows(db, &one, 1) ? SHOP_OK : db_fail(db, pb, "appending a row");
    }
    if (db->nappends == db->cappends) {
        db->cappends = db->cappends ? db->cappends * 2 : 64;
        db->appends = xrealloc(db->appends, db->cappends * sizeof *db->appends);
    }
    struct pending_row *row = &db->appends[db->nappends++];
    memset(row, 0, sizeof *row);
    row->kind = k;
    for (int c = 0; c < k->ncols; c++) {
        row->v[c] = vals[c];
        if (vals[c].is_text && vals[c].text)
            row->v[c].text = xstrdup(vals[c].text);
    }
    return SHOP_OK;
}
