/* notify_webhook.c — the HTTP webhook provider (notify_provider.h).
 *
 * One I/O thread per provider drives a libcurl multi handle with at most
 * `connections` transfers at once; the multi handle's connection cache keeps
 * them alive between requests. send_batch() splits its items into requests
 * of `per_request`, queues them for the I/O thread and waits until each has
 * an answer, so several sender threads share the same connections.
 *
 *   sender: send_batch ──queue──► I/O thread: curl_multi (N connections)
 *           waits on done_cv ◄─── finished transfer: results, pending − 1
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext/notify_provider.h"
#include "util/xalloc.h"

#define WEBHOOK_BODY_MAX  (64u * 1024 * 1024)
#define WEBHOOK_CONNS_MAX 256

struct call {
    int pending; /* requests of this send_batch not yet answered */
};

struct request {
    struct notify_item *items;
    int n;
    struct buf body;
    struct call *call;
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    struct request *next;
};

struct webhook {
    struct notify_provider p;
    char *url;
    int conns, per_request;
    long timeout_ms;
    struct curl_slist *headers;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t done_cv;
    struct request *qhead, *qtail; /* waiting for a connection */
    CURL *idle[WEBHOOK_CONNS_MAX]; /* finished handles, reused */
    int nidle, active;
    bool stop;
};

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static int global_users;

static bool curl_global_acquire(void)
{
    pthread_mutex_lock(&global_mu);
    bool ok = global_users > 0 || curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (ok)
        global_users++;
    pthread_mutex_unlock(&global_mu);
    return ok;
}

static void curl_global_release(void)
{
    pthread_mutex_lock(&global_mu);
    if (--global_users == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&global_mu);
}

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
    (void)p;
    (void)cls;
    return size * n;
}

/* Starts a queued request (with the lock held). */
static void start_request(struct webhook *w, struct request *r)
{
    CURL *e = w->nidle ? w->idle[--w->nidle] : curl_easy_init();
    if (!e)
        abort();
    curl_easy_reset(e);
    r->easy = e;
    r->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms < 2000 ? w->timeout_ms : 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_multi_add_handle(w->multi, e);
    w->active++;
}

/* Records the answer of a finished transfer on its items. */
static void finish_request(struct request *r, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    enum notify_result res = NOTIFY_OK;
    char error[128] = "";
    if (rc != CURLE_OK) {
        res = NOTIFY_RETRY;
        snprintf(error, sizeof error, "webhook: %.110s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    } else if (status < 200 || status > 299) {
        res = status == 408 || status == 429 || status >= 500 ? NOTIFY_RETRY : NOTIFY_REJECTED;
        snprintf(error, sizeof error, "webhook answered HTTP %ld", status);
    }
    for (int i = 0; i < r->n; i++) {
        r->items[i].result = res;
        memcpy(r->items[i].error, error, sizeof error);
    }
}

static void *io_main(void *arg)
{
    struct webhook *w = arg;
    pthread_setname_np(pthread_self(), "notify-http");
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->qhead && w->active < w->conns) {
            struct request *r = w->qhead;
            w->qhead = r->next;
            if (!w->qhead)
                w->qtail = NULL;
            start_request(w, r);
        }
        bool quit = w->stop && !w->qhead && w->active == 0;
        pthread_mutex_unlock(&w->mu);
        if (quit)
            break;
        int running;
        curl_multi_perform(w->multi, &running);
        CURLMsg *m;
        int left;
        bool freed = false;
        while ((m = curl_multi_info_read(w->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct request *r;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(w->multi, m->easy_handle);
            finish_request(r, rc);
            pthread_mutex_lock(&w->mu);
            w->active--;
            if (w->nidle < WEBHOOK_CONNS_MAX)
                w->idle[w->nidle++] = r->easy;
            else
                curl_easy_cleanup(r->easy);
            r->call->pending--;
            freed = true;
            pthread_cond_broadcast(&w->done_cv);
            pthread_mutex_unlock(&w->mu);
        }
        /* A connection came free: start what waits for one before sleeping
         * (nothing else would wake the poll). */
        if (!freed)
            curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

static void webhook_send(struct notify_provider *p, struct notify_item *items, int n)
{
    struct webhook *w = (struct webhook *)p;
    int nreq = (n + w->per_request - 1) / w->per_request;
    if (nreq == 0)
        return;
    struct request *reqs = xcalloc((size_t)nreq, sizeof *reqs);
    struct call call = {.pending = nreq};
    for (int k = 0; k < nreq; k++) {
        struct request *r = &reqs[k];
        r->items = items + k * w->per_request;
        r->n = n - k * w->per_request < w->per_request ? n - k * w->per_request : w->per_request;
        r->call = &call;
        buf_init(&r->body, WEBHOOK_BODY_MAX);
        buf_printf(&r->body, "{\"channel\":\"%s\",\"notifications\":[",
                   notify_channel_name(p->channel));
        for (int i = 0; i < r->n; i++) {
            if (i)
                buf_append(&r->body, ",", 1);
            notify_item_json(&r->body, &r->items[i]);
        }
        buf_puts(&r->body, "]}");
    }
    pthread_mutex_lock(&w->mu);
    for (int k = 0; k < nreq; k++) {
        if (w->qtail)
            w->qtail->next = &reqs[k];
        else
            w->qhead = &reqs[k];
        w->qtail = &reqs[k];
    }
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
    pthread_mutex_lock(&w->mu);
    while (call.pending > 0)
        pthread_cond_wait(&w->done_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    for (int k = 0; k < nreq; k++)
        buf_free(&reqs[k].body);
    free(reqs);
}

static void webhook_destroy(struct notify_provider *p)
{
    struct webhook *w = (struct webhook *)p;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    for (int i = 0; i < w->nidle; i++)
        curl_easy_cleanup(w->idle[i]);
    curl_multi_cleanup(w->multi);
    curl_slist_free_all(w->headers);
    pthread_cond_destroy(&w->done_cv);
    pthread_mutex_destroy(&w->mu);
    free(w->url);
    free(w);
    curl_global_release();
}

struct notify_provider *notify_webhook_new(const struct notify_webhook_opts *o,
                                           enum notify_channel ch, char *err, size_t errlen)
{
    if (!o->url || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8))) {
        snprintf(err, errlen, "the webhook URL must start with http:// or https://");
        return NULL;
    }
    if (!curl_global_acquire()) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return NULL;
    }
    struct webhook *w = xcalloc(1, sizeof *w);
    w->p.name = "webhook";
    w->p.channel = ch;
    w->p.send_batch = webhook_send;
    w->p.destroy = webhook_destroy;
    w->url = xstrdup(o->url);
    w->conns = o->connections < 1                   ? 1
               : o->connections > WEBHOOK_CONNS_MAX ? WEBHOOK_CONNS_MAX
                                                    : o->connections;
    w->per_request = o->per_request < 1 ? 1 : o->per_request;
    w->timeout_ms = o->timeout_ms < 1 ? 5000 : o->timeout_ms;
    w->headers = curl_slist_append(NULL, "Content-Type: application/json");
    w->headers = curl_slist_append(w->headers, "Expect:"); /* no 100-continue round trip */
    w->multi = curl_multi_init();
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)w->conns);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->conns);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->conns);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    if (pthread_create(&w->thread, NULL, io_main, w) != 0) {
        snprintf(err, errlen, "cannot start the webhook thread");
        curl_multi_cleanup(w->multi);
        curl_slist_free_all(w->headers);
        free(w->url);
        free(w);
        curl_global_release();
        return NULL;
    }
    return &w->p;
}
