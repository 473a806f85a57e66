/* session_cache.h — resolved sessions kept in memory, so an authenticated
 * request costs no database read.
 *
 * Keyed by the token's digest. An entry is trusted until its expiry;
 * revoking a session (logout, a guest session ending at login) removes it
 * here at once and, for other processes, through the `session.revoked`
 * event their change feed applies within 100 ms. Bounded: past `max`
 * entries an arbitrary one is dropped (it is only a cache).
 */
#ifndef SHOP_SHOP_SESSION_CACHE_H
#define SHOP_SHOP_SESSION_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shop/account.h"

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
