/* leases.h — what runs once per shop, whichever process runs it (STO-3).
 *
 * Several shopd processes on one database are one shop: the scheduler,
 * housekeeping (reconciliation, purges), the notification pump and each
 * outbox consumer must run in one of them at a time, not in all. Each such
 * role is a named lease (table `leases`): held by one process until it
 * expires, renewed by its holder, taken over by another process once it has
 * expired — which is how a crashed process's roles move on.
 *
 * Every process also beats a heartbeat (table `instances`), so others can
 * tell a live process's work in flight (a card payment its checkout is
 * still making) from a dead one's (reconciliation settles only the dead's).
 *
 * One keeper thread per process does both in one write every lease/3
 * (SHOPD_LEASE_MS, default 3 s): it beats, renews the leases it holds and
 * tries to take the ones it wants. A role asks `lease_held` before each round
 * of its work; the answer is true until two thirds of the lease after the
 * keeper's last successful renewal, so a process cut off from the database
 * stops acting before another may take over. On a clean stop the process
 * gives its leases and its heartbeat up at once.
 *
 * On one process (SQLite, or one process on PostgreSQL) it holds every
 * lease from its first keeper write, taken before serve answers requests.
 * Clocks: expiry is the database rows' wall-clock time, written by each
 * process from its own clock; processes on different hosts need their
 * clocks in step (NTP) to well within a lease.
 */
#ifndef SHOP_WORK_LEASES_H
#define SHOP_WORK_LEASES_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/problem.h"

struct shop;
struct leases;
struct lease;

/** Starts the keeper: the first heartbeat and lease write happen before it
 *  returns. NULL (reason in `pb`) when that write fails. */
struct leases *leases_start(struct shop *shop, struct problem *pb);

/** The lease named `name` (≤ 63 bytes), which this process wants from now
 *  on; the same handle for the same name. Taken at the keeper's next round,
 *  which the call starts, when free. */
struct lease *leases_want(struct leases *ls, const char *name);

/** True while this process holds `l` (see above). NULL: true (a role run
 *  without a keeper, as in unit tests). */
bool lease_held(const struct lease *l);

/** How many times this process has taken `l` since start: a role that
 *  sees it grow must reread what another process may have moved meanwhile
 *  (a consumer's position). */
uint64_t lease_taken(const struct lease *l);

/** Stops the keeper and gives up every lease and the heartbeat (call after
 *  the roles have stopped). */
void leases_stop(struct leases *ls);

/** Processes of the shop alive at the keeper's last round (this one
 *  included; 1 until the first round). */
int leases_processes(struct leases *ls);

/** Calls `fn(cls, n)` whenever the number of processes alive changes (and
 *  once now), e.g. to share global rate limits. One callback; NULL unsets
 *  it, after which it is never called again. */
void leases_on_processes(struct leases *ls, void (*fn)(void *cls, int n), void *cls);

/** Appends shopd_lease_held{name} 0|1 and the processes alive
 *  (Prometheus text). */
void leases_render_metrics(struct leases *ls, struct buf *out);

#endif
