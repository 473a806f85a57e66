/* order_log.c — an outbox consumer that records every order event once in
 * order_event_log. It proves the dispatcher delivers at least once and that
 * a consumer made idempotent (the event id is the primary key) sees each
 * event exactly once; the API shows the log on GET /v1/admin/orders/{id}/events.
 */
#include "work/order_log.h"

#include "store/store.h"
#include "shop/shop.h"
#include "util/clock.h"

struct log_job {
    const struct outbox_event *ev;
};

static enum shop_err log_write(struct db *db, void *arg, struct problem *pb)
{
    struct log_job *j = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO order_event_log (event_id, order_id, topic,"
                                     " recorded_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
    if (!st)
        return db_fail(db, pb, "recording an order event");
    stmt_bind_i64(st, 1, j->ev->id);
    stmt_bind_i64(st, 2, j->ev->aggregate_id);
    stmt_bind_text(st, 3, j->ev->topic);
    stmt_bind_i64(st, 4, clock_now_ms());
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording an order event");
}

enum shop_err order_log_consume(struct shop *shop, const struct outbox_event *ev, void *cls,
                                struct problem *pb)
{
    (void)cls;
    struct log_job j = {ev};
    return store_write(shop->store, log_write, &j, pb);
}
