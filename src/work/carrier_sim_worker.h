/* carrier_sim_worker.h — the simulated carrier's own clock, when
 * SHOPD_CARRIER_SIM=auto: every parcel moves one status on per
 * SHOPD_CARRIER_STEP_MS (carrier_sim_advance), and each step is reported to
 * the shop as a real carrier would, by a signed POST to
 * /v1/carrier/events (SHOPD_CARRIER_CALLBACK_URL; by default this
 * process's own). A step the shop did not take (no answer, 5xx) is tried
 * again on the next tick. Runs where its lease is held: one process of the
 * shop. */
#ifndef SHOP_WORK_CARRIER_SIM_WORKER_H
#define SHOP_WORK_CARRIER_SIM_WORKER_H

#include "util/problem.h"

struct shop;
struct carrier_worker;

struct carrier_worker *carrier_worker_start(struct shop *shop, const char *callback_url,
                                            struct problem *pb);
void carrier_worker_stop(struct carrier_worker *w);

#endif
