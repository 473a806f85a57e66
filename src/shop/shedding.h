/* shedding.h — load shedding (OPS-3): one shop-wide level that others read
 * to do less when the shop is overloaded.
 *
 *   0 normal
 *   1 no recommendations (recommendation code asks shop_shed_level ≥ 1)
 *   2 also: public reads carry a longer cache lifetime (Cache-Control
 *     max-age SHOPD_SHED_MAX_AGE), suggestions are cached 10× longer, and
 *     search/browse answer without facets
 *   3 also: only reads, carts, checkout (and what it needs: sign-in,
 *     addresses, payment methods, flash-sale queue), orders and admin routes
 *     are served; other writes get 503 problem+json with Retry-After
 *     (shedding_route_allowed). Checkout and product pages are never shed.
 *
 * Modes. manual: the level is what an admin set (PUT
 * /v1/admin/load-shedding). auto: the level moves by itself — one level up
 * when the p99 of shopper reads over a sample (SHOPD_SHED_SAMPLE_MS) or the
 * writer's backlog (writes waiting, store_queue_peak) has stayed above its
 * threshold (SHOPD_SHED_P99_MS, SHOPD_SHED_QUEUE) for SHOPD_SHED_ENTER_MS,
 * up to SHOPD_SHED_AUTO_MAX; one level down once both have stayed below
 * SHOPD_SHED_EXIT_PCT % of their thresholds for SHOPD_SHED_EXIT_MS. Between
 * the two bands nothing moves (hysteresis). Every change is logged
 * (shed.level) and the level is in /metrics (shopd_shed_level).
 *
 * Several processes: the mode and a manual level are the shop's (the
 * settings row "load_shedding", reread by every process each second, so a
 * PUT to one process reaches all within a second); in auto mode each process
 * moves its own level by its own load, since overload is a process's own.
 *
 * Threads: one monitor thread per process (shedding_start); request threads
 * call shedding_observe_read (lock-free) and read the level (an atomic).
 */
#ifndef SHOP_SHOP_SHEDDING_H
#define SHOP_SHOP_SHEDDING_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/problem.h"

struct shop;
struct shedding;

#define SHED_MAX_LEVEL 3

/** This process's current level, 0–3 (0 when shedding is not set up). */
int shop_shed_level(const struct shop *shop);

/** Creates the state (level 0, manual) and reads the shop's setting. */
struct shedding *shedding_new(struct shop *shop);

/** Starts the monitor thread (serve only). */
enum shop_err shedding_start(struct shedding *s, struct problem *pb);

/** Stops the thread and frees. */
void shedding_free(struct shedding *s);

/** Records one shopper read's duration (request threads; lock-free). */
void shedding_observe_read(struct shedding *s, int64_t dur_ns);

struct shed_state {
    int level;
    bool auto_mode;
    int64_t changed_at;   /* ms, when the level last changed (0: never) */
    double read_p99_ms;   /* over the last sample */
    int64_t writer_queue; /* most writes waiting in the last sample */
};

void shedding_get(struct shop *shop, struct shed_state *out);

/** Sets the mode and (manual, or auto's starting point) the level for the
 *  whole shop; SHOP_INVALID for a level outside 0–3. */
enum shop_err shedding_set(struct shop *shop, int level, bool auto_mode, struct problem *pb);

/** Whether a route may run at `level` (see level 3 above). */
bool shedding_route_allowed(int level, bool read, const char *pattern);

/** shopd_shed_level and the signals (Prometheus text). */
void shedding_render_metrics(struct shedding *s, struct buf *out);

#endif
