/* dispatcher.h — delivers outbox events to in-process consumers, at least
 * once, in commit order (shop/outbox.h), with a stored position per
 * consumer.
 *
 * Each registered consumer gets a thread. It reads events after its stored
 * position (outbox_consumers) — from the window of events another consumer
 * has just read (work/evwindow.h) when it holds them, else from the
 * database — and handles them in slices of up to
 * DISPATCH_SLICE: one write transaction per slice runs the handler of every
 * event whose topic it wants and stores the new position, so a consumer keeps
 * up with a busy shop (one commit per slice, not per event) and what a
 * handler writes commits together with the position that says it is done.
 * Handlers therefore run on the database writer: they may read (store_db is
 * the writer's connection there) and call store_write (it nests), and must
 * not block on anything else. A handler that fails has its own writes rolled
 * back and stops its consumer at that event, which is retried with
 * exponential backoff (capped at DISPATCH_MAX_BACKOFF_MS); the events before
 * it stay done, and other consumers are not held up.
 *
 * A consumer runs in one process of the shop at a time: the one holding its
 * lease ("consumer:<name>", work/leases.h); the others wait, and the one
 * that takes it over rereads the stored position first. Handlers must still
 * be idempotent: a process that lost its lease may finish the slice in hand
 * while another starts from the stored position.
 *
 * Consumers wake when this process commits (store commit hook) and poll
 * every DISPATCH_POLL_MS for other processes' events.
 */
#ifndef SHOP_WORK_DISPATCHER_H
#define SHOP_WORK_DISPATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "shop/outbox.h"
#include "util/buf.h"
#include "util/problem.h"

#define DISPATCH_POLL_MS        100
#define DISPATCH_SLICE          64 /* events per write: bounds how long a slice holds the writer */
#define DISPATCH_WINDOW         8192 /* events the consumers share once read (evwindow.h) */
#define DISPATCH_MAX_BACKOFF_MS 30000

struct shop;
struct dispatcher;

struct outbox_event {
    int64_t id;
    const char *topic;
    int64_t aggregate_id;
    const char *payload; /* JSON text */
    int64_t created_at;
};

typedef enum shop_err (*consumer_fn)(struct shop *shop, const struct outbox_event *ev, void *cls,
                                     struct problem *pb);

/* A handler of a whole slice at once (the wanted events, in commit order),
 * for a consumer that folds many events into few writes. Its writes commit
 * with the slice's position; when it fails they are rolled back and the
 * position stays before the slice, which is retried with backoff. */
typedef enum shop_err (*consumer_slice_fn)(struct shop *shop, const struct outbox_event *const *evs,
                                           int n, void *cls, struct problem *pb);

struct consumer {
    const char *name;           /* its stored position's key; never rename */
    const char *topics;         /* comma-separated prefixes ("order.,payment."); NULL: all */
    consumer_fn fn;             /* one event at a time, or */
    consumer_slice_fn slice_fn; /* a slice at a time (fn unused) */
    void *cls;
    int batch;     /* events per read; 0: 256 */
    bool from_now; /* a new consumer starts at the newest event, not the oldest */
    /* Optional: called after a slice that handled events has committed
     * (e.g. to wake whoever acts on what the handlers wrote). */
    void (*committed)(struct shop *shop, void *cls);
    void (*free_cls)(void *cls); /* optional: frees cls when the dispatcher is freed */
};

struct dispatcher *dispatcher_new(struct shop *shop);

/** Adds a consumer (before dispatcher_start). */
void dispatcher_add(struct dispatcher *d, const struct consumer *c);

enum shop_err dispatcher_start(struct dispatcher *d, struct problem *pb);

/** Wakes every consumer (called after a commit). */
void dispatcher_kick(struct dispatcher *d);

/** Stops the consumers (finishing the event in hand) and frees. */
void dispatcher_free(struct dispatcher *d);

/** Appends each consumer's lag (newest event id − position) for /metrics. */
void dispatcher_render_metrics(struct dispatcher *d, struct buf *out);

/** The last event every consumer this binary runs has handled, by their
 *  stored positions (whichever process runs them); {0, 0} when unknown.
 *  What lies at or before it may go. */
struct outbox_pos dispatcher_handled(struct dispatcher *d);

#endif
