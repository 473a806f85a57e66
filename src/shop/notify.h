/* notify.h — notifications: what is owed to whom, durably (NTF-1…4).
 *
 * WHAT IT DOES
 *
 * Something happens — an order is confirmed, a wishlisted product's price
 * drops, a flash sale starts — and some users must hear about it on the
 * channels they opted into (push, email, sms). The trigger records a
 * *message* (what to say, once per event) and either the notification rows
 * of one user at once (orders) or a *fan-out*: a durable promise to create
 * the rows for every wishlister of a product, kept by a background worker
 * in chunks (work/fanout.c). Sender threads (work/notify_send.c) hand the
 * rows to the channel's provider (ext/notify_provider.h) and record the
 * outcome.
 *
 *   trigger ─► notify_messages ─┬─► notifications (one user, same tx)
 *                               └─► notify_fanouts ─► chunk by chunk ─► notifications
 *   notifications (pending) ─► sender ─► provider ─► state recorded
 *
 * INVARIANTS
 *
 *  1. Dedup: at most one notification row per (message, user, channel), and
 *     one message per event key (UNIQUE indexes; every insert is ON CONFLICT
 *     DO NOTHING). Re-running a trigger, a consumer's redelivered event or a
 *     resumed fan-out creates nothing twice.
 *  2. Nothing owed is lost: a trigger's message, fan-out and rows commit in
 *     the trigger's own transaction (or the caller's, when called inside a
 *     write function). A fan-out chunk's rows commit together with its
 *     cursor, so after a crash the fan-out resumes after the last committed
 *     chunk: no wishlister skipped, none given a second row.
 *  3. At least once: a row leaves pending/failed only after its provider
 *     accepted (sent), refused it for good or ran out of attempts (dead), or
 *     it could not be addressed (skipped). A crash between the hand-over and
 *     the commit hands it over again; the notification id travels with it
 *     as an idempotency key.
 *  4. One hand-over at a time per row within a process: a row is in the
 *     engine's in-flight set from the moment it is queued until its outcome
 *     is committed, and the retry scan skips what is in flight.
 *  5. Preferences are respected twice: rows are created only for channels
 *     the user has opted into and can be reached on, and the sender checks
 *     again (an opt-out in between skips the row).
 *
 * STATE MACHINE (notifications.state)
 *
 *     pending ──provider accepts─────────────────────► sent
 *        │    ──no address / opted out───────────────► skipped
 *        │    ──provider refuses for good────────────► dead
 *        └────provider fails (attempts < max)────────► failed
 *     failed ──next_at reached: handed over again, same outcomes as pending;
 *              attempts == max ──────────────────────► dead
 *     dead ──notify_dead_letter_retry (admin)────────► pending (attempts 0)
 *
 *   pending → * and failed → *: work/notify_send.c ack_write();
 *   failed retries at now + backoff(attempts) (exponential, capped, with
 *   jitter), picked up by the engine's due scan; dead → pending:
 *   notify_dead_letter_retry(). sent and skipped are final.
 *
 * STATE MACHINE (notify_fanouts.state)
 *
 *     running ──chunk: rows for wishlisters (cursor, next cursor]──► running
 *     running ──chunk reaching the end of the reverse index─────────► done
 *
 *   Both in work/fanout.c fanout_step(); the cursor moves only forward and
 *   only by a conditional UPDATE (… WHERE cursor_user = the one read), so
 *   two workers never create one chunk twice.
 */
#ifndef SHOP_SHOP_NOTIFY_H
#define SHOP_SHOP_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ext/notify_provider.h"
#include "util/problem.h"

struct shop;
struct db;

/** notifications.state */
enum notify_state {
    NOTIFY_PENDING = 0,
    NOTIFY_SENT = 1,
    NOTIFY_FAILED = 2,
    NOTIFY_DEAD = 3,
    NOTIFY_SKIPPED = 4,
};

const char *notify_state_name(enum notify_state s);

#define NOTIFY_KEY_MAX   100 /* a fan-out key given by an admin */
#define NOTIFY_TITLE_MAX 200
#define NOTIFY_BODY_MAX  1000

/** What a trigger wants said. `key` names the event (the dedup key); data
 *  is a JSON object or NULL (borrowed). */
struct notify_spec {
    const char *key, *kind, *title, *body;
    json_t *data;
};

/** NTF-4: the flash sale `sale_id` on `product_id` has started; every user
 *  who wishlisted the product is to be told once (event key
 *  "flash_sale:<sale_id>"). Records the fan-out durably and returns; the
 *  engine does the rest in the background. Idempotent: calling it again for
 *  the same sale changes nothing. May be called inside a write function, and
 *  then commits with the caller's transaction (whose committer wakes the
 *  engine with notify_kick; else its next scan finds the work). Errors: SHOP_NOT_FOUND (no
 *  such product), SHOP_CONFLICT (the sale was announced for another
 *  product); nothing changed. */
enum shop_err notify_flash_sale_started(struct shop *shop, int64_t sale_id, int64_t product_id,
                                        struct problem *pb);

/** Records a fan-out of `spec` to every wishlister of `product_id`. *id gets
 *  the fan-out, *created whether it is new (an existing one with the same
 *  key is returned; SHOP_CONFLICT when it is for another product). */
enum shop_err notify_fanout_create(struct shop *shop, int64_t product_id,
                                   const struct notify_spec *spec, int64_t *id, bool *created,
                                   struct problem *pb);

/** The admin's generic fan-out: every wishlister of `product_id` hears
 *  once about `key` (event key "fanout:<key>"). `title` and `body` may be
 *  NULL (then they name the product). Key, title and body are validated
 *  (SHOP_INVALID naming the field). */
enum shop_err notify_fanout_custom(struct shop *shop, int64_t product_id, const char *key,
                                   const char *title, const char *body, int64_t *id, bool *created,
                                   struct problem *pb);

/** The same as notify_fanout_create, inside a write function. */
enum shop_err notify_fanout_create_in(struct db *db, int64_t product_id,
                                      const struct notify_spec *spec, int64_t *id, bool *created,
                                      struct problem *pb);

/** Notifies one user of `spec` on each channel they opted into and can be
 *  reached on (rows created at once). Idempotent per (key, user). Inside a
 *  write function, the caller wakes the engine once it commits. */
enum shop_err notify_user(struct shop *shop, int64_t user_id, const struct notify_spec *spec,
                          struct problem *pb);

/** notify_user for `n` specs (specs[i] to users[i]) inside a write function
 *  (an outbox consumer's slice), in few statements: the messages 16 to a
 *  statement, then one statement per user, and no savepoint. The caller
 *  wakes the engine once it commits; on failure its write must roll back. */
enum shop_err notify_users_in(struct db *db, const struct notify_spec *specs, const int64_t *users,
                              int n, struct problem *pb);

/** NTF-2: announces stored cards whose expiry month ends within 30 days,
 *  once each (notify_cards.c). Returns how many were announced. */
int notify_cards_expiring(struct shop *shop);

/** A fan-out's progress: {id, key, product_id, state, users_total,
 *  users_done, notifications, delivery:{pending, sent, failed, dead,
 *  skipped}, created_at, finished_at}. SHOP_NOT_FOUND when absent. */
enum shop_err notify_fanout_get(struct shop *shop, int64_t id, json_t **out, struct problem *pb);

/** Dead letters, newest first: {data:[notification], next_cursor}. */
enum shop_err notify_dead_letters(struct shop *shop, int limit, const char *cursor, json_t **out,
                                  struct problem *pb);

/** Puts a dead notification back to pending with its attempts reset, and
 *  wakes the engine. *out gets it. SHOP_NOT_FOUND when absent,
 *  SHOP_CONFLICT when it is not dead (nothing changed). */
enum shop_err notify_dead_letter_retry(struct shop *shop, int64_t id, json_t **out,
                                       struct problem *pb);

/** Wakes the engine (new rows or fan-outs); a no-op without one. */
void notify_kick(struct shop *shop);

/* ---- shared by notify's files ---------------------------------------------- */

/** The notification rows owed to the users that FROM and WHERE select (SQL
 *  text; M names the message's id, U the user's): one SELECT arm per
 *  channel, so a user gets a row on each channel they have opted into
 *  (preferences joined as p; no row means the defaults) and can be reached
 *  on. Columns: message, user, channel, state 0, attempts 0, next_at
 *  (NEXT), created_at and updated_at (?2). A new channel is a new arm. */
/* clang-format off */
#define NOTIFY_ROWS(M, U, FROM, WHERE, NEXT)                                                       \
    NOTIFY_ARM(M, U, FROM, WHERE, NEXT, "0",                                                       \
               "coalesce(p.push, 1) = 1 AND EXISTS (SELECT 1 FROM devices d"                      \
               " WHERE d.user_id = " U ")")                                                        \
    " UNION ALL " NOTIFY_ARM(M, U, FROM, WHERE, NEXT, "1", "coalesce(p.email, 1) = 1")             \
    " UNION ALL " NOTIFY_ARM(M, U, FROM, WHERE, NEXT, "2",                                         \
                             "coalesce(p.sms, 0) = 1 AND EXISTS (SELECT 1 FROM addresses a"        \
                             " WHERE a.user_id = " U " AND a.is_default = 1"                       \
                             " AND coalesce(a.phone, '') <> '')")
#define NOTIFY_ARM(M, U, FROM, WHERE, NEXT, CH, OPTED_IN)                                          \
    "SELECT " M ", " U ", " CH ", 0, 0, " NEXT ", ?2, ?2 FROM " FROM                               \
    " LEFT JOIN notification_prefs p ON p.user_id = " U " WHERE " WHERE " AND " OPTED_IN
/* clang-format on */

/** "12.34 USD" for 1234 cents (into out[64]). */
const char *notify_money(int64_t cents, const char *currency, char out[64]);

#endif
