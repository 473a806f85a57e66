/* notify_engine.h — what the notification engine's parts share (internal to
 * src/work): the engine's state, and the two thread bodies. The design is in
 * notify_worker.h; the pump is notify_pump.c, the senders notify_send.c, and
 * start, stop and metrics notify_worker.c.
 */
#ifndef SHOP_WORK_NOTIFY_ENGINE_H
#define SHOP_WORK_NOTIFY_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ext/notify_provider.h"
#include "shop/config.h"
#include "shop/notify.h"
#include "work/fanout.h"
#include "work/inflight.h"

struct shop;
struct lease;

struct notify_engine {
    struct shop *shop;
    const struct shop_config *cfg;
    struct notify_provider *providers[NOTIFY_CHANNELS];

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* senders: rows queued, or stop */
    pthread_cond_t pump_cv; /* pump: kicked, room freed, or stop */
    struct notify_row *ring;
    int ring_cap, ring_head, ring_len;
    struct inflight inflight;
    int inflight_max;
    bool kicked, stop;
    bool recovering; /* until the first complete due scan (scan_due) */
    /* The pump runs in one process of the shop at a time (work/leases.h);
     * the senders everywhere, but only what their own pump hands them. */
    struct lease *lease;

    pthread_t pump;
    pthread_t *senders;
    int nsenders;
    bool pump_started;

    pthread_mutex_t rate_mu;
    int64_t rate_tat[NOTIFY_CHANNELS]; /* when the channel's next hand-over may start, ns */

    _Atomic uint64_t queued, sent[NOTIFY_CHANNELS], retried, dead, skipped, fanout_users,
        fanout_rows;
};

/* The engine's threads yield the CPU to the request threads: a fan-out of
 * half a million takes a little longer on a busy box, the shop does not. */
void notify_background_priority(int nice);

/** The pump thread (notify_pump.c): due scans and fan-out chunks. */
void *notify_pump_main(void *engine);

/** A sender thread (notify_send.c); `sender` from notify_sender_new. */
void *notify_sender_main(void *sender);
struct notify_sender *notify_sender_new(struct notify_engine *e);

#endif
