/* doctor.h — `shopd doctor`: a database's integrity and the shop's
 * invariants, checked from outside (OPS-6). See doctor.c. */
#ifndef SHOP_SHOP_DOCTOR_H
#define SHOP_SHOP_DOCTOR_H

#include <stdint.h>

#include "util/problem.h"

struct store;

/** Runs every check; calls `report(cls, check, detail)` once per problem
 *  found (at most DOCTOR_EXAMPLES per check, then a count) and sets
 *  `*problems` to how many were found. Errors are the store's. */
#define DOCTOR_EXAMPLES 10
enum shop_err doctor_run(struct store *s, void (*report)(void *cls, const char *check,
                                                         const char *detail),
                         void *cls, int64_t *problems, struct problem *pb);

#endif
