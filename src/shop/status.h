/* status.h — one way to move an entity's status (orders, returns, …):
 * change it only if it is still what the caller read, and append the move
 * to the entity's history, in the caller's write transaction. Which moves
 * are legal is each state machine's own business (its essay and table);
 * this is only the "still X → Y, and remember it" step they all share.
 */
#ifndef SHOP_SHOP_STATUS_H
#define SHOP_SHOP_STATUS_H

#include <stdint.h>

#include "util/problem.h"

struct db;

/** An entity's two statements, as static literals (the statement cache is
 *  keyed by the literal):
 *    update_sql   binds ?1 to, ?2 now, ?3 id, ?4 from; may set more columns
 *                 from them (e.g. paid_at = CASE WHEN ?1 = 'paid' …)
 *    history_sql  binds the entity id, the status, the note, the time */
struct status_book {
    const char *what; /* for messages: "order", "return" */
    const char *update_sql, *history_sql;
};

/** Moves entity `id` from `from` to `to` and appends history (note may be
 *  NULL). SHOP_CONFLICT when it is no longer `from`. */
enum shop_err status_move(struct db *db, const struct status_book *b, int64_t id,
                          const char *from, const char *to, const char *note, int64_t at,
                          struct problem *pb);

#endif
