#include "work/housekeeping.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "recs/recs.h"
#include "shop/account.h"
#include "shop/cart.h"
#include "shop/checkout.h"
#include "shop/order.h"
#include "shop/notify.h"
#include "shop/outbox.h"
#include "shop/shipment.h"
#include "shop/shop.h"
#include "work/dispatcher.h"
#include "work/leases.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define PURGE_EVERY_MS 60000

struct housekeeping {
    struct shop *shop;
    pthread_t thread;
    atomic_bool stop;
    struct lease *lease; /* runs in one process of the shop at a time */
};

static void settle(struct shop *shop)
{
    struct problem pb = {0};
    int settled = 0, sent = 0;
    if (checkout_reconcile(shop, &settled, &pb) != SHOP_OK)
        log_event(LOG_WARN, "housekeeping.reconcile", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    if (order_refunds_retry(shop, &sent, &pb) != SHOP_OK)
        log_event(LOG_WARN, "housekeeping.refunds", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
    fulfil_labels_retry(shop);
}

static void purge(struct shop *shop)
{
    struct problem pb = {0};
    int64_t carts = 0, keys = 0, sessions = 0, events = 0, behaviour = 0;
    cart_purge(shop, &carts, &pb);
    problem_clear(&pb);
    checkout_purge_keys(shop, &keys, &pb);
    problem_clear(&pb);
    account_purge(shop, &sessions, &pb);
    problem_clear(&pb);
    /* Events this binary's consumers have all handled (a consumer dropped
     * from the code leaves its stored position behind; it holds nothing up).
     * Up to 500,000 a minute, more than a busy shop writes on average, in
     * writes short enough not to hold up checkouts. */
    if (shop->dispatcher) {
        outbox_purge(shop, dispatcher_handled(shop->dispatcher), 100, &events, &pb);
        problem_clear(&pb);
    }
    /* Behaviour older than the history recommendations read at start: no
     * model uses it. Up to 1,000,000 rows a minute (200 writes of 5,000),
     * above what a busy shop records on average, so the table
     * stays at about SHOPD_RECS_HISTORY_DAYS of events. */
    recs_purge(shop->store, clock_now_ms() - shop->cfg.recs_history_days * 86400000LL, 200,
               &behaviour, &pb);
    problem_clear(&pb);
    if (carts || keys || sessions || events || behaviour)
        log_event(LOG_INFO, "housekeeping.purged", "{s:I, s:I, s:I, s:I, s:I}", "carts",
                  (json_int_t)carts, "idempotency_keys", (json_int_t)keys, "sessions",
                  (json_int_t)sessions, "events", (json_int_t)events, "behaviour_events",
                  (json_int_t)behaviour);
}

void housekeeping_run_once(struct shop *shop)
{
    settle(shop);
    purge(shop);
}

static void *main_loop(void *arg)
{
    pthread_setname_np(pthread_self(), "housekeeping");
    struct housekeeping *h = arg;
    int64_t last_purge = 0, last_cards = 0;
    while (!atomic_load(&h->stop)) {
        if (lease_held(h->lease)) {
            settle(h->shop);
            int64_t now = clock_now_ms();
            if (now - last_cards >= h->shop->cfg.card_expiry_scan_ms) {
                notify_cards_expiring(h->shop);
                last_cards = now;
            }
            if (now - last_purge >= PURGE_EVERY_MS) {
                purge(h->shop);
                last_purge = now;
            }
        }
        for (int64_t slept = 0; slept < h->shop->cfg.housekeeping_ms && !atomic_load(&h->stop);
             slept += 10)
            clock_sleep_ms(10);
    }
    return NULL;
}

struct housekeeping *housekeeping_start(struct shop *shop, struct problem *pb)
{
    struct housekeeping *h = xcalloc(1, sizeof *h);
    h->shop = shop;
    h->lease = leases_want(shop->leases, "housekeeping");
    if (pthread_create(&h->thread, NULL, main_loop, h) != 0) {
        free(h);
        problem_set(pb, SHOP_INTERNAL, "cannot start housekeeping");
        return NULL;
    }
    return h;
}

void housekeeping_stop(struct housekeeping *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    free(h);
}
