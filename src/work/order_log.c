/* order_log.c — an outbox consumer that records every order event once in
 * order_event_log. It proves the dispatcher delivers at least once and that
 * a consumer made idempotent (the event id is the primary key) sees each
 * event exactly once; the API shows the log on GET /v1/admin/orders/{id}/events.
 *
 * A slice of events is recorded in few statements (16 rows each, then 4,
 * then 1: three statement texts in the cache), in the dispatcher's write: an
 * order writes two or three order events, and a statement each (with a
 * savepoint around it) was six of an order's statements.
 */
#include "work/order_log.h"

#include "store/store.h"
#include "shop/shop.h"
#include "util/clock.h"

#define ROW    "(?, ?, ?, ?)"
#define ROWS4  ROW ", " ROW ", " ROW ", " ROW
#define ROWS16 ROWS4 ", " ROWS4 ", " ROWS4 ", " ROWS4

static bool record(struct db *db, const struct outbox_event *const *evs, int n, int64_t now)
{
#define INSERT "INSERT INTO order_event_log (event_id, order_id, topic, recorded_at) VALUES "
    struct stmt *st = db_prepare(db, n == 16  ? INSERT ROWS16 " ON CONFLICT DO NOTHING"
                                     : n == 4 ? INSERT ROWS4 " ON CONFLICT DO NOTHING"
                                              : INSERT ROW " ON CONFLICT DO NOTHING");
#undef INSERT
    if (!st)
        return false;
    for (int i = 0; i < n; i++) {
        stmt_bind_i64(st, 4 * i + 1, evs[i]->id);
        stmt_bind_i64(st, 4 * i + 2, evs[i]->aggregate_id);
        stmt_bind_text(st, 4 * i + 3, evs[i]->topic);
        stmt_bind_i64(st, 4 * i + 4, now);
    }
    return stmt_step(st) == STMT_DONE;
}

enum shop_err order_log_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                              void *cls, struct problem *pb)
{
    (void)cls;
    struct db *db = store_db(shop->store);
    int64_t now = clock_now_ms();
    for (int at = 0; at < n;) {
        int k = n - at >= 16 ? 16 : n - at >= 4 ? 4 : 1;
        if (!record(db, evs + at, k, now))
            return db_fail(db, pb, "recording order events");
        at += k;
    }
    return SHOP_OK;
}
