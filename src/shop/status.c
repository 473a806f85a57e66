#include "shop/status.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"

const char *status_name(const struct status_machine *m, int s)
{
    return s >= 0 && s < m->count ? m->names[s] : "unknown";
}

int status_parse(const struct status_machine *m, const char *s)
{
    for (int i = 0; s && i < m->count; i++)
        if (!strcmp(s, m->names[i]))
            return i;
    return -1;
}

bool status_allowed(const struct status_machine *m, int from, int to)
{
    return from >= 0 && from < m->count && to >= 0 && to < m->count &&
           (m->allowed[from] & (1u << to)) != 0;
}

enum shop_err status_move(struct db *db, const struct status_machine *m, int64_t id, int from,
                          int to, const char *note, int64_t now, struct problem *pb)
{
    if (!status_allowed(m, from, to))
        return problem_set(pb, SHOP_CONFLICT, "a %s that is %s cannot become %s", m->entity,
                           status_name(m, from), status_name(m, to));
    struct stmt *st = db_prepare(db, m->update_sql);
    if (!st)
        return db_fail(db, pb, "moving a status");
    stmt_bind_text(st, 1, m->names[to]);
    stmt_bind_i64(st, 2, now);
    stmt_bind_i64(st, 3, id);
    stmt_bind_text(st, 4, m->names[from]);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "moving a status");
    char changed[64];
    snprintf(changed, sizeof changed, "the %s changed meanwhile", m->entity);
    if (db_expect_changes(db, 1, pb, SHOP_CONFLICT, changed) != SHOP_OK)
        return pb->err;
    return status_enter(db, m, id, to, note, now, pb);
}

enum shop_err status_enter(struct db *db, const struct status_machine *m, int64_t id, int to,
                           const char *note, int64_t now, struct problem *pb)
{
    struct stmt *st = db_prepare(db, m->history_sql);
    if (!st)
        return db_fail(db, pb, "recording status history");
    stmt_bind_i64(st, 1, id);
    stmt_bind_text(st, 2, m->names[to]);
    stmt_bind_text(st, 3, note);
    stmt_bind_i64(st, 4, now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording status history");
}
