/* status.h — "move a status only if it is still X, and append history",
 * written once for every entity with a state machine (ENGINEERING §7):
 * reviews now; orders, listings, shipments, returns and promotions can
 * describe themselves the same way.
 *
 * An entity describes its machine in a `struct status_machine`: its state
 * names as stored, the moves each state allows, and two SQL texts (string
 * literals: the statement cache is keyed by their address):
 *
 *   update_sql   ?1 the new status, ?2 now (ms), ?3 the id, ?4 the old
 *                status; it must end in "WHERE id = ?3 AND status = ?4" so
 *                that the move happens only if the row is still in the
 *                state the caller read. It may set other columns from ?1
 *                and ?2 (paid_at = CASE WHEN ?1 = 'paid' …).
 *   history_sql  ?1 the id, ?2 the new status, ?3 the note, ?4 now.
 *
 * status_move refuses a move the machine does not allow (SHOP_CONFLICT
 * naming both states) and a row that is no longer in `from`
 * (SHOP_CONFLICT "changed meanwhile"), and changes nothing then. A move to
 * the same state is a move like any other when the machine allows it
 * (a review edit applied: approved → approved), so history shows it.
 */
#ifndef SHOP_SHOP_STATUS_H
#define SHOP_SHOP_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct db;

struct status_machine {
    const char *entity;       /* "review": names it in problems */
    const char *const *names; /* [count] state names as stored */
    int count;                /* at most 32 */
    const unsigned *allowed;  /* [count] allowed[from]: bit (1u << to) per allowed move */
    const char *update_sql;   /* see above */
    const char *history_sql;
};

/** The stored name of state `s` ("unknown" out of range). */
const char *status_name(const struct status_machine *m, int s);

/** The state named `s`, -1 when none. */
int status_parse(const struct status_machine *m, const char *s);

/** True when the machine allows from → to. */
bool status_allowed(const struct status_machine *m, int from, int to);

/** Inside a write function: moves row `id` from `from` to `to` when the
 *  machine allows it and the row is still `from`, and appends history with
 *  `note` (may be NULL). On any error nothing changed (the caller's write
 *  fails with it). */
enum shop_err status_move(struct db *db, const struct status_machine *m, int64_t id, int from,
                          int to, const char *note, int64_t now, struct problem *pb);

/** Inside a write function: records in history that row `id` was created
 *  in state `to` (the INSERT is the caller's). */
enum shop_err status_enter(struct db *db, const struct status_machine *m, int64_t id, int to,
                           const char *note, int64_t now, struct problem *pb);

#endif
