/* notify_worker.h — the notification engine: fan-out pump and senders
 * (NTF-3, NTF-4; the state machine is in shop/notify.h).
 *
 *   pump thread ─┬─ due scan: pending/failed rows whose next_at has come and
 *                │  that are not in flight (startup recovery, retries)
 *                └─ fan-out: one chunk at a time (work/fanout.c), only when
 *                   the in-flight set has room for it (back-pressure)
 *        │ rows → queue (bounded) + in-flight set
 *        ▼
 *   sender threads ×N: take a batch, resolve addresses and preferences,
 *   provider->send_batch(), then one store_write records every outcome
 *   (sent / failed with next_at / dead / skipped); only after that commit
 *   do the rows leave the in-flight set.
 *
 * The in-flight set is what keeps a row from being handed over twice in one
 * process: the due scan takes the set's lock before it starts reading, so a
 * row a sender has just finished is either still in the set or already
 * committed as done in what the scan reads. Across processes (STO-3) the
 * pump runs in one at a time, the holder of the "notify" lease
 * (work/leases.h): the others' senders idle, and rows their processes
 * create are found by the holder's due scan (every SHOPD_NOTIFY_SCAN_MS).
 * A process that takes the lease over scans as at start (every row due
 * within a row lease), so what a dead holder had in flight is sent again:
 * at least once, as everywhere else.
 *
 * Stopping: the pump and senders finish the batch in hand (its outcome is
 * committed) and leave the rest queued in the database as pending, where
 * the next start's first due scan finds it.
 */
#ifndef SHOP_WORK_NOTIFY_WORKER_H
#define SHOP_WORK_NOTIFY_WORKER_H

#include "util/buf.h"
#include "util/problem.h"

struct shop;
struct notify_engine;

/** Opens the providers configured for each channel and starts the threads.
 *  NULL with the reason in `pb` (unknown provider, webhook without URL, an
 *  unwritable directory). */
struct notify_engine *notify_engine_start(struct shop *shop, struct problem *pb);

/** Stops the threads (see above), closes the providers, frees. */
void notify_engine_stop(struct notify_engine *e);

/** Wakes the pump now: new fan-outs, or rows to retry. */
void notify_engine_kick(struct notify_engine *e);

/** Appends the engine's figures (Prometheus text). */
void notify_engine_render_metrics(struct notify_engine *e, struct buf *out);

#endif
