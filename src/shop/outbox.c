#include "shop/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"

static int64_t origin;

/* Events written by this thread since outbox_take_emitted last asked: the
 * writer thread runs every write, so after a commit this says whether the
 * commit carried events. */
static _Thread_local int emitted;

int outbox_take_emitted(void)
{
    int n = emitted;
    emitted = 0;
    return n;
}

void outbox_set_origin(int64_t id)
{
    origin = id;
}

int64_t outbox_origin(void)
{
    return origin;
}

/* Every topic an outbox_emit call writes: literal ones, the shipment moves
 * (shipment.c's topics[]), the return moves ("order.return_" + the status
 * it moves to, returns.c) and the checkout's outcomes (checkout_settle.c). */
/* clang-format off */
static const char *const topics[] = {
    "order.placed", "order.confirmed", "order.on_hold", "order.cancelled", "order.refunded",
    "order.shipped", "order.out_for_delivery", "order.delivered", "order.delivery_failed",
    "order.returned_to_sender",
    "order.return_requested", "order.return_approved", "order.return_rejected",
    "order.return_received", "order.return_inspected", "order.return_refunded",
    "order.return_partially_refunded",
    "product.changed", "price.changed", "category.changed", "catalog.reloaded",
    "stock.changed", "stock.low", "stock.back_in_stock",
    "flash_sale.created", "flash_sale.started", "flash_sale.ended",
    "review.changed", "review.approved", "review.rejected",
    "session.revoked",
};
/* clang-format on */

bool outbox_topic_known(const char *topic)
{
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++)
        if (!strcmp(topics[i], topic))
            return true;
    return false;
}

enum shop_err outbox_emit(struct db *db, const char *topic, int64_t aggregate_id, json_t *payload,
                          struct problem *pb)
{
    char *text = payload ? jx_dump(payload, NULL) : NULL;
    json_decref(payload);
    enum shop_err e = outbox_emit_text(db, topic, aggregate_id, text, pb);
    free(text);
    return e;
}

enum shop_err outbox_emit_text(struct db *db, const char *topic, int64_t aggregate_id,
                               const char *payload, struct problem *pb)
{
    /* Appended at commit (store.h): nothing reads an event back in the
     * write that emits it. */
    static struct db_append_kind event = {
        "outbox (topic, aggregate_id, payload, origin, created_at)", 5, {NULL}};
    struct db_value row[] = {DB_TEXT(topic), DB_I64(aggregate_id), DB_TEXT(payload ? payload : "{}"),
                             DB_I64(origin), DB_I64(clock_now_ms())};
    if (db_append(db, &event, row, pb) != SHOP_OK)
        return pb->err;
    emitted++;
    return SHOP_OK;
}

int outbox_pos_cmp(struct outbox_pos a, struct outbox_pos b)
{
    if (a.txid != b.txid)
        return a.txid < b.txid ? -1 : 1;
    return (a.id > b.id) - (a.id < b.id);
}

int64_t outbox_newest(struct db *db, int64_t dflt)
{
    struct stmt *st = db_prepare(db, "SELECT coalesce(max(id), 0) FROM outbox");
    return st && stmt_step(st) == STMT_ROW ? stmt_i64(st, 0) : dflt;
}

struct stmt *outbox_after(struct db *db, struct outbox_pos from, int limit, int64_t skip_origin)
{
    /* Two ranges of the (txid, id) index rather than "(txid, id) > (?, ?)":
     * SQLite seeks such a row value on its first column only, and there
     * every txid is 0 — each read walked the whole outbox. */
    struct stmt *st = db_prepare(
        db, "SELECT * FROM (SELECT txid, id, topic, aggregate_id, payload, created_at FROM outbox"
            " WHERE txid = ?1 AND id > ?2 AND origin <> ?4"
            " AND txid < (SELECT txid FROM outbox_horizon) ORDER BY txid, id LIMIT ?3) AS this_tx"
            " UNION ALL"
            " SELECT * FROM (SELECT txid, id, topic, aggregate_id, payload, created_at FROM outbox"
            " WHERE txid > ?1 AND origin <> ?4"
            " AND txid < (SELECT txid FROM outbox_horizon) ORDER BY txid, id LIMIT ?3) AS later_tx"
            " ORDER BY 1, 2 LIMIT ?3");
    if (!st)
        return NULL;
    stmt_bind_i64(st, 1, from.txid);
    stmt_bind_i64(st, 2, from.id);
    stmt_bind_i64(st, 3, limit);
    stmt_bind_i64(st, 4, skip_origin);
    return st;
}

static struct outbox_pos last_row(struct db *db, const char *sql, struct outbox_pos dflt)
{
    struct stmt *st = db_prepare(db, sql);
    if (!st || stmt_step(st) != STMT_ROW)
        return dflt;
    return (struct outbox_pos){stmt_i64(st, 0), stmt_i64(st, 1)};
}

struct outbox_pos outbox_final(struct db *db, struct outbox_pos dflt)
{
    return last_row(db,
                    "SELECT txid, id FROM outbox WHERE txid < (SELECT txid FROM outbox_horizon)"
                    " ORDER BY txid DESC, id DESC LIMIT 1",
                    dflt);
}

struct outbox_pos outbox_last(struct db *db, struct outbox_pos dflt)
{
    return last_row(db, "SELECT txid, id FROM outbox ORDER BY txid DESC, id DESC LIMIT 1", dflt);
}

bool outbox_event_at(struct db *db, struct outbox_pos at, char *topic, size_t cap,
                     int64_t *aggregate, int64_t *created_at)
{
    struct stmt *st = db_prepare(db, "SELECT topic, coalesce(aggregate_id, 0), created_at"
                                     " FROM outbox WHERE txid = ? AND id = ?");
    if (!st)
        return false;
    stmt_bind_i64(st, 1, at.txid);
    stmt_bind_i64(st, 2, at.id);
    if (stmt_step(st) != STMT_ROW) {
        db_release(db);
        return false;
    }
    snprintf(topic, cap, "%s", stmt_text(st, 0));
    *aggregate = stmt_i64(st, 1);
    *created_at = stmt_i64(st, 2);
    db_release(db);
    return true;
}

struct purge_job {
    struct outbox_pos handled;
    int64_t before, deleted;
};

/* One chunk: the OUTBOX_PURGE_CHUNK oldest events go when the newest of
 * them is old enough and handled. Finding that one walks the chunk's rows of
 * the (txid, id) index and no more, however long the table. */
static enum shop_err purge_write(struct db *db, void *arg, struct problem *pb)
{
    struct purge_job *j = arg;
    j->deleted = 0;
    int64_t oldest = db_scalar_i64(db, "SELECT coalesce(min(txid), 0) + ? FROM outbox", 0, 0);
    struct stmt *st = db_prepare(db, "SELECT txid, id, created_at FROM outbox WHERE txid >= ?"
                                     " ORDER BY txid, id LIMIT 1 OFFSET ?");
    if (!st)
        return db_fail(db, pb, "purging events");
    stmt_bind_i64(st, 1, oldest);
    stmt_bind_i64(st, 2, OUTBOX_PURGE_CHUNK - 1);
    if (stmt_step(st) != STMT_ROW)
        return SHOP_OK; /* fewer than a chunk: not worth a write */
    struct outbox_pos upto = {stmt_i64(st, 0), stmt_i64(st, 1)};
    int64_t at = stmt_i64(st, 2);
    if (outbox_pos_cmp(upto, j->handled) > 0 || at >= j->before)
        return SHOP_OK;
    /* Not "(txid, id) <= (?, ?)": SQLite would walk the table for it. */
    st = db_prepare(db, "DELETE FROM outbox WHERE txid < ?1 OR (txid = ?1 AND id <= ?2)");
    if (!st)
        return db_fail(db, pb, "purging events");
    stmt_bind_i64(st, 1, upto.txid);
    stmt_bind_i64(st, 2, upto.id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "purging events");
    j->deleted = db_changes(db);
    return SHOP_OK;
}

enum shop_err outbox_purge(struct shop *shop, struct outbox_pos handled, int max_chunks,
                           int64_t *deleted, struct problem *pb)
{
    *deleted = 0;
    for (int i = 0; i < max_chunks; i++) {
        struct purge_job j = {.handled = handled,
                              .before = clock_now_ms() - shop->cfg.outbox_keep_ms};
        enum shop_err e = store_write(shop->store, purge_write, &j, pb);
        if (e != SHOP_OK)
            return e;
        *deleted += j.deleted;
        if (j.deleted < OUTBOX_PURGE_CHUNK)
            break;
    }
    return SHOP_OK;
}
