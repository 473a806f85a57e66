#include "work/changefeed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shop/changes.h"
#include "shop/outbox.h"
#include "shop/session_cache.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define BATCH 2000
#define STOP_CATCH_UP_MS 2000

struct changefeed {
    struct shop *shop;
    pthread_t thread;
    atomic_bool stop;
    struct outbox_pos pos;    /* every event up to here has been looked at */
    _Atomic int64_t position; /* pos.id, for the lag figure */
};

/* Applies one batch of other processes' events; returns how many were read. */
static int poll_once(struct changefeed *cf)
{
    struct shop *shop = cf->shop;
    struct db *db = store_db(shop->store);
    /* The position moves past this process's own events too, or every poll
     * would walk all of them again (a single process has nothing else). It
     * moves only to the last final event in this snapshot (shop/outbox.h):
     * none can appear before that later. */
    db_read_begin(db);
    struct outbox_pos final = outbox_final(db, cf->pos);
    struct stmt *st = outbox_after(db, cf->pos, BATCH, outbox_origin());
    if (!st) {
        db_read_end(db);
        return 0;
    }
    int64_t products[BATCH];
    int nproducts = 0, read = 0, rc;
    bool categories = false, reload = false;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        read++;
        cf->pos = (struct outbox_pos){stmt_i64(st, 0), stmt_i64(st, 1)};
        const char *topic = stmt_text(st, 2);
        if (!strcmp(topic, "product.changed") || !strcmp(topic, "stock.changed") ||
            !strcmp(topic, "price.changed") || !strcmp(topic, "rating.changed") ||
            !strcmp(topic, "review.changed"))
            products[nproducts++] = stmt_i64(st, 3);
        else if (!strcmp(topic, "category.changed"))
            categories = true;
        else if (!strcmp(topic, "catalog.reloaded"))
            reload = true;
        else if (!strcmp(topic, "session.revoked"))
            session_cache_revoke(shop->sessions, stmt_i64(st, 3));
    }
    /* Only a read that reached its end shows the rest of the range was this
     * process's: after a failed one, the next poll reads on from the last
     * event read (jumping to `final` would skip the others' events). */
    if (rc == STMT_DONE && read < BATCH && outbox_pos_cmp(final, cf->pos) > 0)
        cf->pos = final;
    if (rc != STMT_DONE)
        log_event(LOG_WARN, "changefeed.read_failed", "{s:I}", "after", (json_int_t)cf->pos.id);
    atomic_store(&cf->position, cf->pos.id);
    db_read_end(db);
    if (reload) {
        shop_catalog_reloaded(shop);
        return read;
    }
    if (categories)
        shop_categories_changed(shop);
    for (int i = 0; i < nproducts; i++) {
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = products[k] == products[i];
        if (!seen)
            shop_product_changed(shop, products[i]);
    }
    return read;
}

static void *feed_main(void *arg)
{
    pthread_setname_np(pthread_self(), "changefeed");
    struct changefeed *cf = arg;
    while (!atomic_load(&cf->stop)) {
        int read = poll_once(cf);
        shop_flush_stock_moves(cf->shop);
        if (read < BATCH)
            clock_sleep_ms(CHANGEFEED_PERIOD_MS);
    }
    return NULL;
}

struct changefeed *changefeed_start(struct shop *shop, struct problem *pb)
{
    struct changefeed *cf = xcalloc(1, sizeof *cf);
    cf->shop = shop;
    /* Everything final before the views were built is in them. */
    cf->pos = shop->views_from;
    atomic_store(&cf->position, cf->pos.id);
    if (pthread_create(&cf->thread, NULL, feed_main, cf) != 0) {
        free(cf);
        problem_set(pb, SHOP_INTERNAL, "cannot start the change feed");
        return NULL;
    }
    return cf;
}

void changefeed_render_metrics(struct changefeed *cf, struct buf *out)
{
    struct db *db = store_db(cf->shop->store);
    int64_t newest = outbox_newest(db, 0);
    db_release(db);
    buf_printf(out,
               "# HELP shopd_changefeed_lag Outbox events the change feed has not looked at yet.\n"
               "# TYPE shopd_changefeed_lag gauge\nshopd_changefeed_lag %lld\n",
               (long long)(newest - atomic_load(&cf->position)));
}

/* Reads on until it has looked at every event committed so far, waiting up
 * to STOP_CATCH_UP_MS for those not final yet: on PostgreSQL a transaction
 * open in the shop's database holds them back (shop/outbox.h). */
static void catch_up(struct changefeed *cf)
{
    int64_t deadline = clock_mono_ns() + STOP_CATCH_UP_MS * 1000000LL;
    for (;;) {
        if (poll_once(cf) == BATCH)
            continue;
        struct db *db = store_db(cf->shop->store);
        struct outbox_pos last = outbox_last(db, cf->pos);
        db_release(db);
        if (outbox_pos_cmp(cf->pos, last) >= 0 || clock_mono_ns() > deadline)
            return;
        clock_sleep_ms(10);
    }
}

void changefeed_stop(struct changefeed *cf)
{
    if (!cf)
        return;
    atomic_store(&cf->stop, true);
    pthread_join(cf->thread, NULL);
    catch_up(cf);
    /* Everything up to here has been applied, so the views' position (which
     * stamps the search snapshot) holds every change acknowledged before the
     * stop. */
    cf->shop->views_at = cf->pos;
    cf->shop->views_at_known = true;
    free(cf);
}
