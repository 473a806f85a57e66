/* keylock.h — a lock on a key for the rest of a write, for a check and the
 * write that depends on it ("fewer than five failed logins for this email,
 * so record a sixth"; "under 1,000 wishlist items, so add one").
 *
 * On SQLite every write already runs alone (db_serialised), so these cost
 * nothing. On PostgreSQL writers run side by side at READ COMMITTED, and two
 * of them could both count four and both insert: a key names a lock
 * (db_lock: a transaction-level advisory lock on the key's 64-bit hash), so
 * the second writer waits at the lock until the first commits, and its
 * count, read after, sees the first's row. Locks are taken in hash order, so
 * two writes that each lock several keys cannot deadlock on them.
 */
#ifndef SHOP_SHOP_KEYLOCK_H
#define SHOP_SHOP_KEYLOCK_H

#include "util/problem.h"

struct db;

/** Locks each of `keys` (n ≤ 8) until the write commits or rolls back.
 *  Call inside a write function, before the reads it protects. */
enum shop_err keylock(struct db *db, const char *const *keys, int n, struct problem *pb);

#endif
