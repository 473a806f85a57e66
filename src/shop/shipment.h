/* shipment.h — fulfilment: from a paid order to the doorstep (ORD-2, ORD-4,
 * OPS-1), and the order status that follows from it.
 *
 * Allocation happened at checkout: each line's units were taken from the
 * warehouses shop/allocation.h picked, and the consumed reservation rows
 * say which. A fulfil (admin: the whole order; a seller: their own lines)
 * ships what is not yet shipped:
 *   - units a line has in a warehouse (consumed there, not yet in a
 *     shipment) go into that warehouse's shipment;
 *   - backordered units (sold with no stock: products that allow it) are
 *     taken now from the warehouses the allocation rule picks, if any has
 *     them; the rest stay backordered and a later fulfil ships them;
 *   - one shipment per warehouse per call; each gets a label from the
 *     carrier (ext/carrier.h) after the shipments are committed.
 *
 * A fulfil is three steps, like checkout: (1) one write claims the
 * Idempotency-Key, plans, and records the shipments, their lines and the
 * units (order_lines.shipped_qty) — so two fulfils at once never ship a
 * unit twice; (2) labels are requested outside any transaction, each with
 * the key "shipment-<id>" and retried on a timeout with the same key, so
 * the carrier never makes two; (3) one write records the tracking numbers
 * and the answer. A label the carrier refuses (undeliverable address)
 * undoes its shipment (its units are unshipped again) and the call
 * answers 422 when nothing shipped; a label still unanswered after the
 * retries stays pending (tracking_number null) and housekeeping asks again.
 *
 * Shipment state machine (shipment_move is the only way to change it; every
 * move appends an event; an illegal move is SHOP_CONFLICT):
 *
 *   label_created ──► in_transit ──► out_for_delivery ──► delivered
 *                          │  └─────────────┐    │ ▲
 *                          └─► delivered     ▼    ▼ │ (a new attempt)
 *                                        delivery_failed ──► returned_to_sender
 *
 * out_for_delivery counts an attempt; the third delivery_failed moves on
 * to returned_to_sender by itself. Who moves it: the carrier's signed
 * callbacks (POST /v1/carrier/events) and admins (PATCH
 * /v1/admin/shipments/{id}; an illegal move is 409).
 * returned_to_sender restocks the shipment's units in its warehouse
 * (audited as "return"), marks them undelivered on their lines, and
 * refunds them (price and tax share; the shipping too when nothing of the
 * order is left to deliver), exactly once: the move happens once.
 *
 * Carriers retry a callback until they get a 2xx, and deliver callbacks out
 * of order, so for a callback shipment_move answers "nothing to do" (204,
 * no event row, no news) when it is
 *   - a replay: the same bytes as an event already kept (see the event key
 *     in move_write), or a status the shipment has now;
 *   - stale: a move that is illegal from the current status to a status the
 *     shipment already went through (it has an event of that status):
 *     in_transit once it is out for delivery, delivery_failed or
 *     out_for_delivery once delivered. The state machine never leads back
 *     to them from where the shipment is, so the callback cannot be news:
 *     it is a late or retried report of what its events already show.
 * An illegal move to a status it never had (returned_to_sender from
 * in_transit, delivered after returned_to_sender) is SHOP_CONFLICT (409):
 * the carrier and the shop disagree, and someone has to look.
 *
 * Times. A move happens at the carrier's `at` when it gives one, else at
 * the time the shop received it. `at` sets delivered_at, which starts the
 * return window, so it must lie within the shipment's life: more than
 * SHIPMENT_AT_SKEW_MS ahead of the shop's clock, or that much before the
 * shipment was created (its label requested), is SHOP_INVALID on "at" and
 * changes nothing; within the skew it is moved to the nearer bound (an
 * event never happens before its shipment existed, nor after the shop
 * heard of it). An `at` earlier than the shipment's latest event is kept
 * as the carrier gave it — it is the carrier's word on when the parcel
 * arrived — and events are listed in the order the shipment made its moves
 * (their ids, the state machine's order), not sorted by `at`.
 *
 * The order's status follows from its shipments, by order_status_sync
 * alone, after every change to lines or shipments. Over the units still
 * to deliver (lines not cancelled, less undelivered ones):
 *   all in delivered shipments              → delivered
 *   all in shipments that left the warehouse → shipped
 *   some                                    → partially_shipped
 *   none left yet, but a shipment exists    → fulfilling
 *   no shipment                             → paid
 * and an order whose every unit came back undelivered is cancelled.
 * Only orders in paid … delivered are touched.
 *
 * Events (outbox, for notifications and webhooks): order.shipped (a
 * shipment left), order.out_for_delivery, order.delivery_failed,
 * order.delivered (a shipment arrived), each with the shipment's id.
 */
#ifndef SHOP_SHOP_SHIPMENT_H
#define SHOP_SHOP_SHIPMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct arena;
struct db;
struct principal;
struct shop;

enum shipment_status {
    SHIP_LABEL_CREATED,
    SHIP_IN_TRANSIT,
    SHIP_OUT_FOR_DELIVERY,
    SHIP_DELIVERED,
    SHIP_DELIVERY_FAILED,
    SHIP_RETURNED_TO_SENDER,
    SHIP_STATUS_COUNT
};

#define SHIPMENT_MAX_FAILURES 3
/* How far a carrier's `at` may be outside the shipment's life (clock skew). */
#define SHIPMENT_AT_SKEW_MS (5 * 60 * 1000LL)

const char *shipment_status_name(enum shipment_status s);
/** -1 when unknown. */
int shipment_status_parse(const char *s);
bool shipment_move_allowed(enum shipment_status from, enum shipment_status to);

struct shipment_line {
    int64_t order_line_id, variant_id, quantity;
};

struct shipment_event {
    const char *status, *detail; /* detail may be NULL */
    int64_t at;
};

struct shipment {
    int64_t id, order_id, warehouse_id, seller_id;   /* seller_id 0: the shop's */
    int64_t user_id;                                 /* the order's owner */
    const char *carrier, *service, *tracking_number; /* tracking NULL until labelled */
    const char *status;
    int64_t attempts, created_at, updated_at, delivered_at;
    struct shipment_line *lines;
    int nlines;
    struct shipment_event *events;
    int nevents;
};

/** Reads a shipment with its lines and events into `a` (inside a read or
 *  write). SHOP_NOT_FOUND when absent. */
enum shop_err shipment_read(struct db *db, int64_t id, struct arena *a, struct shipment *out,
                            struct problem *pb);

/** The caller's shipment: any for an admin, the buyer's, a seller's own;
 *  of a parcel an admin packed, a seller sees it with only their lines (404
 *  when it holds none). */
enum shop_err shipment_get(struct shop *shop, const struct principal *who, int64_t id,
                           struct arena *a, struct shipment *out, struct problem *pb);

/** The order's shipments (or only a seller's, seller_id > 0), oldest first. */
int shipment_list(struct db *db, int64_t order_id, int64_t seller_id, struct arena *a,
                  struct shipment **out);

/** The shipment as the API shows it (Shipment in docs/openapi.yaml). */
json_t *shipment_json(const struct shipment *s);

/** The key carrier callbacks are signed with: SHOPD_CARRIER_SECRET, or when
 *  it is unset one made at random the first time and kept in the database
 *  (settings 'carrier_secret'), so every process of the shop, and its
 *  simulated carrier, agree on it and nobody outside knows it. Into
 *  shop->cfg.carrier_secret, at start. */
enum shop_err carrier_secret_load(struct shop *shop, struct problem *pb);

/* ---- fulfil ------------------------------------------------------------------ */

struct backorder {
    int64_t order_line_id, quantity;
};

/** What a fulfil did (a replay: what the first call did). */
struct fulfil_result {
    bool replayed;
    int64_t shipment_ids[64]; /* the shipments it created */
    int nship;
    struct backorder back[100]; /* units left backordered */
    int nback;
    int nrefused; /* shipments undone because the carrier refused them */
    /* The answer, {order_id, shipments, backordered}, as JSON text
     * (malloc'd, the caller frees): rendered once, when the shipments were
     * made, stored with the key, and given again as it was to a replay. */
    char *answer;
    size_t answer_len;
};

/** Ships what is shippable of an order: every line for an admin, only the
 *  seller's own lines when `who` is a seller (as_seller). `key` is the
 *  Idempotency-Key. SHOP_CONFLICT when the order is not paid, fulfilling or
 *  partially_shipped, or nothing is left to ship; SHOP_INVALID when the
 *  carrier refused every label (undeliverable address). */
enum shop_err fulfil_order(struct shop *shop, const struct principal *who, bool as_seller,
                           int64_t order_id, const char *key, struct fulfil_result *out,
                           struct problem *pb);

/** Housekeeping: asks the carrier again for labels still pending. */
int fulfil_labels_retry(struct shop *shop);

/* ---- moves ------------------------------------------------------------------- */

struct shipment_move_in {
    int64_t shipment_id;  /* or */
    const char *tracking; /* the carrier's number (callbacks) */
    enum shipment_status to;
    const char *detail;    /* may be NULL */
    int64_t at;            /* when it happened (0: now); see "Times" above */
    const char *event_key; /* a callback's digest (NULL for admins) */
    bool by_attempt;       /* the callback has no time of its own: the same bytes at
                              another attempt or failure count are a new event */
    bool from_carrier;     /* a status it has or went through is a replay, not a
                              conflict (see above) */
};

/** Moves a shipment (see the state machine). *changed is false for a
 *  replayed or stale callback, which changes nothing. SHOP_INVALID on "at"
 *  for a time outside the shipment's life, SHOP_CONFLICT for an illegal
 *  move, SHOP_NOT_FOUND for an unknown shipment; nothing changed then. */
enum shop_err shipment_move(struct shop *shop, const struct shipment_move_in *in, int64_t *id,
                            bool *changed, struct problem *pb);

/* ---- work queues (order_queue.c) ---------------------------------------------------- */

/** Admin: orders, oldest first, optionally in one status: {data, next_cursor}. */
enum shop_err order_queue_admin(struct shop *shop, const char *status, int limit,
                                const char *cursor, json_t **out, struct problem *pb);

/** A seller's orders (those holding their products), oldest first, each
 *  with only the seller's lines and shipments: {data, next_cursor}. */
enum shop_err order_queue_seller(struct shop *shop, int64_t seller_id, const char *status,
                                 int limit, const char *cursor, json_t **out, struct problem *pb);

/* ---- the order's status --------------------------------------------------------- */

/** Inside a write: sets the order's status from its lines and shipments
 *  (the rule above). */
enum shop_err order_status_sync(struct db *db, int64_t order_id, struct problem *pb);

#endif
