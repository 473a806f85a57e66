/* serve.c — `shopd serve`: migrate, start workers and the HTTP server, wait
 * for SIGTERM/SIGINT, then drain in-flight requests and close cleanly.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "http/server.h"
#include "shop/shop.h"
#include "store/store.h"
#include "work/carrier_sim_worker.h"
#include "util/faults.h"
#include "util/log.h"
#include "work/leases.h"

static long long env_int(const char *name, long long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoll(s, NULL, 10) : dflt;
}

/* libmicrohttpd's threads answer reads themselves. On SQLite a read is
 * work for a core, and more threads than cores only share the cores: a
 * heavy request then lasts as long as everything running beside it (search
 * at a million products, 64 connections: p99 about 50 ms with 8 threads a
 * core, 25 ms with 2, the same throughput; checkout no slower). On
 * PostgreSQL a read waits on the server's round trips, and more threads
 * keep the cores busy meanwhile. */
static long long default_threads(const char *db)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return (ncpu > 0 ? ncpu : 1) * (store_is_server_url(db) ? 8 : 2);
}

int cli_serve(int argc, char **argv)
{
    const char *host = getenv("SHOPD_HOST"), *db = NULL, *access_log = getenv("SHOPD_ACCESS_LOG");
    long long port = env_int("SHOPD_PORT", 8080), threads = env_int("SHOPD_THREADS", 0);
    long long workers = env_int("SHOPD_WORKERS", 0);
    const struct opt opts[] = {
        {"--host", OPT_STR, &host, "address to listen on (default 127.0.0.1; $SHOPD_HOST)"},
        {"--port", OPT_INT, &port, "port (default 8080; $SHOPD_PORT)"},
        {"--db", OPT_STR, &db, "database file (default data/shop.db; $SHOPD_DB)"},
        {"--threads", OPT_INT, &threads,
         "threads parsing requests and answering reads (default 2 per core on SQLite, 8 on"
         " PostgreSQL; $SHOPD_THREADS)"},
        {"--workers", OPT_INT, &workers,
         "threads running requests that write (default 64; $SHOPD_WORKERS)"},
        {"--access-log", OPT_STR, &access_log, "access log: a path, - for stdout, or off"},
        {NULL, 0, NULL, NULL},
    };
    int code;
    if (!cli_parse(argc, argv, opts, "usage: shopd serve [options]\n\nRuns the shop's HTTP API.",
                   &code))
        return code;
    if (port < 0 || port > 65535 || threads < 0 || threads > 1024 || workers < 0 ||
        workers > 4096) {
        fprintf(stderr, "shopd: --port must be 0-65535, --threads 0-1024, --workers 0-4096\n");
        return 2;
    }

    /* Signals are taken by this thread alone, with sigwait below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Failures on demand (util/faults.h), armed before the shop opens: the
     * reads of start-up (the search snapshot's catch-up) can fail too. */
    char ferr[256] = "";
    if (!faults_configure(getenv("SHOPD_FAULTS"), ferr, sizeof ferr)) {
        fprintf(stderr, "shopd: SHOPD_FAULTS: %s\n", ferr);
        return 2;
    }
    struct problem pb = {0};
    const char *path = cli_db_path(db);
    struct shop *shop = shop_open_serving(path, true, &pb);
    if (!shop) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        return 1;
    }
    if (shop_start_workers(shop, &pb) != SHOP_OK) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        shop_close(shop);
        return 1;
    }
    struct http_opts ho = {.host = host,
                           .port = (int)port,
                           .threads = (int)(threads ? threads : default_threads(path)),
                           .workers = (int)workers,
                           .access_log = access_log};
    struct http_server *hs = http_start(shop, &ho, &pb);
    if (!hs) {
        fprintf(stderr, "shopd: %s\n", pb.detail);
        shop_close(shop);
        return 1;
    }
    /* Global rate limits are the shop's: each process takes its share. */
    leases_on_processes(shop->leases, http_set_processes, hs);
    /* The simulated carrier calls this process back unless told otherwise. */
    struct carrier_worker *carrier = NULL;
    if (shop->cfg.carrier_auto) {
        char url[512];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/carrier/events", http_port(hs));
        carrier = carrier_worker_start(
            shop, *shop->cfg.carrier_callback_url ? shop->cfg.carrier_callback_url : url, &pb);
        if (!carrier)
            log_event(LOG_ERROR, "carrier_sim.start", "{s:s}", "detail", pb.detail);
    }
    log_event(LOG_INFO, "shopd.ready", "{s:s, s:i}", "db", path, "port", http_port(hs));

    int sig = 0;
    sigwait(&sigs, &sig);
    log_event(LOG_INFO, "shopd.stopping", "{s:i}", "signal", sig);
    atomic_store(&shop->stopping, true);
    leases_on_processes(shop->leases, NULL, NULL);
    carrier_worker_stop(carrier);
    http_stop(hs, 10000);
    shop->views_save = true; /* no request runs now: shop_close saves the search snapshot */
    shop_close(shop);
    log_event(LOG_INFO, "shopd.stopped", NULL);
    return 0;
}
