/* evwindow.h — the outbox events read last, shared by the dispatcher's
 * consumers (work/dispatcher.c).
 *
 * Every consumer follows the outbox on its own worker thread from its own
 * position. Each used to read every event from the database itself: with
 * eight consumers and three events per order, 24 rows read per order, 6 %
 * of a checkout's CPU on SQLite, most of them for topics the consumer then
 * skipped. Now the worker that reaches new events first reads them from the
 * database and adds them here; the others, a little behind, copy them from
 * here.
 *
 * What the window holds is a run of consecutive final events: every event
 * after `base` up to its last one, in commit order, exactly as outbox_after
 * returned them. That run never changes in the database (nothing can become
 * final before the last final event, shop/outbox.h), so an answer from the
 * window is the answer a read would have given. A worker whose position is
 * not in the window (one far behind, or one ahead of it) reads the database
 * as before; a read that starts inside the window extends it, one that
 * starts behind it leaves it alone (a slow consumer must not evict what the
 * others are reading). Past its capacity the oldest events go.
 */
#ifndef SHOP_WORK_EVWINDOW_H
#define SHOP_WORK_EVWINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "shop/outbox.h"

struct evwindow;

/** An event as read from the outbox, with its place in commit order. */
struct window_event {
    struct outbox_pos pos;
    char *topic, *payload;
    int64_t aggregate_id, created_at;
};

struct evwindow *evwindow_new(int capacity);
void evwindow_free(struct evwindow *w);

/** Calls `take(cls, ev)` for each event after `from` the window holds, at
 *  most `max`, in order, under the window's lock (`ev`'s strings are valid
 *  during the call only). Returns how many, or -1 when `from` is not in the
 *  window (read the database). 0: the window holds nothing after `from`. */
int evwindow_read(struct evwindow *w, struct outbox_pos from, int max,
                  void (*take)(void *cls, const struct window_event *ev), void *cls);

/** Adds what a read of the database returned: the `n` events that follow
 *  `from`, all of them up to the last. Takes their strings (malloc'd): the
 *  window keeps those it keeps and frees the others. */
void evwindow_add(struct evwindow *w, struct outbox_pos from, const struct window_event *evs,
                  int n);

#endif
