/* notify_worker.c — the notification engine's lifecycle: providers opened,
 * the pump and the senders started and stopped, and the engine's metrics.
 * The design is in notify_worker.h; the pump is notify_pump.c and the
 * senders notify_send.c.
 */
#include "work/notify_worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shop/shop.h"
#include "store/store.h"
#include "util/xalloc.h"
#include "work/leases.h"
#include "work/notify_engine.h"

_Static_assert(NOTIFY_CHANNELS == 3, "config.h keeps one provider name per channel");

/* ---- priority -------------------------------------------------------------------- */

void notify_background_priority(int nice)
{
    if (nice > 0)
        setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static struct notify_provider *provider_open(const struct shop_config *cfg, enum notify_channel ch,
                                             struct problem *pb)
{
    const char *kind = cfg->notify_provider[ch];
    char err[256] = "";
    struct notify_provider *p = NULL;
    if (!strcmp(kind, "off"))
        return NULL;
    if (!strcmp(kind, "file")) {
        /* Enough tail to cover every line that can be handed over but not
         * yet recorded: one batch per sender, generous lines. */
        size_t dedup = (size_t)cfg->notify_senders * (size_t)cfg->notify_batch * 8192;
        p = notify_file_new(cfg->notify_dir, ch, dedup, err, sizeof err);
    } else if (!strcmp(kind, "webhook")) {
        struct notify_webhook_opts o = {.url = cfg->notify_webhook_url,
                                        .connections = cfg->notify_webhook_conns,
                                        .per_request = cfg->notify_webhook_batch,
                                        .timeout_ms = cfg->notify_webhook_timeout_ms};
        p = notify_webhook_new(&o, ch, err, sizeof err);
    } else if (!strcmp(kind, "smtp") && ch == NOTIFY_EMAIL) {
        struct notify_smtp_opts o = {.url = cfg->smtp_url,
                                     .from = cfg->smtp_from,
                                     .user = cfg->smtp_user,
                                     .password = cfg->smtp_password,
                                     .unsubscribe = cfg->smtp_unsubscribe,
                                     .connections = cfg->smtp_conns,
                                     .timeout_ms = cfg->smtp_timeout_ms,
                                     .tls = cfg->smtp_tls,
                                     .ca_file = cfg->smtp_ca_file};
        p = notify_smtp_new(&o, ch, err, sizeof err);
    } else {
        snprintf(err, sizeof err, "unknown provider '%s' (file, webhook, smtp for email, or off)",
                 kind);
    }
    if (!p)
        problem_set(pb, SHOP_INVALID, "notification provider for %s: %s", notify_channel_name(ch),
                    err);
    return p;
}

struct notify_engine *notify_engine_start(struct shop *shop, struct problem *pb)
{
    struct notify_engine *e = xcalloc(1, sizeof *e);
    e->shop = shop;
    e->cfg = &shop->cfg;
    /* Room for at least two chunks' rows: one being sent while the next
     * is created. */
    e->inflight_max = shop->cfg.notify_inflight;
    if (e->inflight_max < 2 * shop->cfg.fanout_chunk * NOTIFY_CHANNELS)
        e->inflight_max = 2 * shop->cfg.fanout_chunk * NOTIFY_CHANNELS;
    e->recovering = true;
    e->lease = leases_want(shop->leases, "notify");
    e->ring_cap = e->inflight_max;
    e->ring = xmalloc((size_t)e->ring_cap * sizeof *e->ring);
    inflight_init(&e->inflight, (size_t)e->inflight_max);
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->rate_mu, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->pump_cv, NULL);
    for (int c = 0; c < NOTIFY_CHANNELS; c++) {
        e->providers[c] = provider_open(e->cfg, (enum notify_channel)c, pb);
        if (pb->err)
            goto fail;
    }
    e->senders = xcalloc((size_t)e->cfg->notify_senders, sizeof *e->senders);
    for (int i = 0; i < e->cfg->notify_senders; i++) {
        struct notify_sender *s = notify_sender_new(e);
        if (pthread_create(&e->senders[i], NULL, notify_sender_main, s) != 0) {
            free(s);
            problem_set(pb, SHOP_INTERNAL, "cannot start a notification sender");
            goto fail;
        }
        e->nsenders++;
    }
    if (pthread_create(&e->pump, NULL, notify_pump_main, e) != 0) {
        problem_set(pb, SHOP_INTERNAL, "cannot start the notification pump");
        goto fail;
    }
    e->pump_started = true;
    return e;
fail:
    notify_engine_stop(e);
    return NULL;
}

void notify_engine_stop(struct notify_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->work_cv);
    pthread_cond_broadcast(&e->pump_cv);
    pthread_mutex_unlock(&e->mu);
    if (e->pump_started)
        pthread_join(e->pump, NULL);
    for (int i = 0; i < e->nsenders; i++)
        pthread_join(e->senders[i], NULL);
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        if (e->providers[c])
            e->providers[c]->destroy(e->providers[c]);
    pthread_cond_destroy(&e->pump_cv);
    pthread_cond_destroy(&e->work_cv);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->rate_mu);
    free(e->senders);
    inflight_free(&e->inflight);
    free(e->ring);
    free(e);
}

void notify_engine_kick(struct notify_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->kicked = true;
    pthread_cond_signal(&e->pump_cv);
    pthread_mutex_unlock(&e->mu);
}

void notify_engine_render_metrics(struct notify_engine *e, struct buf *out)
{
    pthread_mutex_lock(&e->mu);
    int inflight = (int)e->inflight.n, queued_now = e->ring_len;
    pthread_mutex_unlock(&e->mu);
    buf_printf(out,
               "# HELP shopd_notify_queued_total Notifications handed to the senders.\n"
               "# TYPE shopd_notify_queued_total counter\n"
               "shopd_notify_queued_total %llu\n"
               "# HELP shopd_notify_sent_total Notifications accepted by a provider.\n"
               "# TYPE shopd_notify_sent_total counter\n",
               (unsigned long long)atomic_load(&e->queued));
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        buf_printf(out, "shopd_notify_sent_total{channel=\"%s\"} %llu\n",
                   notify_channel_name((enum notify_channel)c),
                   (unsigned long long)atomic_load(&e->sent[c]));
    buf_printf(out,
               "# HELP shopd_notify_failed_total Failed attempts that will be retried.\n"
               "# TYPE shopd_notify_failed_total counter\n"
               "shopd_notify_failed_total %llu\n"
               "# HELP shopd_notify_dead_total Notifications given up on (dead letters).\n"
               "# TYPE shopd_notify_dead_total counter\n"
               "shopd_notify_dead_total %llu\n"
               "# HELP shopd_notify_skipped_total Notifications without an address or opted out.\n"
               "# TYPE shopd_notify_skipped_total counter\n"
               "shopd_notify_skipped_total %llu\n"
               "# HELP shopd_notify_inflight Notifications queued or being sent.\n"
               "# TYPE shopd_notify_inflight gauge\n"
               "shopd_notify_inflight %d\n"
               "# HELP shopd_notify_queue_depth Notifications waiting for a sender.\n"
               "# TYPE shopd_notify_queue_depth gauge\n"
               "shopd_notify_queue_depth %d\n"
               "# HELP shopd_notify_fanout_rows_total Notification rows created by fan-outs.\n"
               "# TYPE shopd_notify_fanout_rows_total counter\n"
               "shopd_notify_fanout_rows_total %llu\n"
               "# HELP shopd_notify_fanout_scanned_total Wishlisters scanned by fan-outs.\n"
               "# TYPE shopd_notify_fanout_scanned_total counter\n"
               "shopd_notify_fanout_scanned_total %llu\n",
               (unsigned long long)atomic_load(&e->retried),
               (unsigned long long)atomic_load(&e->dead),
               (unsigned long long)atomic_load(&e->skipped), inflight, queued_now,
               (unsigned long long)atomic_load(&e->fanout_rows),
               (unsigned long long)atomic_load(&e->fanout_users));
    struct db *db = store_db(e->shop->store);
    struct stmt *st = db_prepare(db, "SELECT id, users_done, users_total FROM notify_fanouts"
                                     " WHERE state = 'running' ORDER BY id LIMIT 20");
    buf_puts(out, "# HELP shopd_notify_fanout_users_done Wishlisters reached, by running fan-out.\n"
                  "# TYPE shopd_notify_fanout_users_done gauge\n");
    struct {
        long long id, done, total;
    } run[20];
    int nrun = 0;
    while (st && nrun < 20 && stmt_step(st) == STMT_ROW) {
        run[nrun].id = stmt_i64(st, 0);
        run[nrun].done = stmt_i64(st, 1);
        run[nrun].total = stmt_i64(st, 2);
        nrun++;
    }
    db_release(db);
    for (int i = 0; i < nrun; i++)
        buf_printf(out, "shopd_notify_fanout_users_done{fanout=\"%lld\"} %lld\n", run[i].id,
                   run[i].done);
    buf_puts(out, "# HELP shopd_notify_fanout_users_total Wishlisters to reach, by running"
                  " fan-out.\n# TYPE shopd_notify_fanout_users_total gauge\n");
    for (int i = 0; i < nrun; i++)
        buf_printf(out, "shopd_notify_fanout_users_total{fanout=\"%lld\"} %lld\n", run[i].id,
                   run[i].total);
}
