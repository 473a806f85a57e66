#include "shop/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* An integer from the environment, or `dflt` when unset or malformed. */
static int64_t env_i64(const char *name, int64_t dflt, int64_t min, int64_t max)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        log_event(LOG_WARN, "config.ignored", "{s:s, s:s}", "variable", name, "value", s);
        return dflt;
    }
    return v;
}

/* A string from the environment (truncated to `len`), or `dflt`. */
static void env_copy(const char *name, const char *dflt, char *out, size_t len)
{
    const char *s = getenv(name);
    if (!s || !*s)
        s = dflt;
    if (strlen(s) >= len) {
        log_event(LOG_WARN, "config.ignored", "{s:s, s:s}", "variable", name, "value", s);
        s = dflt;
    }
    snprintf(out, len, "%s", s);
}

static const char *env_str(const char *name, const char *dflt)
{
    const char *s = getenv(name);
    return s && *s ? s : dflt;
}

void config_load(struct shop_config *cfg)
{
    cfg->session_ttl_ms = env_i64("SHOPD_SESSION_TTL", 30 * 86400, 1, 365 * 86400) * 1000;
    cfg->guest_ttl_ms = env_i64("SHOPD_GUEST_TTL", 7 * 86400, 1, 365 * 86400) * 1000;
    cfg->login_max_failures = (int)env_i64("SHOPD_LOGIN_MAX_FAILURES", 5, 1, 1000);
    cfg->login_ip_max_failures = (int)env_i64("SHOPD_LOGIN_IP_MAX_FAILURES", 50, 1, 100000);
    cfg->login_window_ms = env_i64("SHOPD_LOGIN_WINDOW", 15 * 60, 1, 86400) * 1000;
    cfg->pwhash_memlimit = env_i64("SHOPD_PWHASH_MEMLIMIT", 19 * 1024 * 1024, 8192, 1LL << 32);
    cfg->pwhash_opslimit = env_i64("SHOPD_PWHASH_OPSLIMIT", 2, 1, 10);
    cfg->product_cache_max = env_i64("SHOPD_PRODUCT_CACHE_MAX", 200000, 0, 10000000);
    cfg->search_cache_entries = env_i64("SHOPD_SEARCH_CACHE", 1, 0, 1)
                                    ? env_i64("SHOPD_SEARCH_CACHE_ENTRIES", 20000, 0, 10000000)
                                    : 0;
    cfg->search_cache_mb = env_i64("SHOPD_SEARCH_CACHE_MB", 128, 1, 65536);
    cfg->suggest_min_count = env_i64("SHOPD_SUGGEST_MIN_COUNT", 3, 1, 1000000);
    cfg->recs_min_support = env_i64("SHOPD_RECS_MIN_SUPPORT", 3, 1, 1000000);
    cfg->recs_half_life_hours = env_i64("SHOPD_RECS_HALF_LIFE_HOURS", 72, 1, 24 * 365 * 10);
    cfg->recs_history_days = env_i64("SHOPD_RECS_HISTORY_DAYS", 90, 1, 3650);
    cfg->recs_page_cache_mb = env_i64("SHOPD_RECS_PAGE_CACHE_MB", 512, 1, 1 << 20);
    cfg->recs_later_products = env_i64("SHOPD_RECS_LATER_PRODUCTS", 200000, 0, INT64_MAX);
    cfg->shed_level = env_i64("SHOPD_SHED_LEVEL", 0, 0, 3);

    snprintf(cfg->currency, sizeof cfg->currency, "%s", env_str("SHOPD_CURRENCY", "USD"));
    snprintf(cfg->timezone, sizeof cfg->timezone, "%s", env_str("SHOPD_TIMEZONE", "UTC"));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->report_concurrency = env_i64("SHOPD_REPORT_CONCURRENCY", cpus > 0 ? cpus : 2, 1, 256);
    cfg->reservation_ttl_ms = env_i64("SHOPD_RESERVATION_TTL", 600, 1, 86400) * 1000;
    cfg->guest_cart_ttl_ms = env_i64("SHOPD_GUEST_CART_TTL", 7 * 86400, 1, 365 * 86400) * 1000;
    cfg->user_cart_ttl_ms = env_i64("SHOPD_USER_CART_TTL", 30 * 86400, 1, 365 * 86400) * 1000;
    cfg->idempotency_ttl_ms = env_i64("SHOPD_IDEMPOTENCY_TTL", 86400, 1, 30 * 86400) * 1000;
    cfg->outbox_keep_ms = env_i64("SHOPD_OUTBOX_KEEP", 7 * 86400, 60, 365 * 86400) * 1000;
    cfg->free_shipping_cents = env_i64("SHOPD_FREE_SHIPPING_CENTS", 3500, 0, 100000000);
    cfg->shipping_rates = env_str("SHOPD_SHIPPING", "standard=499+100,express=1499+200");
    cfg->tax_rates = env_str("SHOPD_TAX_RATES", NULL);
    cfg->gateway_attempts = (int)env_i64("SHOPD_GATEWAY_ATTEMPTS", 3, 1, 10);
    cfg->gateway_backoff_ms = env_i64("SHOPD_GATEWAY_BACKOFF_MS", 40, 0, 10000);
    cfg->breaker_failures = (int)env_i64("SHOPD_BREAKER_FAILURES", 10, 1, 10000);
    cfg->breaker_open_ms = env_i64("SHOPD_BREAKER_OPEN_MS", 5000, 1, 600000);
    cfg->sim_timeout_ms = env_i64("SHOPD_SIM_TIMEOUT_MS", 0, 0, 60000);
    cfg->sim_gateway_db = env_str("SHOPD_GATEWAY_DB", NULL);
    cfg->payment_deadline_ms = env_i64("SHOPD_PAYMENT_DEADLINE", 30, 1, 3600) * 1000;
    cfg->housekeeping_ms = env_i64("SHOPD_HOUSEKEEPING_MS", 1000, 10, 60000);
    cfg->stop_drain_ms = env_i64("SHOPD_STOP_DRAIN_MS", 0, 0, 60000);
    cfg->lease_ms = env_i64("SHOPD_LEASE_MS", 3000, 300, 600000);
    const char *fr = getenv("SHOPD_FRAUD");
    cfg->fraud = !(fr && (!strcmp(fr, "off") || !strcmp(fr, "0") || !strcmp(fr, "false")));
    cfg->fraud_window_ms = env_i64("SHOPD_FRAUD_WINDOW", 3600, 1, 30 * 86400) * 1000;
    cfg->fraud_user_orders = (int)env_i64("SHOPD_FRAUD_USER_ORDERS", 5, 0, 1000000);
    cfg->fraud_card_orders = (int)env_i64("SHOPD_FRAUD_CARD_ORDERS", 5, 0, 1000000);
    cfg->fraud_ip_orders = (int)env_i64("SHOPD_FRAUD_IP_ORDERS", 20, 0, 1000000);
    cfg->fraud_new_account_ms =
        env_i64("SHOPD_FRAUD_NEW_ACCOUNT_HOURS", 24, 0, 24 * 3650) * 3600000;
    cfg->fraud_high_value_cents = env_i64("SHOPD_FRAUD_HIGH_VALUE_CENTS", 50000, 0, INT64_MAX / 2);
    cfg->fraud_declines = (int)env_i64("SHOPD_FRAUD_DECLINES", 3, 0, 1000000);
    cfg->fraud_points_user = (int)env_i64("SHOPD_FRAUD_POINTS_USER", 30, 0, 1000);
    cfg->fraud_points_card = (int)env_i64("SHOPD_FRAUD_POINTS_CARD", 30, 0, 1000);
    cfg->fraud_points_ip = (int)env_i64("SHOPD_FRAUD_POINTS_IP", 25, 0, 1000);
    cfg->fraud_points_new_account = (int)env_i64("SHOPD_FRAUD_POINTS_NEW_ACCOUNT", 40, 0, 1000);
    cfg->fraud_points_country = (int)env_i64("SHOPD_FRAUD_POINTS_COUNTRY", 30, 0, 1000);
    cfg->fraud_points_declines = (int)env_i64("SHOPD_FRAUD_POINTS_DECLINES", 50, 0, 1000);
    cfg->fraud_hold_score = (int)env_i64("SHOPD_FRAUD_HOLD_SCORE", 50, 1, 100000);
    cfg->fraud_reject_score = (int)env_i64("SHOPD_FRAUD_REJECT_SCORE", 90, 1, 100000);
    cfg->trusted_proxies = env_str("SHOPD_TRUSTED_PROXIES", "");

    cfg->flash_token_ttl_ms = env_i64("SHOPD_FLASH_TOKEN_TTL", 300, 1, 86400) * 1000;
    cfg->flash_tick_ms = env_i64("SHOPD_FLASH_TICK_MS", 50, 5, 10000);
    cfg->alloc.km_per_open_shipment = (double)env_i64("SHOPD_ALLOC_KM_PER_SHIPMENT", 1, 0, 100000);
    cfg->alloc.low_stock_km = (double)env_i64("SHOPD_ALLOC_LOW_STOCK_KM", 250, 0, 100000);
    cfg->alloc.low_stock = env_i64("SHOPD_ALLOC_LOW_STOCK", 5, 0, 1000000);
    cfg->carrier_auto = !strcmp(env_str("SHOPD_CARRIER_SIM", "manual"), "auto");
    cfg->carrier_step_ms = env_i64("SHOPD_CARRIER_STEP_MS", 2000, 10, 86400000);
    /* Unset: a random secret made once and kept in the database (shop.c,
     * carrier_secret_load), never a constant anyone can read in the source. */
    env_copy("SHOPD_CARRIER_SECRET", "", cfg->carrier_secret, sizeof cfg->carrier_secret);
    env_copy("SHOPD_CARRIER_CALLBACK_URL", "", cfg->carrier_callback_url,
             sizeof cfg->carrier_callback_url);
    cfg->carrier_timeout_ms = env_i64("SHOPD_CARRIER_TIMEOUT_MS", 0, 0, 60000);
    cfg->carrier_label_attempts = (int)env_i64("SHOPD_CARRIER_LABEL_ATTEMPTS", 3, 1, 10);
    cfg->return_window_ms = env_i64("SHOPD_RETURN_WINDOW_DAYS", 30, 1, 3650) * 86400000;
    cfg->card_expiry_scan_ms = env_i64("SHOPD_CARD_EXPIRY_SCAN_MS", 60000, 100, 86400000);
    cfg->return_auto_approve_cents =
        env_i64("SHOPD_RETURN_AUTO_APPROVE_CENTS", 10000, 0, 100000000000);

    const char *fa = getenv("SHOPD_FAULTS_API");
    cfg->faults_api = fa && !strcmp(fa, "1");
    const char *rl = getenv("SHOPD_RATE_LIMIT");
    cfg->rate_limit = !(rl && (!strcmp(rl, "off") || !strcmp(rl, "0") || !strcmp(rl, "false")));
    cfg->http_header_timeout_s = (int)env_i64("SHOPD_HTTP_HEADER_TIMEOUT", 5, 1, 600);
    cfg->http_idle_timeout_s = (int)env_i64("SHOPD_HTTP_IDLE_TIMEOUT", 60, 1, 3600);
    cfg->http_body_timeout_s = (int)env_i64("SHOPD_HTTP_BODY_TIMEOUT", 30, 1, 3600);

    env_copy("SHOPD_NOTIFY_DIR", "", cfg->notify_dir, sizeof cfg->notify_dir);
    env_copy("SHOPD_SEARCH_SNAPSHOT", "", cfg->search_snapshot, sizeof cfg->search_snapshot);
    static const char *const channel_vars[3] = {
        "SHOPD_NOTIFY_PROVIDER_PUSH", "SHOPD_NOTIFY_PROVIDER_EMAIL", "SHOPD_NOTIFY_PROVIDER_SMS"};
    char all[16];
    env_copy("SHOPD_NOTIFY_PROVIDER", "file", all, sizeof all);
    for (int i = 0; i < 3; i++)
        env_copy(channel_vars[i], all, cfg->notify_provider[i], sizeof cfg->notify_provider[i]);
    env_copy("SHOPD_NOTIFY_WEBHOOK_URL", "", cfg->notify_webhook_url,
             sizeof cfg->notify_webhook_url);
    cfg->notify_webhook_conns = (int)env_i64("SHOPD_NOTIFY_WEBHOOK_CONNS", 8, 1, 256);
    cfg->notify_webhook_batch = (int)env_i64("SHOPD_NOTIFY_WEBHOOK_BATCH", 100, 1, 10000);
    cfg->notify_webhook_timeout_ms =
        (int)env_i64("SHOPD_NOTIFY_WEBHOOK_TIMEOUT_MS", 5000, 10, 600000);
    cfg->notify_senders = (int)env_i64("SHOPD_NOTIFY_SENDERS", 3, 1, 64);
    cfg->notify_batch = (int)env_i64("SHOPD_NOTIFY_BATCH", 1000, 1, 10000);
    cfg->notify_inflight = (int)env_i64("SHOPD_NOTIFY_INFLIGHT", 20000, 100, 1000000);
    cfg->notify_max_attempts = (int)env_i64("SHOPD_NOTIFY_MAX_ATTEMPTS", 6, 1, 100);
    cfg->notify_backoff_ms = env_i64("SHOPD_NOTIFY_BACKOFF_MS", 2000, 1, 86400000);
    cfg->notify_backoff_max_ms = env_i64("SHOPD_NOTIFY_BACKOFF_MAX_MS", 600000, 1, 86400000);
    cfg->notify_scan_ms = env_i64("SHOPD_NOTIFY_SCAN_MS", 500, 10, 60000);
    cfg->notify_lease_ms = env_i64("SHOPD_NOTIFY_LEASE_MS", 60000, 100, 86400000);
    cfg->notify_rate = env_i64("SHOPD_NOTIFY_RATE", 0, 0, 100000000);
    cfg->notify_nice = (int)env_i64("SHOPD_NOTIFY_NICE", 10, 0, 19);
    cfg->fanout_chunk = (int)env_i64("SHOPD_FANOUT_CHUNK", 2000, 1, 100000);
    cfg->fanout_pause_ms = env_i64("SHOPD_FANOUT_PAUSE_MS", 0, 0, 60000);
    cfg->webhook_timeout_ms = env_i64("SHOPD_WEBHOOK_TIMEOUT_MS", 10000, 10, 600000);
    cfg->webhook_per_sub = (int)env_i64("SHOPD_WEBHOOK_CONCURRENCY", 16, 1, 1024);
    cfg->webhook_inflight = (int)env_i64("SHOPD_WEBHOOK_INFLIGHT", 256, 1, 10000);
    cfg->webhook_retry_window_ms =
        env_i64("SHOPD_WEBHOOK_RETRY_WINDOW", 86400, 1, 30 * 86400) * 1000;
    cfg->webhook_backoff_ms = env_i64("SHOPD_WEBHOOK_BACKOFF_MS", 5000, 1, 86400000);
    cfg->webhook_backoff_max_ms = env_i64("SHOPD_WEBHOOK_BACKOFF_MAX_MS", 3600000, 1, 86400000);
    cfg->webhook_disable_after_ms =
        env_i64("SHOPD_WEBHOOK_DISABLE_AFTER", 3 * 86400, 1, 365 * 86400) * 1000;
    cfg->webhook_rotation_ms =
        env_i64("SHOPD_WEBHOOK_ROTATION_WINDOW", 86400, 0, 30 * 86400) * 1000;
    cfg->webhook_scan_ms = env_i64("SHOPD_WEBHOOK_SCAN_MS", 250, 10, 60000);

    env_copy("SHOPD_SMTP_URL", "", cfg->smtp_url, sizeof cfg->smtp_url);
    env_copy("SHOPD_SMTP_FROM", "shop@localhost", cfg->smtp_from, sizeof cfg->smtp_from);
    env_copy("SHOPD_SMTP_USER", "", cfg->smtp_user, sizeof cfg->smtp_user);
    env_copy("SHOPD_SMTP_PASSWORD", "", cfg->smtp_password, sizeof cfg->smtp_password);
    env_copy("SHOPD_SMTP_UNSUBSCRIBE_URL", "", cfg->smtp_unsubscribe,
             sizeof cfg->smtp_unsubscribe);
    cfg->smtp_conns = (int)env_i64("SHOPD_SMTP_CONNS", 4, 1, 64);
    cfg->smtp_timeout_ms = (int)env_i64("SHOPD_SMTP_TIMEOUT_MS", 15000, 100, 600000);
    env_copy("SHOPD_SMTP_TLS", *cfg->smtp_user ? "require" : "try", cfg->smtp_tls,
             sizeof cfg->smtp_tls);
    env_copy("SHOPD_SMTP_CA_FILE", "", cfg->smtp_ca_file, sizeof cfg->smtp_ca_file);

    cfg->shed_sample_ms = env_i64("SHOPD_SHED_SAMPLE_MS", 250, 10, 60000);
    cfg->shed_p99_ms = env_i64("SHOPD_SHED_P99_MS", 500, 1, 600000);
    cfg->shed_queue = env_i64("SHOPD_SHED_QUEUE", 2000, 1, 100000000);
    cfg->shed_enter_ms = env_i64("SHOPD_SHED_ENTER_MS", 3000, 10, 3600000);
    cfg->shed_exit_ms = env_i64("SHOPD_SHED_EXIT_MS", 10000, 10, 3600000);
    cfg->shed_exit_pct = (int)env_i64("SHOPD_SHED_EXIT_PCT", 50, 1, 100);
    cfg->shed_auto_max = (int)env_i64("SHOPD_SHED_AUTO_MAX", 2, 0, 3);
    cfg->shed_retry_after_s = (int)env_i64("SHOPD_SHED_RETRY_AFTER", 5, 1, 3600);
    cfg->shed_max_age_s = (int)env_i64("SHOPD_SHED_MAX_AGE", 60, 1, 86400);

    cfg->review_new_account_ms =
        env_i64("SHOPD_REVIEW_NEW_ACCOUNT_HOURS", 24, 0, 24 * 365) * 3600 * 1000;
}

bool config_rate(const char *cls, const char *scope, double *rate, int64_t *burst)
{
    char name[64];
    snprintf(name, sizeof name, "SHOPD_RATE_%s_%s", cls, scope);
    for (char *p = name; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const char *s = getenv(name);
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double r = strtod(s, &end);
    if (errno || end == s || *end != '/' || !(r >= 0 && r <= 1e9))
        goto bad;
    const char *b = end + 1;
    long long n = strtoll(b, &end, 10);
    if (errno || end == b || *end || n < 0 || n > 1000000000 || (r > 0 && n < 1))
        goto bad;
    *rate = r;
    *burst = n;
    return true;
bad:
    log_event(LOG_WARN, "config.ignored", "{s:s, s:s}", "variable", name, "value", s);
    return false;
}
