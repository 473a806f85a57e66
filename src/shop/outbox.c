#include "shop/outbox.h"

#include <stdlib.h>

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

enum shop_err outbox_emit(struct db *db, const char *topic, int64_t aggregate_id, json_t *payload,
                          struct problem *pb)
{
    char *text = payload ? jx_dump(payload, NULL) : NULL;
    json_decref(payload);
    struct stmt *st = db_prepare(db, "INSERT INTO outbox (topic, aggregate_id, payload, origin,"
                                     " created_at) VALUES (?, ?, ?, ?, ?)");
    if (!st) {
        free(text);
        return db_fail(db, pb, "writing an event");
    }
    stmt_bind_text(st, 1, topic);
    stmt_bind_i64(st, 2, aggregate_id);
    stmt_bind_text(st, 3, text ? text : "{}");
    stmt_bind_i64(st, 4, origin);
    stmt_bind_i64(st, 5, clock_now_ms());
    free(text);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "writing an event");
    emitted++;
    return SHOP_OK;
}
