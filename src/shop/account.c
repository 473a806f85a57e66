/* account.c — users, sessions and login throttling.
 *
 * Login is two writes around the slow password check, so that throttling is
 * exact under concurrency:
 *   1. login_claim: in one transaction, count the account's and the
 *      address's failures inside the window; at the limit → 429; otherwise
 *      record this attempt as a failure up front.
 *   2. argon2id verification on the request thread (never in the writer).
 *   3. on success, login_open: forget the account's failures, open the
 *      session, end the guest session.
 * Ten concurrent wrong passwords therefore record at most `max` attempts
 * that reach the password check; the rest are refused before it.
 */
#include "shop/account.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shop/cart.h"
#include "shop/keylock.h"
#include "shop/outbox.h"
#include "shop/session_cache.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

const char *role_name(enum role r)
{
    switch (r) {
    case ROLE_CUSTOMER:
        return "customer";
    case ROLE_SELLER:
        return "seller";
    case ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

enum role role_parse(const char *s)
{
    if (!s)
        return ROLE_NONE;
    if (!strcmp(s, "customer"))
        return ROLE_CUSTOMER;
    if (!strcmp(s, "seller"))
        return ROLE_SELLER;
    if (!strcmp(s, "admin"))
        return ROLE_ADMIN;
    return ROLE_NONE;
}

bool account_email_valid(const char *email, char out[ACCOUNT_EMAIL_MAX + 1])
{
    size_t n = strlen(email);
    if (n < 3 || n > ACCOUNT_EMAIL_MAX)
        return false;
    const char *at = strchr(email, '@');
    if (!at || at == email || strchr(at + 1, '@') || !at[1])
        return false;
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || !dot[1])
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)email[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"')
            return false;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return true;
}

/* The hashing cost is process-wide; shop_open sets it from the config. The
 * parameters live in each hash string, so changing them keeps old hashes
 * verifiable. */
static unsigned long long pwhash_ops = 2;
static size_t pwhash_mem = 19u << 20;

void account_set_hash_cost(int64_t opslimit, int64_t memlimit)
{
    pwhash_ops = (unsigned long long)opslimit;
    pwhash_mem = (size_t)memlimit;
}

bool account_hash_password(const char *password, char *out, size_t outlen)
{
    if (outlen < crypto_pwhash_STRBYTES)
        return false;
    return crypto_pwhash_str(out, password, strlen(password), pwhash_ops, pwhash_mem) == 0;
}

static bool password_valid(const char *password, struct problem *pb)
{
    size_t n = strlen(password);
    if (n < ACCOUNT_PASSWORD_MIN) {
        problem_field(pb, SHOP_INVALID, "password", "must be at least %d characters",
                      ACCOUNT_PASSWORD_MIN);
        return false;
    }
    if (n > ACCOUNT_PASSWORD_MAX) {
        problem_field(pb, SHOP_INVALID, "password", "must be at most %d characters",
                      ACCOUNT_PASSWORD_MAX);
        return false;
    }
    return true;
}

/* ---- sessions ----------------------------------------------------------- */

/* Inserts a session row; the token's digest only. */
static enum shop_err session_insert(struct db *db, int64_t user_id, const char *kind,
                                    const char *token_hash, int64_t now, int64_t ttl,
                                    int64_t *id, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO sessions (token_hash, user_id, kind, created_at,"
                                     " expires_at) VALUES (?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "opening a session");
    stmt_bind_text(st, 1, token_hash);
    if (user_id)
        stmt_bind_i64(st, 2, user_id);
    else
        stmt_bind_null(st, 2);
    stmt_bind_text(st, 3, kind);
    stmt_bind_i64(st, 4, now);
    stmt_bind_i64(st, 5, now + ttl);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "opening a session");
    if (id)
        *id = db_last_id(db);
    return SHOP_OK;
}

/* Ends a guest session after its cart has merged into the user's; one
 * whose cart could not merge yet stays, with its cart, for a later login.
 * `left` gets the guest lines that did not merge (cart_merge_guest). */
static enum shop_err guest_end(struct db *db, int64_t guest_id, int64_t user_id, int64_t now,
                               struct cart_left_list *left, struct problem *pb)
{
    if (left)
        left->n = 0;
    if (!guest_id)
        return SHOP_OK;
    bool kept;
    enum shop_err e = cart_merge_guest(db, guest_id, user_id, &kept, left, pb);
    if (e != SHOP_OK || kept)
        return e;
    struct stmt *st = db_prepare(db, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND"
                                     " kind = 'guest' AND revoked_at IS NULL");
    if (!st)
        return db_fail(db, pb, "ending the guest session");
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, guest_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "ending the guest session");
    return outbox_emit(db, "session.revoked", guest_id, NULL, pb);
}

/* ---- register ----------------------------------------------------------- */

struct register_job {
    const char *email, *name, *hash, *role;
    bool trusted;
    int64_t guest_id, now, ttl;
    const char *token_hash; /* NULL: no session (CLI) */
    int64_t user_id;        /* out */
    struct cart_left_list *left; /* out: guest lines that did not merge (NULL: not wanted) */
};

static enum shop_err register_write(struct db *db, void *arg, struct problem *pb)
{
    struct register_job *j = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO users (email, name, password_hash, role, trusted,"
                                     " created_at) VALUES (?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the account");
    stmt_bind_text(st, 1, j->email);
    stmt_bind_text(st, 2, j->name);
    stmt_bind_text(st, 3, j->hash);
    stmt_bind_text(st, 4, j->role);
    stmt_bind_i64(st, 5, j->trusted);
    stmt_bind_i64(st, 6, j->now);
    int rc = stmt_step(st);
    if (rc == STMT_CONSTRAINT)
        return problem_field(pb, SHOP_CONFLICT, "email", "an account with this email already exists");
    if (rc != STMT_DONE)
        return db_fail(db, pb, "creating the account");
    j->user_id = db_last_id(db);
    if (!j->token_hash)
        return SHOP_OK;
    enum shop_err e = session_insert(db, j->user_id, "user", j->token_hash, j->now, j->ttl, NULL, pb);
    if (e != SHOP_OK)
        return e;
    return guest_end(db, j->guest_id, j->user_id, j->now, j->left, pb);
}

/* Validates the common fields; fills `norm` with the normalised email. */
static bool validate_new_user(const char *email, const char *password, const char *name,
                              char norm[ACCOUNT_EMAIL_MAX + 1], struct problem *pb)
{
    if (!account_email_valid(email, norm))
        problem_field(pb, SHOP_INVALID, "email", "must be a valid email address");
    password_valid(password, pb);
    size_t n = strlen(name);
    if (n == 0 || n > ACCOUNT_NAME_MAX)
        problem_field(pb, SHOP_INVALID, "name", "must be 1 to %d characters", ACCOUNT_NAME_MAX);
    return pb->err == SHOP_OK;
}

enum shop_err account_register(struct shop *shop, struct arena *a, const char *email,
                               const char *password, const char *name, int64_t guest_id,
                               struct cart_left_list *left, struct user *out,
                               char token[TOKEN_LEN + 1], struct problem *pb)
{
    char norm[ACCOUNT_EMAIL_MAX + 1];
    if (!validate_new_user(email, password, name, norm, pb))
        return pb->err;
    char hash[crypto_pwhash_STRBYTES];
    if (!account_hash_password(password, hash, sizeof hash))
        return problem_set(pb, SHOP_UNAVAILABLE, "cannot hash the password now; try again");
    char th[TOKEN_HASH_LEN + 1];
    token_new(token);
    token_hash(token, TOKEN_LEN, th);
    struct register_job j = {.email = norm, .name = name, .hash = hash, .role = "customer",
                             .guest_id = guest_id, .now = clock_now_ms(),
                             .ttl = shop->cfg.session_ttl_ms, .token_hash = th, .left = left};
    enum shop_err e = store_write(shop->store, register_write, &j, pb);
    if (e != SHOP_OK)
        return e;
    if (guest_id)
        session_cache_revoke(shop->sessions, guest_id);
    *out = (struct user){.id = j.user_id, .email = arena_strdup(a, norm),
                         .name = arena_strdup(a, name), .role = ROLE_CUSTOMER,
                         .created_at = j.now};
    return SHOP_OK;
}

enum shop_err account_create(struct shop *shop, const char *email, const char *password,
                             const char *name, enum role role, bool trusted, int64_t *id,
                             struct problem *pb)
{
    char norm[ACCOUNT_EMAIL_MAX + 1];
    if (role == ROLE_NONE)
        return problem_field(pb, SHOP_INVALID, "role", "must be customer, seller or admin");
    if (!validate_new_user(email, password, name, norm, pb))
        return pb->err;
    char hash[crypto_pwhash_STRBYTES];
    if (!account_hash_password(password, hash, sizeof hash))
        return problem_set(pb, SHOP_UNAVAILABLE, "cannot hash the password now");
    struct register_job j = {.email = norm, .name = name, .hash = hash, .role = role_name(role),
                             .trusted = trusted, .now = clock_now_ms()};
    enum shop_err e = store_write(shop->store, register_write, &j, pb);
    if (e == SHOP_OK && id)
        *id = j.user_id;
    return e;
}

/* ---- login -------------------------------------------------------------- */

struct login_job {
    const char *email, *ip;
    int64_t now, window;
    int max_account, max_ip;
    int64_t attempt_id; /* out: the provisional failure row */
    int64_t retry_after_ms;
    /* second phase */
    int64_t user_id, guest_id, ttl;
    const char *token_hash;
    struct cart_left_list *left; /* out: guest lines that did not merge (NULL: not wanted) */
};

/* Counts failures since `since` for one key; returns the count and the
 * oldest failure's time in *oldest. */
static int64_t failures_since(struct db *db, const char *sql, const char *key, int64_t since,
                              int64_t *oldest)
{
    struct stmt *st = db_prepare(db, sql);
    if (!st)
        return 0;
    stmt_bind_text(st, 1, key);
    stmt_bind_i64(st, 2, since);
    if (stmt_step(st) != STMT_ROW)
        return 0;
    *oldest = stmt_i64(st, 1);
    return stmt_i64(st, 0);
}

static enum shop_err login_claim(struct db *db, void *arg, struct problem *pb)
{
    struct login_job *j = arg;
    int64_t since = j->now - j->window, oldest_acc = j->now, oldest_ip = j->now;
    /* Counts and the insert below must not interleave with another login's. */
    char kacc[320], kip[80];
    snprintf(kacc, sizeof kacc, "login:%s", j->email);
    snprintf(kip, sizeof kip, "login-ip:%s", j->ip);
    if (keylock(db, (const char *const[]){kacc, kip}, 2, pb) != SHOP_OK)
        return pb->err;
    int64_t acc = failures_since(db, "SELECT count(*), min(at) FROM login_failures"
                                     " WHERE email = ? AND at > ?", j->email, since, &oldest_acc);
    int64_t ip = failures_since(db, "SELECT count(*), min(at) FROM login_failures"
                                    " WHERE ip = ? AND at > ?", j->ip, since, &oldest_ip);
    if (acc >= j->max_account || ip >= j->max_ip) {
        int64_t oldest = acc >= j->max_account ? oldest_acc : oldest_ip;
        j->retry_after_ms = oldest + j->window - j->now;
        return problem_set(pb, SHOP_RATE_LIMITED,
                           "too many failed logins; try again in %lld seconds",
                           (long long)(j->retry_after_ms + 999) / 1000);
    }
    struct stmt *st = db_prepare(db, "INSERT INTO login_failures (email, ip, at) VALUES (?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording a login attempt");
    stmt_bind_text(st, 1, j->email);
    stmt_bind_text(st, 2, j->ip);
    stmt_bind_i64(st, 3, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording a login attempt");
    j->attempt_id = db_last_id(db);
    return SHOP_OK;
}

static enum shop_err login_open(struct db *db, void *arg, struct problem *pb)
{
    struct login_job *j = arg;
    struct stmt *st = db_prepare(db, "DELETE FROM login_failures WHERE email = ?");
    if (!st)
        return db_fail(db, pb, "clearing login failures");
    stmt_bind_text(st, 1, j->email);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "clearing login failures");
    enum shop_err e = session_insert(db, j->user_id, "user", j->token_hash, j->now, j->ttl, NULL, pb);
    if (e != SHOP_OK)
        return e;
    return guest_end(db, j->guest_id, j->user_id, j->now, j->left, pb);
}

/* A hash to verify against when the email is unknown, so both answers take
 * the same time. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static void dummy_init(void)
{
    account_hash_password("not-a-real-password", dummy_hash, sizeof dummy_hash);
}

enum shop_err account_login(struct shop *shop, struct arena *a, const char *email,
                            const char *password, const char *ip, int64_t guest_id,
                            struct cart_left_list *left, struct user *out,
                            char token[TOKEN_LEN + 1], struct problem *pb)
{
    char norm[ACCOUNT_EMAIL_MAX + 1];
    if (!account_email_valid(email, norm) || strlen(password) > ACCOUNT_PASSWORD_MAX)
        return problem_set(pb, SHOP_UNAUTHENTICATED, "wrong email or password");
    struct login_job j = {.email = norm, .ip = ip ? ip : "", .now = clock_now_ms(),
                          .window = shop->cfg.login_window_ms,
                          .max_account = shop->cfg.login_max_failures,
                          .max_ip = shop->cfg.login_ip_max_failures};
    enum shop_err e = store_write(shop->store, login_claim, &j, pb);
    if (e != SHOP_OK) {
        if (e == SHOP_RATE_LIMITED)
            pb->retry_after = (int)((j.retry_after_ms + 999) / 1000);
        return e;
    }

    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT id, name, password_hash, role, trusted, created_at"
                                     " FROM users WHERE email = ?");
    if (!st)
        return db_fail(db, pb, "reading the account");
    stmt_bind_text(st, 1, norm);
    int rc = stmt_step(st);
    if (rc != STMT_ROW && rc != STMT_DONE)
        return db_fail(db, pb, "reading the account"); /* not "wrong password" */
    bool found = rc == STMT_ROW;
    const char *hash = dummy_hash;
    if (found) {
        *out = (struct user){.id = stmt_i64(st, 0), .email = arena_strdup(a, norm),
                             .name = arena_strdup(a, stmt_text(st, 1)),
                             .role = role_parse(stmt_text(st, 3)), .trusted = stmt_i64(st, 4) != 0,
                             .created_at = stmt_i64(st, 5)};
        hash = arena_strdup(a, stmt_text(st, 2));
    } else {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, dummy_init);
    }
    db_release(db);
    bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    if (!found || !ok)
        return problem_set(pb, SHOP_UNAUTHENTICATED, "wrong email or password");

    char th[TOKEN_HASH_LEN + 1];
    token_new(token);
    token_hash(token, TOKEN_LEN, th);
    j.user_id = out->id;
    j.guest_id = guest_id;
    j.ttl = shop->cfg.session_ttl_ms;
    j.token_hash = th;
    j.left = left;
    enum shop_err e2 = store_write(shop->store, login_open, &j, pb);
    if (e2 == SHOP_OK && guest_id)
        session_cache_revoke(shop->sessions, guest_id);
    return e2;
}

/* ---- logout, authenticate, guests ---------------------------------------- */

struct revoke_job {
    int64_t session_id, now;
};

static enum shop_err revoke_write(struct db *db, void *arg, struct problem *pb)
{
    struct revoke_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND"
                                     " revoked_at IS NULL");
    if (!st)
        return db_fail(db, pb, "ending the session");
    stmt_bind_i64(st, 1, j->now);
    stmt_bind_i64(st, 2, j->session_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "ending the session");
    return outbox_emit(db, "session.revoked", j->session_id, NULL, pb);
}

enum shop_err account_logout(struct shop *shop, const struct principal *who, struct problem *pb)
{
    struct revoke_job j = {.session_id = who->session_id, .now = clock_now_ms()};
    enum shop_err e = store_write(shop->store, revoke_write, &j, pb);
    if (e == SHOP_OK)
        session_cache_revoke(shop->sessions, who->session_id);
    return e;
}

/* Gives the caller what a session says about it: a guest only its guest
 * id, a user its session, id, role and trust. */
static void adopt(struct principal *who, const struct principal *p, bool guest)
{
    if (guest) {
        who->guest_id = p->guest_id;
        return;
    }
    who->session_id = p->session_id;
    who->user_id = p->user_id;
    who->role = p->role;
    who->trusted = p->trusted;
}

/* Looks a token up; fills the session id, user (0 for guests), kind. */
static enum shop_err session_lookup(struct shop *shop, const char *token, bool guest,
                                    struct principal *who, struct problem *pb)
{
    if (!token_plausible(token))
        return problem_set(pb, SHOP_UNAUTHENTICATED, "the %s token is not valid",
                           guest ? "guest" : "session");
    char th[TOKEN_HASH_LEN + 1];
    token_hash(token, TOKEN_LEN, th);
    int64_t now = clock_now_ms();
    struct principal cached;
    bool cached_guest;
    if (session_cache_get(shop->sessions, th, now, &cached, &cached_guest) && cached_guest == guest) {
        adopt(who, &cached, guest);
        return SHOP_OK;
    }
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT s.id, s.user_id, s.kind, s.expires_at, s.revoked_at,"
                                     " u.role, u.trusted FROM sessions s"
                                     " LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?");
    if (!st)
        return db_fail(db, pb, "checking the session");
    stmt_bind_text(st, 1, th);
    enum shop_err e = SHOP_OK;
    if (stmt_step(st) != STMT_ROW || strcmp(stmt_text(st, 2), guest ? "guest" : "user") != 0)
        e = problem_set(pb, SHOP_UNAUTHENTICATED, "the %s token is not valid",
                        guest ? "guest" : "session");
    else if (!stmt_is_null(st, 4))
        e = problem_set(pb, SHOP_UNAUTHENTICATED, "the %s has ended; log in again",
                        guest ? "guest session" : "session");
    else if (stmt_i64(st, 3) <= now)
        e = problem_set(pb, SHOP_UNAUTHENTICATED, "the %s has expired",
                        guest ? "guest session" : "session");
    else {
        struct principal found = {0};
        if (guest)
            found.guest_id = stmt_i64(st, 0);
        else {
            found.session_id = stmt_i64(st, 0);
            found.user_id = stmt_i64(st, 1);
            found.role = role_parse(stmt_text(st, 5));
            found.trusted = stmt_i64(st, 6) != 0;
        }
        int64_t expires = stmt_i64(st, 3);
        session_cache_put(shop->sessions, th, &found, guest,
                          expires < now + SESSION_CACHE_TRUST_MS ? expires
                                                                 : now + SESSION_CACHE_TRUST_MS);
        adopt(who, &found, guest);
    }
    db_release(db);
    return e;
}

enum shop_err account_authenticate(struct shop *shop, const char *token, struct principal *who,
                                   struct problem *pb)
{
    return session_lookup(shop, token, false, who, pb);
}

enum shop_err account_guest_resolve(struct shop *shop, const char *token, int64_t *guest_id,
                                    struct problem *pb)
{
    struct principal p = {0};
    enum shop_err e = session_lookup(shop, token, true, &p, pb);
    if (e == SHOP_OK)
        *guest_id = p.guest_id;
    return e;
}

struct guest_job {
    const char *token_hash;
    int64_t now, ttl, id;
};

static enum shop_err guest_write(struct db *db, void *arg, struct problem *pb)
{
    struct guest_job *j = arg;
    return session_insert(db, 0, "guest", j->token_hash, j->now, j->ttl, &j->id, pb);
}

enum shop_err account_guest_new(struct shop *shop, char token[TOKEN_LEN + 1], int64_t *guest_id,
                                struct problem *pb)
{
    char th[TOKEN_HASH_LEN + 1];
    token_new(token);
    token_hash(token, TOKEN_LEN, th);
    struct guest_job j = {.token_hash = th, .now = clock_now_ms(), .ttl = shop->cfg.guest_ttl_ms};
    enum shop_err e = store_write(shop->store, guest_write, &j, pb);
    if (e == SHOP_OK && guest_id)
        *guest_id = j.id;
    return e;
}

enum shop_err account_get(struct shop *shop, struct arena *a, int64_t id, struct user *out,
                          struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT email, name, role, trusted, created_at FROM users"
                                     " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the account");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no such user");
    *out = (struct user){.id = id, .email = arena_strdup(a, stmt_text(st, 0)),
                         .name = arena_strdup(a, stmt_text(st, 1)),
                         .role = role_parse(stmt_text(st, 2)), .trusted = stmt_i64(st, 3) != 0,
                         .created_at = stmt_i64(st, 4)};
    return SHOP_OK;
}

/* ---- housekeeping -------------------------------------------------------- */

struct purge_job {
    int64_t sessions_before, failures_before, deleted;
};

static enum shop_err purge_write(struct db *db, void *arg, struct problem *pb)
{
    struct purge_job *j = arg;
    j->deleted = 0;
    /* Guest sessions stay while a cart may point at them; the cart purge
     * (idle carts) removes those. */
    struct stmt *st = db_prepare(db, "DELETE FROM sessions WHERE kind = 'user' AND expires_at < ?");
    if (!st)
        return db_fail(db, pb, "purging sessions");
    stmt_bind_i64(st, 1, j->sessions_before);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "purging sessions");
    j->deleted += db_changes(db);
    st = db_prepare(db, "DELETE FROM login_failures WHERE at < ?");
    if (!st)
        return db_fail(db, pb, "purging login failures");
    stmt_bind_i64(st, 1, j->failures_before);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "purging login failures");
    j->deleted += db_changes(db);
    return SHOP_OK;
}

enum shop_err account_purge(struct shop *shop, int64_t *deleted, struct problem *pb)
{
    int64_t now = clock_now_ms();
    struct purge_job j = {.sessions_before = now - 86400000LL,
                          .failures_before = now - shop->cfg.login_window_ms};
    enum shop_err e = store_write(shop->store, purge_write, &j, pb);
    if (deleted)
        *deleted = j.deleted;
    return e;
}
