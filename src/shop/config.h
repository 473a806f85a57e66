/* config.h — every tunable of the shop in one place, with its default and
 * its environment variable (read once at start; see docs/ARCHITECTURE.md).
 *
 * The store reads its own (it does not see this struct), listed here so
 * they are found: SHOPD_PG_WRITERS, PostgreSQL writer connections per
 * process (default one per core, at least 2); SHOPD_PG_READERS, pooled read
 * connections per process (default 24). See src/store/pg.c.
 */
#ifndef SHOP_SHOP_CONFIG_H
#define SHOP_SHOP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "shop/allocation.h"

struct shop_config {
    int64_t session_ttl_ms;   /* SHOPD_SESSION_TTL (seconds), default 30 days */
    int64_t guest_ttl_ms;     /* SHOPD_GUEST_TTL (seconds), default 7 days */
    int login_max_failures;   /* per account in the window, default 5 */
    int login_ip_max_failures;/* per client address in the window, default 50 */
    int64_t login_window_ms;  /* SHOPD_LOGIN_WINDOW (seconds), default 15 minutes */
    int64_t pwhash_memlimit;  /* argon2id memory, bytes; default 19 MiB */
    int64_t pwhash_opslimit;  /* argon2id passes, default 2 */
    int64_t product_cache_max;/* product pages kept rendered, default 200,000 */
    int64_t search_cache_entries; /* SHOPD_SEARCH_CACHE_ENTRIES: search/browse answers kept,
                                     default 20,000; SHOPD_SEARCH_CACHE=0 turns the cache off */
    int64_t search_cache_mb;  /* SHOPD_SEARCH_CACHE_MB: their size limit, default 128 */
    int64_t suggest_min_count;/* SHOPD_SUGGEST_MIN_COUNT: runs before a query is suggested, default 3 */

    /* recommendations (recs/recs.h) */
    int64_t recs_min_support;      /* SHOPD_RECS_MIN_SUPPORT: orders a pair needs to be
                                      "frequently bought together", default 3 */
    int64_t recs_half_life_hours;  /* SHOPD_RECS_HALF_LIFE_HOURS: decay of popularity and
                                      co-views, default 72 */
    int64_t recs_history_days;     /* SHOPD_RECS_HISTORY_DAYS: events read at start, default 90 */
    int64_t recs_page_cache_mb;    /* SHOPD_RECS_PAGE_CACHE_MB: product pages kept with their
                                      recommendations, default 512 (~200,000 pages) */
    int64_t recs_later_products;   /* SHOPD_RECS_LATER_PRODUCTS: `shopd serve` builds the model
                                      after it starts answering when the catalog has more
                                      published products than this (shop/views.c), default
                                      200,000 (~0.3 s of building) */
    int64_t shed_level;            /* SHOPD_SHED_LEVEL: load-shedding level at start (0–3),
                                      default 0, unless the shop's stored setting says otherwise
                                      (shop/shedding.h holds the live one) */

    /* purchase path */
    char currency[4];              /* SHOPD_CURRENCY: store credit's currency, default USD */
    char timezone[65];             /* SHOPD_TIMEZONE: the shop's days (analytics), a tz database
                                      name, default UTC */
    int64_t report_concurrency;    /* SHOPD_REPORT_CONCURRENCY: analytics reports computed at
                                      once, the rest queued (util/gate.h); default the number
                                      of CPUs */
    int64_t reservation_ttl_ms;    /* SHOPD_RESERVATION_TTL (s), default 600 */
    int64_t guest_cart_ttl_ms;     /* SHOPD_GUEST_CART_TTL (s), idle guest carts, default 7 days */
    int64_t user_cart_ttl_ms;      /* SHOPD_USER_CART_TTL (s), idle user carts, default 30 days */
    int64_t idempotency_ttl_ms;    /* SHOPD_IDEMPOTENCY_TTL (s), default 24 h */
    int64_t outbox_keep_ms;        /* SHOPD_OUTBOX_KEEP (s), handled events, default 7 days */
    int64_t free_shipping_cents;   /* SHOPD_FREE_SHIPPING_CENTS, standard is free above, default 3500 */
    const char *shipping_rates;    /* SHOPD_SHIPPING: "standard=499+100,express=1499+200"
                                      (base + per started kg above the first) */
    const char *tax_rates;         /* SHOPD_TAX_RATES: "US-WA=650,GB=2000,…" basis points;
                                      replaces the built-in table when set */
    int gateway_attempts;          /* SHOPD_GATEWAY_ATTEMPTS, tries per call, default 3 */
    int64_t gateway_backoff_ms;    /* SHOPD_GATEWAY_BACKOFF_MS, first retry delay, default 40 */
    int breaker_failures;          /* SHOPD_BREAKER_FAILURES, consecutive failures to open, default 10 */
    int64_t breaker_open_ms;       /* SHOPD_BREAKER_OPEN_MS, how long it stays open, default 5000 */
    int64_t sim_timeout_ms;        /* SHOPD_SIM_TIMEOUT_MS, the simulated gateway's timeouts, default 0 */
    const char *sim_gateway_db;    /* SHOPD_GATEWAY_DB: where the simulated gateway keeps its books
                                      (a SQLite file or a postgres:// URL); NULL: beside the
                                      shop's database, or in it on a database server */
    int64_t payment_deadline_ms;   /* SHOPD_PAYMENT_DEADLINE (s): after it, reconciliation may
                                      settle a payment still pending, default 30 */
    int64_t housekeeping_ms;       /* SHOPD_HOUSEKEEPING_MS, sweeper period, default 1000 */
    int64_t stop_drain_ms;         /* SHOPD_STOP_DRAIN_MS: at SIGTERM, keep serving this long
                                      with /readyz 503 and every answer closing its connection,
                                      so a balancer's health check takes the process out before
                                      it stops accepting (http_stop). Default 0; behind haproxy
                                      at least its `inter` × `fall` (scripts/cluster.sh: 3000) */
    int64_t lease_ms;              /* SHOPD_LEASE_MS, how long a role's lease and a process's
                                      heartbeat last unrenewed (work/leases.h), default 3000 */

    /* Fraud rules (CHK-5, shop/fraud.h). A count threshold N lets N orders
     * (or declines) through in the window and fires on the next; 0 turns that
     * rule off. Points are what a rule adds to the score when it fires. */
    bool fraud;                    /* SHOPD_FRAUD=off turns scoring off (load tests), default on */
    int64_t fraud_window_ms;       /* SHOPD_FRAUD_WINDOW (s), velocity and declines window, default 3600 */
    int fraud_user_orders;         /* SHOPD_FRAUD_USER_ORDERS, per user in the window, default 5 */
    int fraud_card_orders;         /* SHOPD_FRAUD_CARD_ORDERS, per card token, default 5 */
    int fraud_ip_orders;           /* SHOPD_FRAUD_IP_ORDERS, per client address, default 20 */
    int64_t fraud_new_account_ms;  /* SHOPD_FRAUD_NEW_ACCOUNT_HOURS: younger is new, default 24 */
    int64_t fraud_high_value_cents;/* SHOPD_FRAUD_HIGH_VALUE_CENTS: a new account's order at or
                                      above this fires, default 50000 */
    int fraud_declines;            /* SHOPD_FRAUD_DECLINES, declines by the user or the card in
                                      the window, default 3 */
    int fraud_points_user;         /* SHOPD_FRAUD_POINTS_USER, default 30 */
    int fraud_points_card;         /* SHOPD_FRAUD_POINTS_CARD, default 30 */
    int fraud_points_ip;           /* SHOPD_FRAUD_POINTS_IP, default 25 */
    int fraud_points_new_account;  /* SHOPD_FRAUD_POINTS_NEW_ACCOUNT, default 40 */
    int fraud_points_country;      /* SHOPD_FRAUD_POINTS_COUNTRY, billing/shipping mismatch, default 30 */
    int fraud_points_declines;     /* SHOPD_FRAUD_POINTS_DECLINES, default 50 */
    int fraud_hold_score;          /* SHOPD_FRAUD_HOLD_SCORE: at or above, hold, default 50 */
    int fraud_reject_score;        /* SHOPD_FRAUD_REJECT_SCORE: at or above, reject, default 90 */
    const char *trusted_proxies;   /* SHOPD_TRUSTED_PROXIES: addresses and CIDRs, comma-separated,
                                      whose X-Forwarded-For is believed; default none */

    /* flash sales */
    int64_t flash_token_ttl_ms;    /* SHOPD_FLASH_TOKEN_TTL (s), purchase tokens, default 300 */
    int64_t flash_tick_ms;         /* SHOPD_FLASH_TICK_MS, scheduler period, default 50 */

    /* fulfilment and returns (shop/allocation.h, shop/shipment.h, shop/returns.h) */
    struct alloc_rules alloc;      /* SHOPD_ALLOC_KM_PER_SHIPMENT (load term, default 1 km),
                                      SHOPD_ALLOC_LOW_STOCK_KM (running-low term, default 250),
                                      SHOPD_ALLOC_LOW_STOCK (units left that count as low, 5) */
    bool carrier_auto;             /* SHOPD_CARRIER_SIM=auto: the simulated carrier moves
                                      shipments itself and calls back (work/carrier_sim_worker.c) */
    int64_t carrier_step_ms;       /* SHOPD_CARRIER_STEP_MS, its time per status, default 2000 */
    char carrier_secret[128];      /* SHOPD_CARRIER_SECRET, HMAC key of carrier callbacks;
                                      unset: made once, kept in settings */
    char carrier_callback_url[256];/* SHOPD_CARRIER_CALLBACK_URL, default this server's
                                      /v1/carrier/events */
    int64_t carrier_timeout_ms;    /* SHOPD_CARRIER_TIMEOUT_MS, how long the simulated
                                      carrier's timing-out labels take, default 0 */
    int carrier_label_attempts;    /* SHOPD_CARRIER_LABEL_ATTEMPTS per fulfil, default 3 */
    int64_t return_window_ms;      /* SHOPD_RETURN_WINDOW_DAYS after delivery, default 30 */
    int64_t return_auto_approve_cents; /* SHOPD_RETURN_AUTO_APPROVE_CENTS, default 10000 */
    int64_t card_expiry_scan_ms;   /* SHOPD_CARD_EXPIRY_SCAN_MS, how often stored cards about
                                      to expire are looked for (NTF-2), default 60000 */

    /* Rate limiting (http/ratelimit.c holds the table of rates and bursts;
     * SHOPD_RATE_<CLASS>_<SCOPE>=rate/burst overrides one entry). */
    bool rate_limit;          /* SHOPD_RATE_LIMIT=off disables it (benchmarks), default on */

    /* Failures on demand (util/faults.h): SHOPD_FAULTS arms faults at start
     * (cli/serve.c); SHOPD_FAULTS_API=1 exposes the admin hook
     * /v1/admin/faults (tests only; default off: 404). */
    bool faults_api;

    /* HTTP connections (http/server.c): every wait on a client is bounded. */
    int http_header_timeout_s; /* SHOPD_HTTP_HEADER_TIMEOUT (s): a new connection's silence
                                  before its first request head is complete, default 5 */
    int http_idle_timeout_s;   /* SHOPD_HTTP_IDLE_TIMEOUT (s): silence after that (keep-alive
                                  between requests, a stalled body), default 60 */
    int http_body_timeout_s;   /* SHOPD_HTTP_BODY_TIMEOUT (s): a whole request body, default 30 */

    /* Notifications (shop/notify.h, work/notify_worker.c). */
    char notify_dir[512];     /* SHOPD_NOTIFY_DIR, file sink; default <db dir>/notifications */
    char search_snapshot[4096]; /* SHOPD_SEARCH_SNAPSHOT: the search index saved at a clean
                                   stop and read at start (shop/views.c); "off" disables it.
                                   Default: <db file>.search-snapshot on SQLite, off on
                                   PostgreSQL (no file beside a database server) */
    char notify_provider[3][16]; /* per channel (push, email, sms): file | webhook | off
                               * (email also smtp: SHOPD_SMTP_*);
                               * SHOPD_NOTIFY_PROVIDER for all, SHOPD_NOTIFY_PROVIDER_PUSH … */
    char notify_webhook_url[512]; /* SHOPD_NOTIFY_WEBHOOK_URL */
    int notify_webhook_conns; /* SHOPD_NOTIFY_WEBHOOK_CONNS, keep-alive connections, default 8 */
    int notify_webhook_batch; /* SHOPD_NOTIFY_WEBHOOK_BATCH, notifications per POST, default 100 */
    int notify_webhook_timeout_ms; /* SHOPD_NOTIFY_WEBHOOK_TIMEOUT_MS, default 5000 */
    int notify_senders;       /* SHOPD_NOTIFY_SENDERS, sender threads, default 3 */
    int notify_batch;         /* SHOPD_NOTIFY_BATCH, notifications per hand-over, default 1000 */
    int notify_inflight;      /* SHOPD_NOTIFY_INFLIGHT, queued + being sent, default 20,000
                               * (raised to two fan-out chunks' rows when smaller) */
    int notify_max_attempts;  /* SHOPD_NOTIFY_MAX_ATTEMPTS before dead, default 6 */
    int64_t notify_backoff_ms;/* SHOPD_NOTIFY_BACKOFF_MS, first retry delay, default 2000 */
    int64_t notify_backoff_max_ms; /* SHOPD_NOTIFY_BACKOFF_MAX_MS, default 10 minutes */
    int64_t notify_scan_ms;   /* SHOPD_NOTIFY_SCAN_MS, due-retry scan period, default 500 */
    int64_t notify_lease_ms;  /* SHOPD_NOTIFY_LEASE_MS, a queued row's hold, default 60 s */
    int64_t notify_rate;      /* SHOPD_NOTIFY_RATE, hand-overs per second per channel (a
                               * provider's quota, e.g. FCM's 10,000/s); 0: unlimited */
    int notify_nice;          /* SHOPD_NOTIFY_NICE, the engine threads' nice, default 10 */
    int fanout_chunk;         /* SHOPD_FANOUT_CHUNK, wishlisters per transaction, default 2000 */
    int64_t fanout_pause_ms;  /* SHOPD_FANOUT_PAUSE_MS, pause between chunks, default 0 */

    /* Outgoing webhooks (OPS-4, shop/webhook.h, work/webhook_worker.c). */
    int64_t webhook_timeout_ms;     /* SHOPD_WEBHOOK_TIMEOUT_MS, per request, default 10000 */
    int webhook_per_sub;            /* SHOPD_WEBHOOK_CONCURRENCY, requests in flight per
                                       subscription, default 16 */
    int webhook_inflight;           /* SHOPD_WEBHOOK_INFLIGHT, requests in flight in all, default 256 */
    int64_t webhook_retry_window_ms;/* SHOPD_WEBHOOK_RETRY_WINDOW (s), retries after the event,
                                       default 86400 */
    int64_t webhook_backoff_ms;     /* SHOPD_WEBHOOK_BACKOFF_MS, first retry delay, default 5000 */
    int64_t webhook_backoff_max_ms; /* SHOPD_WEBHOOK_BACKOFF_MAX_MS, default 1 h */
    int64_t webhook_disable_after_ms; /* SHOPD_WEBHOOK_DISABLE_AFTER (s), failing that long
                                         disables a subscription, default 3 days */
    int64_t webhook_rotation_ms;    /* SHOPD_WEBHOOK_ROTATION_WINDOW (s), both secrets sign,
                                       default 86400 */
    int64_t webhook_scan_ms;        /* SHOPD_WEBHOOK_SCAN_MS, due-retry scan period, default 250 */

    /* Real email (NTF-1, ext/notify_smtp.c): SHOPD_NOTIFY_PROVIDER_EMAIL=smtp. */
    char smtp_url[512];       /* SHOPD_SMTP_URL: smtp://host:port or smtps://host:port */
    char smtp_from[256];      /* SHOPD_SMTP_FROM, the sender address, default shop@localhost */
    char smtp_user[256];      /* SHOPD_SMTP_USER (login; none: no AUTH) */
    char smtp_password[256];  /* SHOPD_SMTP_PASSWORD */
    char smtp_unsubscribe[512]; /* SHOPD_SMTP_UNSUBSCRIBE_URL, List-Unsubscribe target,
                                   default mailto:<from>?subject=unsubscribe */
    int smtp_conns;           /* SHOPD_SMTP_CONNS, kept-alive connections, default 4 */
    int smtp_timeout_ms;      /* SHOPD_SMTP_TIMEOUT_MS, per message, default 15000 */
    char smtp_tls[16];        /* SHOPD_SMTP_TLS: try | require | off; default require when
                                 SHOPD_SMTP_USER is set (credentials never in clear), else try */
    char smtp_ca_file[512];   /* SHOPD_SMTP_CA_FILE, PEM bundle the relay's certificate must
                                 chain to (default: the system's) */

    /* Load shedding (OPS-3, shop/shedding.h). */
    int64_t shed_sample_ms;   /* SHOPD_SHED_SAMPLE_MS, how often load is measured, default 250 */
    int64_t shed_p99_ms;      /* SHOPD_SHED_P99_MS, read p99 that counts as overload, default 500 */
    int64_t shed_queue;       /* SHOPD_SHED_QUEUE, writes waiting that count as overload, default 2000 */
    int64_t shed_enter_ms;    /* SHOPD_SHED_ENTER_MS, overload this long raises a level, default 3000 */
    int64_t shed_exit_ms;     /* SHOPD_SHED_EXIT_MS, calm this long lowers one, default 10000 */
    int shed_exit_pct;        /* SHOPD_SHED_EXIT_PCT, calm is below this % of a threshold, default 50 */
    int shed_auto_max;        /* SHOPD_SHED_AUTO_MAX, highest level entered by itself, default 2 */
    int shed_retry_after_s;   /* SHOPD_SHED_RETRY_AFTER, seconds in a shed answer, default 5 */
    int shed_max_age_s;       /* SHOPD_SHED_MAX_AGE, public reads' cache lifetime at level 2+,
                                 default 60 */

    /* reviews (ENG-1) */
    int64_t review_new_account_ms; /* SHOPD_REVIEW_NEW_ACCOUNT_HOURS: reviews by accounts younger
                                    * than this are held for moderation, default 24 (0: none) */
};

/** Defaults, then the environment. */
void config_load(struct shop_config *cfg);

/** Reads SHOPD_RATE_<cls>_<scope> ("rate/burst", rate per second, may have
 *  a fraction; "0/0" means unlimited) into *rate and *burst. False (and
 *  nothing changed) when unset; a malformed value is logged and ignored. */
bool config_rate(const char *cls, const char *scope, double *rate, int64_t *burst);

#endif
