/* account.h — users, sessions, guest sessions, roles (ACC-1, ACC-2).
 *
 * Passwords are argon2id hashes (libsodium). A session token is 256 random
 * bits handed to the client once; the database keeps its digest, an expiry
 * and a revocation time. Login issues a new token every time (no session
 * fixation) and ends the guest session presented with it. Failed logins are
 * recorded and throttled per account and per client address.
 */
#ifndef SHOP_SHOP_ACCOUNT_H
#define SHOP_SHOP_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/problem.h"
#include "util/token.h"

struct shop;
struct db;
struct cart_left_list;

enum role { ROLE_NONE = 0, ROLE_CUSTOMER, ROLE_SELLER, ROLE_ADMIN };

/** Who is asking. All zero for an anonymous request. */
struct principal {
    int64_t user_id;    /* 0 when not logged in */
    int64_t session_id; /* the user's session */
    int64_t guest_id;   /* the guest session (X-Guest-Token), 0 when none */
    enum role role;
    bool trusted; /* a trusted seller publishes without review */
    const char *ip; /* the client's address (http/clientip.h); NULL outside a request */
};

struct user {
    int64_t id;
    const char *email, *name;
    enum role role;
    bool trusted;
    int64_t created_at;
};

#define ACCOUNT_EMAIL_MAX 254
#define ACCOUNT_PASSWORD_MIN 8
#define ACCOUNT_PASSWORD_MAX 128
#define ACCOUNT_NAME_MAX 100

const char *role_name(enum role r);
/** ROLE_NONE when `s` names no role. */
enum role role_parse(const char *s);

/** Registers a customer and logs them in. `guest_id` (0 for none) is the
 *  guest session whose cart merges into the new account and then ends;
 *  `left` (may be NULL) gets its lines that could not merge
 *  (shop/cart.h, cart_merge_guest).
 *  Errors: SHOP_INVALID (fields), SHOP_CONFLICT (email taken). */
enum shop_err account_register(struct shop *shop, struct arena *a, const char *email,
                               const char *password, const char *name, int64_t guest_id,
                               struct cart_left_list *left, struct user *out,
                               char token[TOKEN_LEN + 1], struct problem *pb);

/** Checks the password and opens a new session, merging `guest_id`'s cart
 *  as account_register does. Errors: SHOP_UNAUTHENTICATED
 *  (wrong email or password, same answer for both), SHOP_RATE_LIMITED with
 *  pb->retry_after once the account or address had too many failures. */
enum shop_err account_login(struct shop *shop, struct arena *a, const char *email,
                            const char *password, const char *ip, int64_t guest_id,
                            struct cart_left_list *left, struct user *out,
                            char token[TOKEN_LEN + 1], struct problem *pb);

/** Revokes the caller's session: its token stops working at once. */
enum shop_err account_logout(struct shop *shop, const struct principal *who, struct problem *pb);

/** Resolves a bearer token into `who` (user fields only). SHOP_UNAUTHENTICATED
 *  when unknown, expired or revoked. */
enum shop_err account_authenticate(struct shop *shop, const char *token, struct principal *who,
                                   struct problem *pb);

/** Resolves a guest token into its guest session id. SHOP_UNAUTHENTICATED
 *  when unknown, expired or ended. */
enum shop_err account_guest_resolve(struct shop *shop, const char *token, int64_t *guest_id,
                                    struct problem *pb);

/** Opens a guest session (ACC-2). */
enum shop_err account_guest_new(struct shop *shop, char token[TOKEN_LEN + 1], int64_t *guest_id,
                                struct problem *pb);

/** Reads one user. SHOP_NOT_FOUND when absent. Strings live in `a`. */
enum shop_err account_get(struct shop *shop, struct arena *a, int64_t id, struct user *out,
                          struct problem *pb);

/** Creates a user of any role (the CLI's `user create`). */
enum shop_err account_create(struct shop *shop, const char *email, const char *password,
                             const char *name, enum role role, bool trusted, int64_t *id,
                             struct problem *pb);

/** Validates and normalises (lower-cases) an email into `out`. */
bool account_email_valid(const char *email, char out[ACCOUNT_EMAIL_MAX + 1]);

/** The argon2id hash of `password` (crypto_pwhash_STRBYTES bytes). False
 *  only when out of memory. Slow on purpose: never call it in a write
 *  function. */
bool account_hash_password(const char *password, char *out, size_t outlen);

/** Sets the argon2id cost for new hashes (process-wide; shop_open). */
void account_set_hash_cost(int64_t opslimit, int64_t memlimit);

/** Deletes sessions that expired long ago and old login failures. */
enum shop_err account_purge(struct shop *shop, int64_t *deleted, struct problem *pb);

#endif
