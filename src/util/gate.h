/* gate.h — at most N callers inside at once, the rest served in arrival
 * order, none waiting longer than it is willing to.
 *
 * For work that is heavy on the CPU and not urgent (a year's sales report is
 * about a millisecond of CPU): sixteen of them at once on two cores all
 * finish late, each preempted by the others, and take the cores from
 * product pages and checkout while they run. Through a gate as wide as the
 * machine has cores they queue instead, first come first served, so each
 * waits for those ahead of it and then runs without interruption: the same
 * throughput, a latency that is the queue's length and not the scheduler's
 * luck, and the rest of the shop keeps a share of the CPU.
 *
 * A waiter that is not let in within its time limit leaves the queue, and
 * the caller answers "busy" (503) rather than holding a connection for ever.
 */
#ifndef SHOPD_UTIL_GATE_H
#define SHOPD_UTIL_GATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct gate_waiter;

struct gate {
    pthread_mutex_t mu;
    int inside, width;
    struct gate_waiter *head, *tail; /* waiting, oldest first */
};

/** A gate letting `width` (≥ 1) callers in at once. */
void gate_init(struct gate *g, int width);
void gate_destroy(struct gate *g);

/** Waits for a place, in arrival order, for at most `timeout_ms`; false
 *  when the time ran out (the caller is then not inside). */
bool gate_enter(struct gate *g, int64_t timeout_ms);

/** Leaves; the oldest waiter, if any, takes the place. */
void gate_leave(struct gate *g);

/** Callers waiting now. */
int gate_waiting(struct gate *g);

#endif
