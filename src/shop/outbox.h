/* outbox.h — events written in the same transaction as the change they
 * describe (SPEC §0). Workers read them in id order; see work/dispatcher.c.
 */
#ifndef SHOP_SHOP_OUTBOX_H
#define SHOP_SHOP_OUTBOX_H

#include <jansson.h>
#include <stdint.h>

#include "util/problem.h"

struct db;

/** This process's instance id, stored with every event it writes so its
 * own change feed can skip what it already applied (shop_open sets it). */
void outbox_set_origin(int64_t id);
int64_t outbox_origin(void);

/** How many events this thread wrote since the last call (which resets it).
 *  The store's commit hook uses it to wake consumers only when needed. */
int outbox_take_emitted(void);

/** Appends an event; call it inside a write function. Steals `payload`
 *  (NULL means {}). */
enum shop_err outbox_emit(struct db *db, const char *topic, int64_t aggregate_id, json_t *payload,
                          struct problem *pb);

/** The newest event's id (0 when there is none), or `dflt` when the
 *  database cannot say. */
int64_t outbox_newest(struct db *db, int64_t dflt);

/** Deletes events up to `handled` (the newest one every consumer has
 *  handled) that are older than shop->cfg.outbox_keep_ms, oldest first,
 *  OUTBOX_PURGE_CHUNK per write, at most `max_chunks` writes. `*deleted`
 *  gets how many went. */
#define OUTBOX_PURGE_CHUNK 5000
struct shop;
enum shop_err outbox_purge(struct shop *shop, int64_t handled, int max_chunks, int64_t *deleted,
                           struct problem *pb);

#endif
