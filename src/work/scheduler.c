#include "work/scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "shop/flashsale.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "work/leases.h"

struct scheduler {
    struct shop *shop;
    pthread_t thread;
    atomic_bool stop;
    struct lease *lease; /* the shop's one clock: one process at a time */
};

static void *main_loop(void *arg)
{
    pthread_setname_np(pthread_self(), "scheduler");
    struct scheduler *s = arg;
    while (!atomic_load(&s->stop)) {
        struct problem pb = {0};
        if (lease_held(s->lease) && flashsale_tick(s->shop, &pb) != SHOP_OK)
            log_event(LOG_WARN, "scheduler.tick", "{s:s}", "detail", pb.detail);
        problem_clear(&pb);
        clock_sleep_ms(s->shop->cfg.flash_tick_ms);
    }
    return NULL;
}

struct scheduler *scheduler_start(struct shop *shop, struct problem *pb)
{
    struct scheduler *s = xcalloc(1, sizeof *s);
    s->shop = shop;
    s->lease = leases_want(shop->leases, "scheduler");
    if (pthread_create(&s->thread, NULL, main_loop, s) != 0) {
        free(s);
        problem_set(pb, SHOP_INTERNAL, "cannot start the scheduler");
        return NULL;
    }
    return s;
}

void scheduler_stop(struct scheduler *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    free(s);
}
