/* faults.h — failures on demand (ENGINEERING.md §7, issue #17).
 *
 * Compiled into every build, inert until armed. A fault is armed on a
 * point: the Nth time the point is reached after arming (optionally only
 * counting statements whose SQL contains a substring) it fails, in a mode,
 * `times` times in a row (0: every time from the Nth on, until disarmed).
 *
 *   store.stmt            a statement stepped inside a write function (the
 *                         writer's own BEGIN/SAVEPOINT/COMMIT are not
 *                         counted); error → STMT_ERROR, busy → STMT_BUSY
 *   store.read            a statement stepped on a reading connection (a
 *                         request's or a worker's reads); the same modes
 *   store.commit          the COMMIT of a write batch (and its fsync): the
 *                         batch is rolled back, its writes fail with 503
 *   gateway.authorize|capture|void|refund|status
 *   carrier.create_label
 *   notify.send           a provider's send_batch
 *
 * Modes: error (fails, nothing done), timeout (no answer, nothing done),
 * lost (done, but the answer is lost: a timeout), busy (store: the database
 * is busy), count (never fails: only counts, to learn how many times a
 * saga reaches a point).
 *
 * Armed from SHOPD_FAULTS at start, before the shop opens ("store.stmt:n=37;
 * gateway.capture:n=1:mode=timeout", fields n, times, mode, match) and,
 * where SHOPD_FAULTS_API=1, through the admin hook /v1/admin/faults (api/faults.c). The stores of
 * outside systems (the simulated gateway's books) are opened with
 * store_opts.no_faults and are never failed.
 *
 * Cost when nothing is armed: `faults_armed()`, one relaxed atomic load.
 */
#ifndef SHOP_UTIL_FAULTS_H
#define SHOP_UTIL_FAULTS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_point {
    FP_STORE_STMT,
    FP_STORE_READ,
    FP_STORE_COMMIT,
    FP_GATEWAY_AUTHORIZE,
    FP_GATEWAY_CAPTURE,
    FP_GATEWAY_VOID,
    FP_GATEWAY_REFUND,
    FP_GATEWAY_STATUS,
    FP_CARRIER_LABEL,
    FP_NOTIFY_SEND,
    FP_COUNT
};

enum fault_mode { FM_NONE = 0, FM_ERROR, FM_TIMEOUT, FM_LOST, FM_BUSY, FM_COUNT };

#define FAULT_MATCH_MAX 128

struct fault_spec {
    enum fault_point point;
    int64_t nth;   /* ≥ 1 */
    int64_t times; /* ≥ 0; 0 = until disarmed */
    enum fault_mode mode;
    char match[FAULT_MATCH_MAX]; /* store.stmt, store.read: only SQL containing this */
};

/* Nonzero while any point is armed. */
extern atomic_int faults_on;

static inline bool faults_armed(void)
{
    return atomic_load_explicit(&faults_on, memory_order_relaxed) != 0;
}

/** Reaching `p` (with `detail`: the SQL of a statement, else NULL). FM_NONE
 *  to go on as usual, or the mode in which to fail. Call only when
 *  faults_armed(). */
enum fault_mode faults_hit(enum fault_point p, const char *detail);

/** Shorthand for the hot path. */
static inline enum fault_mode faults_check(enum fault_point p, const char *detail)
{
    return faults_armed() ? faults_hit(p, detail) : FM_NONE;
}

/** Parses and arms a SHOPD_FAULTS-style list. False with the reason in
 *  `err` (nothing armed) when it does not parse. */
bool faults_configure(const char *spec, char *err, size_t errlen);

/** Arms one fault (replacing what was armed on its point; counts restart). */
void faults_arm(const struct fault_spec *f);

/** Disarms one point, or every point with FP_COUNT. */
void faults_disarm(enum fault_point p);

/** -1 when `name` is no point / mode. */
int faults_point_parse(const char *name);
int faults_mode_parse(const char *name);
const char *faults_point_name(enum fault_point p);
const char *faults_mode_name(enum fault_mode m);

/** What is armed: [{point, nth, times, mode, match, hits, fired}]; a new
 *  reference. A point disarmed since keeps its last figures until armed
 *  again, so a test can read them after disarming. */
json_t *faults_report(void);

#endif
