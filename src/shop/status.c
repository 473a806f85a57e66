#include "shop/status.h"

#include "store/store.h"

enum shop_err status_move(struct db *db, const struct status_book *b, int64_t id,
                          const char *from, const char *to, const char *note, int64_t at,
                          struct problem *pb)
{
    struct stmt *st = db_prepare(db, b->update_sql);
    if (!st)
        return db_fail(db, pb, "updating the status");
    stmt_bind_text(st, 1, to);
    stmt_bind_i64(st, 2, at);
    stmt_bind_i64(st, 3, id);
    stmt_bind_text(st, 4, from);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "updating the status");
    if (db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the %s changed meanwhile", b->what);
    st = db_prepare(db, b->history_sql);
    if (!st)
        return db_fail(db, pb, "recording history");
    stmt_bind_i64(st, 1, id);
    stmt_bind_text(st, 2, to);
    if (note)
        stmt_bind_text(st, 3, note);
    else
        stmt_bind_null(st, 3);
    stmt_bind_i64(st, 4, at);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording history");
}
