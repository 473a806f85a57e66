/* token.h — random secrets and their stored digests (libsodium).
 *
 * A session or guest token is 256 random bits, base64url without padding
 * (43 characters). The database only ever holds its BLAKE2b digest, so a
 * leaked database does not leak usable tokens.
 */
#ifndef SHOP_UTIL_TOKEN_H
#define SHOP_UTIL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_LEN 43       /* characters, without the NUL */
#define TOKEN_HASH_LEN 64  /* hex characters, without the NUL */

/** Initialises libsodium; call once before anything else here. */
bool token_init(void);

/** A fresh random token into out[TOKEN_LEN + 1]. */
void token_new(char out[TOKEN_LEN + 1]);

/** Hex BLAKE2b-256 digest of `s` into out[TOKEN_HASH_LEN + 1]. */
void token_hash(const char *s, size_t len, char out[TOKEN_HASH_LEN + 1]);

/** The CSRF token that goes with a session token (WEB security): base64url
 *  of a keyed BLAKE2b-256 of it, TOKEN_LEN characters. Derived, not stored,
 *  so every process of a shop agrees; a page that cannot read the HttpOnly
 *  cookie can learn it only from an answer to that same session. */
void token_csrf(const char *session_token, char out[TOKEN_LEN + 1]);

/** True when `s` looks like a token we issued (length and alphabet), so
 *  garbage is refused before any lookup. */
bool token_plausible(const char *s);

/** Uniform random 64-bit value. */
uint64_t token_rand64(void);

/** Uniform random integer in [0, n). */
uint32_t token_uniform(uint32_t n);

#endif
