/* recs_feed.c — see recs_feed.h. */
#include "work/recs_feed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

#include "recs/recs.h"
#include "shop/shop.h"
#include "shop/views.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

struct recs_feed {
    struct shop *shop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kicked;
};

static void feed_once(struct recs_feed *f)
{
    struct shop *shop = f->shop;
    struct problem pb = {0};
    int written;
    if (recs_flush(shop->recs, shop->store, &written, &pb) != SHOP_OK)
        log_event(LOG_WARN, "recs.flush_failed", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    struct db *db = store_db(shop->store);
    if (recs_poll(shop->recs, db) < 0)
        log_event(LOG_WARN, "recs.poll_failed", "{}");
    db_release(db);
}

/* The model of a serving process, built here once it answers requests
 * (shop/views.c says why). A build that fails is not tried again: the
 * events it may have applied would count twice; the recommendations stay
 * unavailable (503) and the error is logged for the operator. */
static bool build_model(struct shop *shop)
{
    if (recs_ready(shop->recs))
        return true;
    struct problem pb = {0};
    bool ok = shop_views_load_recs(shop, &pb) == SHOP_OK;
    if (!ok)
        log_event(LOG_ERROR, "recs.build_failed", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    return ok;
}

static void *feed_main(void *arg)
{
    struct recs_feed *f = arg;
    pthread_setname_np(pthread_self(), "recs-feed");
    if (!build_model(f->shop))
        return NULL;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (!f->kicked) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += RECS_FEED_PERIOD_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        }
        f->kicked = false;
        pthread_mutex_unlock(&f->mu);
        feed_once(f);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    feed_once(f); /* what was buffered until the end */
    return NULL;
}

struct recs_feed *recs_feed_start(struct shop *shop, struct problem *pb)
{
    struct recs_feed *f = xcalloc(1, sizeof *f);
    f->shop = shop;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f);
        problem_set(pb, SHOP_INTERNAL, "cannot start the recommendations feed");
        return NULL;
    }
    return f;
}

void recs_feed_kick(struct recs_feed *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->kicked = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void recs_feed_stop(struct recs_feed *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

/* Straight in the dispatcher's write (not nested in a savepoint of its
 * own, which was two more statements per order), 16 orders to a statement:
 * if it fails, the slice fails with it and is retried. */
enum shop_err recs_on_order_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                                  void *cls, struct problem *pb)
{
    (void)cls;
    struct recs_purchase p[DISPATCH_SLICE];
    int k = 0;
    for (int i = 0; i < n && k < DISPATCH_SLICE; i++) {
        if (strcmp(evs[i]->topic, "order.confirmed"))
            continue;
        json_t *o = json_loads(evs[i]->payload, 0, NULL);
        json_int_t user_id = o ? json_integer_value(json_object_get(o, "user_id")) : 0;
        json_decref(o);
        if (user_id > 0)
            p[k++] = (struct recs_purchase){evs[i]->aggregate_id, user_id, evs[i]->created_at};
    }
    return k ? recs_purchases_write(store_db(shop->store), p, k, pb) : SHOP_OK;
}

void recs_purchases_committed(struct shop *shop, void *cls)
{
    (void)cls;
    recs_feed_kick(shop->recs_feed);
}
