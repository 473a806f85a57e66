#include "work/fanout.h"

#include <stdlib.h>

#include "shop/notify.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/xalloc.h"

void notify_rows_push(struct notify_rows *r, const struct notify_row *row)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->v = xrealloc(r->v, (size_t)r->cap * sizeof *r->v);
    }
    r->v[r->n++] = *row;
}

bool fanout_next_running(struct shop *shop, struct fanout *f)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT id, message_id, product_id, cursor_user, users_total,"
                                     " users_done FROM notify_fanouts WHERE state = 'running'"
                                     " ORDER BY id LIMIT 1");
    bool found = st && stmt_step(st) == STMT_ROW;
    if (found)
        *f = (struct fanout){.id = stmt_i64(st, 0),
                             .message_id = stmt_i64(st, 1),
                             .product_id = stmt_i64(st, 2),
                             .cursor = stmt_i64(st, 3),
                             .users_total = stmt_i64(st, 4),
                             .users_done = stmt_i64(st, 5)};
    db_release(db);
    return found;
}

struct chunk_job {
    const struct fanout *f;
    int64_t upper, total, now, due;
    bool last;
    struct notify_rows *rows;
    int base;  /* rows->n before this chunk (the write may run twice) */
    int users; /* wishlisters in the chunk */
};

static enum shop_err chunk_write(struct db *db, void *arg, struct problem *pb)
{
    struct chunk_job *j = arg;
    j->rows->n = j->base;
    struct stmt *st = db_prepare(
        db, "INSERT INTO notifications (message_id, user_id, channel, state, attempts, next_at,"
            " created_at, updated_at)"
            " " NOTIFY_ROWS("?1", "w.user_id", "wishlist w",
                            "w.product_id = ?3 AND w.user_id > ?4 AND w.user_id <= ?5",
                            "?6") " ON CONFLICT DO NOTHING RETURNING id, user_id, channel");
    if (!st)
        return db_fail(db, pb, "creating a fan-out chunk");
    stmt_bind_i64(st, 1, j->f->message_id);
    stmt_bind_i64(st, 2, j->now);
    stmt_bind_i64(st, 3, j->f->product_id);
    stmt_bind_i64(st, 4, j->f->cursor);
    stmt_bind_i64(st, 5, j->upper);
    stmt_bind_i64(st, 6, j->due);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        struct notify_row row = {.id = stmt_i64(st, 0),
                                 .user_id = stmt_i64(st, 1),
                                 .message_id = j->f->message_id,
                                 .channel = (int32_t)stmt_i64(st, 2)};
        notify_rows_push(j->rows, &row);
    }
    if (rc != STMT_DONE)
        return db_fail(db, pb, "creating a fan-out chunk");
    st = db_prepare(db, "SELECT count(*) FROM wishlist WHERE product_id = ? AND user_id > ?"
                        " AND user_id <= ?");
    if (!st)
        return db_fail(db, pb, "counting a fan-out chunk");
    stmt_bind_i64(st, 1, j->f->product_id);
    stmt_bind_i64(st, 2, j->f->cursor);
    stmt_bind_i64(st, 3, j->upper);
    j->users = stmt_step(st) == STMT_ROW ? (int)stmt_i64(st, 0) : 0;
    /* The cursor moves only from where it was read: a second worker that
     * got here first makes this chunk a no-op (rolled back). */
    st = db_prepare(db, "UPDATE notify_fanouts SET cursor_user = ?1, users_done = users_done + ?2,"
                        " notifications = notifications + ?3,"
                        " users_total = CASE WHEN users_total < 0 THEN ?4 ELSE users_total END,"
                        " state = CASE WHEN ?5 = 1 THEN 'done' ELSE state END,"
                        " finished_at = CASE WHEN ?5 = 1 THEN ?6 ELSE finished_at END"
                        " WHERE id = ?7 AND cursor_user = ?8 AND state = 'running'");
    if (!st)
        return db_fail(db, pb, "advancing a fan-out");
    stmt_bind_i64(st, 1, j->upper);
    stmt_bind_i64(st, 2, j->users);
    stmt_bind_i64(st, 3, j->rows->n - j->base);
    stmt_bind_i64(st, 4, j->total);
    stmt_bind_i64(st, 5, j->last);
    stmt_bind_i64(st, 6, j->now);
    stmt_bind_i64(st, 7, j->f->id);
    stmt_bind_i64(st, 8, j->f->cursor);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "advancing a fan-out");
    if (db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "fan-out %lld moved on meanwhile",
                           (long long)j->f->id);
    return SHOP_OK;
}

enum shop_err fanout_step(struct shop *shop, struct fanout *f, int chunk, int64_t lease_ms,
                          struct notify_rows *rows, bool *done, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    int64_t total = f->users_total;
    if (total < 0 &&
        db_scalar_i64_or_fail(db, "SELECT count(*) FROM wishlist WHERE product_id = ?",
                              f->product_id, 0, &total, pb, "counting wishlisters") != SHOP_OK) {
        db_release(db);
        return pb->err;
    }
    /* The chunk ends at the chunk-th wishlister after the cursor, or covers
     * the rest of the range when fewer are left. */
    struct stmt *st = db_prepare(db, "SELECT user_id FROM wishlist WHERE product_id = ?"
                                     " AND user_id > ? ORDER BY user_id LIMIT 1 OFFSET ?");
    if (!st) {
        db_release(db);
        return db_fail(db, pb, "reading wishlisters");
    }
    stmt_bind_i64(st, 1, f->product_id);
    stmt_bind_i64(st, 2, f->cursor);
    stmt_bind_i64(st, 3, chunk - 1);
    struct chunk_job j = {
        .f = f, .total = total, .now = clock_now_ms(), .rows = rows, .base = rows->n};
    j.due = j.now + lease_ms;
    int rc = stmt_step(st);
    if (rc == STMT_ROW) {
        j.upper = stmt_i64(st, 0);
    } else if (rc == STMT_DONE) {
        j.upper = INT64_MAX;
        j.last = true;
    } else { /* not "no more wishlisters": the rest in one chunk and done */
        db_release(db);
        return db_fail(db, pb, "reading wishlisters");
    }
    db_release(db);
    if (store_write(shop->store, chunk_write, &j, pb) != SHOP_OK) {
        rows->n = j.base;
        return pb->err;
    }
    f->cursor = j.upper;
    f->users_total = total;
    f->users_done += j.users;
    *done = j.last;
    return SHOP_OK;
}
