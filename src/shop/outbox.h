/* outbox.h — events written in the same transaction as the change they
 * describe (SPEC §0). Workers read them in commit order; see
 * work/dispatcher.c and work/changefeed.c.
 *
 * Commit order. With one writer at a time (SQLite), ids grow in commit
 * order, and a reader that has seen id N has seen everything below it. With
 * writers side by side (PostgreSQL) they do not: a transaction that took id
 * 10 can commit after one that took id 11 was read, and a reader at 11
 * would skip 10 forever. So every event also carries its transaction's id
 * (`txid`: pg_current_xact_id() there, 0 on SQLite), readers follow the
 * pair (txid, id), and they read only events below `outbox_horizon`: the
 * oldest transaction still running that may be this database's (one whose
 * backend is connected to another database cannot write here; migration
 * 0036). No event can appear below the horizon later, so a reader's position
 * never passes one that is still to come. A long transaction holds events
 * back (latency), never loses one.
 */
#ifndef SHOP_SHOP_OUTBOX_H
#define SHOP_SHOP_OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
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

/** Whether `topic` is an event type the shop writes. The list is in
 *  outbox.c, beside outbox_emit: a change that emits a new type adds it
 *  there, or webhooks (shop/webhook.h) cannot subscribe to it. */
bool outbox_topic_known(const char *topic);

/** Appends an event; call it inside a write function. Steals `payload`
 *  (NULL means {}). */
enum shop_err outbox_emit(struct db *db, const char *topic, int64_t aggregate_id, json_t *payload,
                          struct problem *pb);

/** outbox_emit with a payload already rendered as JSON text (NULL means {}):
 *  for a writer that emits the same payload many times. */
enum shop_err outbox_emit_text(struct db *db, const char *topic, int64_t aggregate_id,
                               const char *payload, struct problem *pb);

/** A place in the outbox's commit order (see above); {0, 0} is before
 *  every event. */
struct outbox_pos {
    int64_t txid, id;
};

/** <0, 0 or >0 as `a` comes before, at or after `b`. */
int outbox_pos_cmp(struct outbox_pos a, struct outbox_pos b);

/** The newest event's id (0 when there is none), or `dflt` when the
 *  database cannot say. For lag figures: ids are not positions. */
int64_t outbox_newest(struct db *db, int64_t dflt);

/** The final events after `from` in commit order, at most `limit`, leaving
 *  out those written by process `skip_origin` (-1: none). The statement's
 *  columns: txid, id, topic, aggregate_id, payload, created_at; step it to
 *  the end or db_release. NULL on a database error. */
struct stmt *outbox_after(struct db *db, struct outbox_pos from, int limit, int64_t skip_origin);

/** The position of the last event that is final (below the horizon), or
 *  `dflt` when there is none or the database cannot say. A reader that
 *  starts here misses nothing still to come. */
struct outbox_pos outbox_final(struct db *db, struct outbox_pos dflt);

/** The position of the last event committed, final or not yet, or `dflt`
 *  when there is none or the database cannot say. A reader at this
 *  position has seen everything written so far. */
struct outbox_pos outbox_last(struct db *db, struct outbox_pos dflt);

/** The event at `at`, when it is still in the outbox: its topic (cut to
 *  `cap`), aggregate id and creation time. False when it is not (purged,
 *  another database) or the database cannot say. */
bool outbox_event_at(struct db *db, struct outbox_pos at, char *topic, size_t cap,
                     int64_t *aggregate, int64_t *created_at);

/** Deletes events up to `handled` (the last one every consumer has
 *  handled) that are older than shop->cfg.outbox_keep_ms, oldest first,
 *  OUTBOX_PURGE_CHUNK per write, at most `max_chunks` writes. `*deleted`
 *  gets how many went. */
#define OUTBOX_PURGE_CHUNK 5000
struct shop;
enum shop_err outbox_purge(struct shop *shop, struct outbox_pos handled, int max_chunks,
                           int64_t *deleted, struct problem *pb);

#endif
