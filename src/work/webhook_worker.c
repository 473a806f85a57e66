/* webhook_worker.c — the webhook sender (webhook_worker.h).
 *
 *   consumer commits ──kick──► I/O thread: claim (one write) ──► curl multi
 *                              ◄── finished transfers ── record (one write)
 */
#include "work/webhook_worker.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/shop.h"
#include "shop/webhook.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "work/leases.h"

struct transfer {
    struct webhook_job job;
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next; /* the worker's list of transfers in flight */
};

struct sub_count {
    int64_t id;
    int n;
};

struct webhook_worker {
    struct shop *shop;
    struct lease *lease;
    CURLM *multi;
    pthread_t thread;
    bool started;
    _Atomic bool stop, kicked;
    int inflight, max_inflight;
    struct sub_count subs[WEBHOOK_SUBS_MAX]; /* in flight per subscription */
    int nsubs;
    CURL **idle;
    int nidle;
    struct transfer *active;  /* in flight, for stop */
    bool more;                /* the last claim filled its room: more may be due */
    struct webhook_job *done; /* answers not recorded yet */
    int ndone, capdone;
    int64_t done_since; /* ms (monotonic) of the oldest unrecorded answer */
    _Atomic uint64_t delivered, failed_attempts, claimed;
};

static bool curl_ready;
static pthread_mutex_t curl_mu = PTHREAD_MUTEX_INITIALIZER;

static int inflight_of(void *cls, int64_t id)
{
    struct webhook_worker *w = cls;
    for (int i = 0; i < w->nsubs; i++)
        if (w->subs[i].id == id)
            return w->subs[i].n;
    return 0;
}

static void count_sub(struct webhook_worker *w, int64_t id, int delta)
{
    for (int i = 0; i < w->nsubs; i++)
        if (w->subs[i].id == id) {
            w->subs[i].n += delta;
            if (w->subs[i].n == 0)
                w->subs[i] = w->subs[--w->nsubs];
            return;
        }
    if (delta > 0 && w->nsubs < WEBHOOK_SUBS_MAX)
        w->subs[w->nsubs++] = (struct sub_count){id, delta};
}

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
    (void)p;
    (void)cls;
    return size * n;
}

static void start(struct webhook_worker *w, struct transfer *t)
{
    CURL *e = w->nidle ? w->idle[--w->nidle] : curl_easy_init();
    if (!e)
        abort();
    curl_easy_reset(e);
    t->easy = e;
    char h[WEBHOOK_SIG_MAX + 32], sig[WEBHOOK_SIG_MAX];
    int64_t ts = clock_now_ms() / 1000;
    if (!webhook_sign(t->job.secret, t->job.previous, t->job.msg_id, ts, t->job.body,
                      t->job.body_len, sig))
        snprintf(sig, sizeof sig, "v1,invalid-secret");
    t->headers = curl_slist_append(NULL, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");
    t->headers = curl_slist_append(t->headers, "User-Agent: shopd-webhooks/1");
    snprintf(h, sizeof h, "webhook-id: %s", t->job.msg_id);
    t->headers = curl_slist_append(t->headers, h);
    snprintf(h, sizeof h, "webhook-timestamp: %lld", (long long)ts);
    t->headers = curl_slist_append(t->headers, h);
    snprintf(h, sizeof h, "webhook-signature: %s", sig);
    t->headers = curl_slist_append(t->headers, h);
    long timeout = (long)w->shop->cfg.webhook_timeout_ms;
    curl_easy_setopt(e, CURLOPT_URL, t->job.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->job.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->job.body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout < 3000 ? timeout : 3000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->errbuf[0] = '\0';
    curl_multi_add_handle(w->multi, e);
    t->next = w->active;
    if (w->active)
        w->active->prev = t;
    w->active = t;
    w->inflight++;
    count_sub(w, t->job.webhook_id, 1);
}

static void claim(struct webhook_worker *w)
{
    const struct shop_config *cfg = &w->shop->cfg;
    int room = w->max_inflight - w->inflight;
    if (room <= 0)
        return;
    struct webhook_job *jobs;
    int n;
    struct problem pb = {0};
    if (webhook_claim(w->shop, room, cfg->webhook_per_sub, cfg->webhook_timeout_ms + 5000,
                      inflight_of, w, &jobs, &n, &pb) != SHOP_OK) {
        log_event(LOG_WARN, "webhook.claim", "{s:s}", "detail", pb.detail);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct transfer *t = xcalloc(1, sizeof *t);
        t->job = jobs[i]; /* takes url and body */
        start(w, t);
    }
    free(jobs);
    w->more = n == room;
    atomic_fetch_add(&w->claimed, (uint64_t)n);
}

/* Collects finished transfers and records them in one write. */
#define RECORD_BATCH   256 /* answers recorded per write, at most… */
#define RECORD_WAIT_MS 5   /* …and recorded at most this late */

/* Records the answers gathered so far in one write. */
static void flush(struct webhook_worker *w)
{
    if (!w->ndone)
        return;
    struct problem pb = {0};
    /* A failed record leaves the rows claimed: they are sent again when
     * the claim runs out (at least once). */
    if (webhook_record(w->shop, w->done, w->ndone, &pb) != SHOP_OK)
        log_event(LOG_WARN, "webhook.record", "{s:s}", "detail", pb.detail);
    for (int i = 0; i < w->ndone; i++) {
        free(w->done[i].url);
        free(w->done[i].body);
    }
    w->ndone = 0;
}

static bool harvest(struct webhook_worker *w)
{
    int n = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode rc = m->data.result;
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(w->multi, t->easy);
        if (rc != CURLE_OK) {
            t->job.http_status = 0;
            snprintf(t->job.error, sizeof t->job.error, "%.190s",
                     t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
        } else {
            t->job.http_status = (int)status;
            if (status < 200 || status > 299)
                snprintf(t->job.error, sizeof t->job.error, "the receiver answered HTTP %ld",
                         status);
        }
        if (t->job.http_status >= 200 && t->job.http_status <= 299)
            atomic_fetch_add(&w->delivered, 1);
        else
            atomic_fetch_add(&w->failed_attempts, 1);
        if (w->ndone == w->capdone) {
            w->capdone = w->capdone ? w->capdone * 2 : 256;
            w->done = xrealloc(w->done, (size_t)w->capdone * sizeof *w->done);
        }
        if (w->ndone == 0)
            w->done_since = clock_mono_ns() / 1000000;
        w->done[w->ndone++] = t->job;
        n++;
        if (t->prev)
            t->prev->next = t->next;
        else
            w->active = t->next;
        if (t->next)
            t->next->prev = t->prev;
        w->inflight--;
        count_sub(w, t->job.webhook_id, -1);
        curl_slist_free_all(t->headers);
        if (w->nidle < w->max_inflight)
            w->idle[w->nidle++] = t->easy;
        else
            curl_easy_cleanup(t->easy);
        free(t);
    }
    if (w->ndone >= RECORD_BATCH || (w->ndone && w->inflight == 0) ||
        (w->ndone && clock_mono_ns() / 1000000 - w->done_since >= RECORD_WAIT_MS))
        flush(w);
    return n > 0;
}

static void *worker_main(void *arg)
{
    struct webhook_worker *w = arg;
    pthread_setname_np(pthread_self(), "webhooks");
    int64_t scan_ms = w->shop->cfg.webhook_scan_ms, next_scan = 0;
    while (!atomic_load(&w->stop)) {
        int64_t now = clock_mono_ns() / 1000000;
        bool kicked = atomic_exchange(&w->kicked, false);
        /* Claim when woken, when the scan is due, or when room came free
         * and the last claim suggested more is waiting. */
        bool room = w->more && w->inflight <= w->max_inflight * 3 / 4;
        if ((kicked || room || now >= next_scan) && lease_held(w->lease)) {
            claim(w);
            next_scan = now + scan_ms;
        } else if (now >= next_scan) {
            next_scan = now + scan_ms;
        }
        int running;
        curl_multi_perform(w->multi, &running);
        if (harvest(w))
            continue; /* slots came free: claim again at once if kicked */
        int wait = (int)(next_scan - clock_mono_ns() / 1000000);
        if (w->ndone && wait > RECORD_WAIT_MS)
            wait = RECORD_WAIT_MS;
        if (wait > 0)
            curl_multi_poll(w->multi, NULL, 0, wait, NULL);
    }
    return NULL;
}

struct webhook_worker *webhook_worker_start(struct shop *shop, struct problem *pb)
{
    pthread_mutex_lock(&curl_mu);
    if (!curl_ready)
        curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    pthread_mutex_unlock(&curl_mu);
    if (!curl_ready) {
        problem_set(pb, SHOP_INTERNAL, "libcurl failed to initialise");
        return NULL;
    }
    struct webhook_worker *w = xcalloc(1, sizeof *w);
    w->shop = shop;
    w->lease = leases_want(shop->leases, "webhooks");
    w->max_inflight = shop->cfg.webhook_inflight;
    w->idle = xcalloc((size_t)w->max_inflight, sizeof *w->idle);
    w->multi = curl_multi_init();
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)w->max_inflight);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->max_inflight);
    atomic_store(&w->kicked, true);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        problem_set(pb, SHOP_INTERNAL, "cannot start the webhook worker");
        webhook_worker_stop(w);
        return NULL;
    }
    w->started = true;
    return w;
}

void webhook_worker_kick(struct webhook_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->kicked, true);
    curl_multi_wakeup(w->multi);
}

void webhook_worker_stop(struct webhook_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    curl_multi_wakeup(w->multi);
    if (w->started)
        pthread_join(w->thread, NULL);
    /* Abandon what is in flight: the claims run out and the rows are sent
     * again (by this process after a restart, or by another). */
    for (struct transfer *t = w->active, *next; t; t = next) {
        next = t->next;
        curl_multi_remove_handle(w->multi, t->easy);
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        free(t->job.url);
        free(t->job.body);
        free(t);
    }
    flush(w);
    free(w->done);
    for (int i = 0; i < w->nidle; i++)
        curl_easy_cleanup(w->idle[i]);
    curl_multi_cleanup(w->multi);
    free(w->idle);
    free(w);
}

void webhook_worker_render_metrics(struct webhook_worker *w, struct buf *out)
{
    if (!w)
        return;
    buf_printf(out,
               "# HELP shopd_webhook_deliveries_total Webhook attempts by outcome.\n"
               "# TYPE shopd_webhook_deliveries_total counter\n"
               "shopd_webhook_deliveries_total{result=\"delivered\"} %llu\n"
               "shopd_webhook_deliveries_total{result=\"failed_attempt\"} %llu\n"
               "# HELP shopd_webhook_claimed_total Deliveries claimed for sending.\n"
               "# TYPE shopd_webhook_claimed_total counter\n"
               "shopd_webhook_claimed_total %llu\n"
               "# HELP shopd_webhook_inflight Webhook requests in flight.\n"
               "# TYPE shopd_webhook_inflight gauge\n"
               "shopd_webhook_inflight %d\n",
               (unsigned long long)atomic_load(&w->delivered),
               (unsigned long long)atomic_load(&w->failed_attempts),
               (unsigned long long)atomic_load(&w->claimed), w->inflight);
}
