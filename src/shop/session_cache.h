/* session_cache.h — resolved sessions kept in memory, so an authenticated
 * request costs no database read.
 *
 * Keyed by the token's digest. An entry is trusted until the session's
 * expiry or SESSION_CACHE_TRUST_MS after it was read, whichever is first;
 * revoking a session (logout, a guest session ending at login) removes it
 * here at once and, for other processes, through the `session.revoked`
 * event their change feed applies within 100 ms. The change feed alone is
 * not enough: it waits for the oldest transaction that has written in the
 * shop's PostgreSQL database (docs/OPERATIONS.md), so a stuck migration or
 * an idle psql session would keep a logged-out token working on the other processes for
 * as long as it stays open. The trust bound caps that at a second, for one
 * database read per token per second per process. Bounded: past `max`
 * entries an arbitrary one is dropped (it is only a cache).
 */
#ifndef SHOP_SHOP_SESSION_CACHE_H
#define SHOP_SHOP_SESSION_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shop/account.h"

/* How long a session read from the database is believed without reading
 * it again: a revocation the change feed has not delivered takes effect
 * everywhere within this. */
#define SESSION_CACHE_TRUST_MS 1000

struct session_cache;

struct session_cache *session_cache_new(size_t max);
void session_cache_free(struct session_cache *c);

/** True (and `who`, `guest` filled) when `digest` is cached and unexpired. */
bool session_cache_get(struct session_cache *c, const char *digest, int64_t now,
                       struct principal *who, bool *guest);

void session_cache_put(struct session_cache *c, const char *digest, const struct principal *who,
                       bool guest, int64_t expires_at);

/** Forgets the session with this id (user or guest). */
void session_cache_revoke(struct session_cache *c, int64_t session_id);

#endif
