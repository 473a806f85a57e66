#include "work/carrier_sim_worker.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext/carrier.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "work/leases.h"

struct carrier_worker {
    struct shop *shop;
    pthread_t thread;
    atomic_bool stop;
    struct lease *lease;
    CURL *curl;
    char url[512];
};

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
    (void)p;
    (void)cls;
    return size * n;
}

/* Posts one step; 0 when the shop took it (2xx), or never will (a 4xx
 * other than 404: a bad or illegal event); a 404 (the shop has not yet
 * recorded the tracking number) or no answer is tried again. */
static int post(const char *tracking, const char *status, const char *detail, int64_t at,
                void *cls)
{
    struct carrier_worker *w = cls;
    char ts[RFC3339_LEN];
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "tracking_number", tracking, "status", status,
                          "detail", detail, "at", clock_fmt(at, ts));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        return 1;
    char sig[65], header[100];
    carrier_sign(w->shop->cfg.carrier_secret, body, strlen(body), sig);
    snprintf(header, sizeof header, "Carrier-Signature: %s", sig);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, header);
    curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    CURLcode rc = curl_easy_perform(w->curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    free(body);
    if (code < 200 || code >= 500 || code == 404) {
        log_event(LOG_WARN, "carrier_sim.callback", "{s:s, s:s, s:i}", "tracking", tracking,
                  "status", status, "code", (int)code);
        return 1;
    }
    return 0;
}

static void *main_loop(void *arg)
{
    pthread_setname_np(pthread_self(), "carrier-sim");
    struct carrier_worker *w = arg;
    int64_t tick = w->shop->cfg.carrier_step_ms / 4;
    tick = tick < 20 ? 20 : tick > 1000 ? 1000 : tick;
    while (!atomic_load(&w->stop)) {
        if (lease_held(w->lease))
            carrier_sim_advance(w->shop->carrier, clock_now_ms(), post, w);
        clock_sleep_ms(tick);
    }
    return NULL;
}

struct carrier_worker *carrier_worker_start(struct shop *shop, const char *callback_url,
                                            struct problem *pb)
{
    struct carrier_worker *w = xcalloc(1, sizeof *w);
    w->shop = shop;
    snprintf(w->url, sizeof w->url, "%s", callback_url);
    w->curl = curl_easy_init();
    w->lease = leases_want(shop->leases, "carrier-sim");
    if (!w->curl || pthread_create(&w->thread, NULL, main_loop, w) != 0) {
        if (w->curl)
            curl_easy_cleanup(w->curl);
        free(w);
        problem_set(pb, SHOP_INTERNAL, "cannot start the simulated carrier");
        return NULL;
    }
    return w;
}

void carrier_worker_stop(struct carrier_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    curl_easy_cleanup(w->curl);
    free(w);
}
