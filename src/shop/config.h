/* config.h — every tunable of the shop in one place, with its default and
 * its environment variable (read once at start; see docs/ARCHITECTURE.md).
 */
#ifndef SHOP_SHOP_CONFIG_H
#define SHOP_SHOP_CONFIG_H

#include <stdint.h>

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
};

/** Defaults, then the environment. */
void config_load(struct shop_config *cfg);

#endif
