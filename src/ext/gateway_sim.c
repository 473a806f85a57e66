/* gateway_sim.c — the built-in simulated payment gateway.
 *
 * It keeps books like a real provider would: tokens (with what the test card
 * does, never the number), charges keyed by idempotency key, refunds — in a
 * database file of its own next to the shop's (<db>-gateway.db), with its
 * own writer, as an outside system would. Each call is one transaction of
 * its own, so a charge the gateway acknowledged survives a crash of shopd
 * just as it would at a real provider. On PostgreSQL its tables (gw_sim_*)
 * live in the shop's database, so every process of one shop sees one
 * gateway, as they would a real provider.
 *
 * Test cards (API.md):
 *   4242 4242 4242 4242, 5555 5555 5555 4444, 3782 822463 10005 → succeed
 *   …0002 declined · …9995 insufficient funds · …0069 expired · …0127 bad CVC
 *   …0119 processing error on every attempt (unavailable)
 *   …0226 fails on the first attempt for a key, succeeds on the next
 *   …0333 times out but the charge went through
 *   …0440 times out and nothing was charged
 * Any other valid number succeeds.
 *
 * Injected faults (util/faults.h) fail any call on demand: gateway.authorize,
 * .capture, .void, .refund and .status, in mode error (unavailable, nothing
 * done), timeout (nothing done, no answer) or lost (done, no answer).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext/gateway.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/faults.h"
#include "util/token.h"
#include "util/xalloc.h"

#define FLAKY_SLOTS 4096

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS gw_sim_tokens ("
    " token TEXT PRIMARY KEY, brand TEXT NOT NULL, last4 TEXT NOT NULL,"
    " behavior TEXT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS gw_sim_charges ("
    " charge_id TEXT NOT NULL UNIQUE,"
    " idempotency_key TEXT NOT NULL UNIQUE, token TEXT NOT NULL, order_ref TEXT,"
    " amount_cents BIGINT NOT NULL, currency TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status = 'authorized' OR status = 'captured' OR"
    "   status = 'declined' OR status = 'voided')," /* no IN list: see 0001_foundation.sql */
    " decline_code TEXT, refunded_cents BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS gw_sim_charges_order ON gw_sim_charges (order_ref);"
    "CREATE TABLE IF NOT EXISTS gw_sim_refunds ("
    " refund_id TEXT NOT NULL UNIQUE,"
    " idempotency_key TEXT NOT NULL UNIQUE, charge_id TEXT NOT NULL, order_ref TEXT,"
    " amount_cents BIGINT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS gw_sim_refunds_order ON gw_sim_refunds (order_ref);";

struct sim {
    struct store *store;
    int64_t timeout_ms;
    pthread_mutex_t mu;
    uint64_t flaky_seen[FLAKY_SLOTS]; /* hashes of keys whose first attempt failed */
};

static const struct {
    const char *number, *behavior;
} cards[] = {
    {"4000000000000002", "card_declined"},    {"4000000000009995", "insufficient_funds"},
    {"4000000000000069", "expired_card"},     {"4000000000000127", "incorrect_cvc"},
    {"4000000000000119", "processing_error"}, {"4000000000000226", "flaky"},
    {"4000000000000333", "timeout_captured"}, {"4000000000000440", "timeout_not_captured"},
};

static const char *brand_of(const char *n)
{
    if (n[0] == '4')
        return "visa";
    if ((n[0] == '5' && n[1] >= '1' && n[1] <= '5') || (n[0] == '2' && n[1] >= '2' && n[1] <= '7'))
        return "mastercard";
    if (n[0] == '3' && (n[1] == '4' || n[1] == '7'))
        return "amex";
    if (!strncmp(n, "6011", 4) || !strncmp(n, "65", 2))
        return "discover";
    return "card";
}

static void random_id(const char *prefix, char *out, size_t len)
{
    snprintf(out, len, "%s%016llx%08llx", prefix, (unsigned long long)token_rand64(),
             (unsigned long long)(token_rand64() & 0xffffffffu));
}

/* A charge's or refund's id: "<prefix><12 hex digits of the time in ms><12
 * random hex digits>". Ids made later sort later, so the unique index on
 * them grows at its end instead of taking a write on a random page of it for
 * every charge. (Card tokens stay wholly random.) */
static void ledger_id(const char *prefix, char *out, size_t len)
{
    snprintf(out, len, "%s%012llx%012llx", prefix,
             (unsigned long long)clock_now_ms() & 0xffffffffffffull,
             (unsigned long long)token_rand64() & 0xffffffffffffull);
}

static uint64_t key_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h | 1;
}

/* ---- tokens --------------------------------------------------------------- */

struct token_job {
    const struct gw_token *t;
    const char *behavior;
};

static enum shop_err token_write(struct db *db, void *arg, struct problem *pb)
{
    struct token_job *j = arg;
    struct stmt *st = db_prepare(db, "INSERT INTO gw_sim_tokens (token, brand, last4, behavior,"
                                     " created_at) VALUES (?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "gateway: storing a token");
    stmt_bind_text(st, 1, j->t->token);
    stmt_bind_text(st, 2, j->t->brand);
    stmt_bind_text(st, 3, j->t->last4);
    stmt_bind_text(st, 4, j->behavior);
    stmt_bind_i64(st, 5, clock_now_ms());
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "gateway: storing a token");
}

static enum gw_status sim_tokenize(struct gateway *gw, const struct gw_card *card,
                                   struct gw_token *out)
{
    struct sim *s = gw->impl;
    const char *behavior = "ok";
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
        if (!strcmp(card->number, cards[i].number))
            behavior = cards[i].behavior;
    memset(out, 0, sizeof *out);
    random_id("tok_", out->token, sizeof out->token);
    snprintf(out->brand, sizeof out->brand, "%s", brand_of(card->number));
    size_t n = strlen(card->number);
    snprintf(out->last4, sizeof out->last4, "%s", card->number + (n >= 4 ? n - 4 : 0));
    struct problem pb = {0};
    struct token_job j = {out, behavior};
    enum shop_err e = store_write(s->store, token_write, &j, &pb);
    problem_clear(&pb);
    return e == SHOP_OK ? GW_OK : GW_UNAVAILABLE;
}

/* ---- charges -------------------------------------------------------------- */

struct charge_job {
    const char *token, *currency, *key, *order_ref;
    int64_t amount;
    bool capture;
    bool flaky_retry;       /* the flaky card's second attempt: record it */
    char behavior[32];      /* out: the token's, "" for an unknown token */
    bool recorded;          /* out: a charge is stored for the key */
    char charge_id[48];     /* in: a fresh id; out: the stored one */
    char stored_status[16]; /* out */
    char stored_code[32];   /* out */
    int64_t stored_amount;
};

/* Whether a card that behaves so leaves a charge behind. The flaky card
 * fails its first attempt without one (the caller decides which is first). */
static bool leaves_charge(const char *behavior, bool flaky_retry)
{
    return strcmp(behavior, "processing_error") && strcmp(behavior, "timeout_not_captured") &&
           (strcmp(behavior, "flaky") || flaky_retry);
}

/* Looks the token up and, when its card leaves a charge, records the charge
 * unless the key was seen; either way reports what is stored for the key, so
 * a repeated call gets the first call's outcome. The lookup is done here, on
 * the writer, whose cache is warm (a reader's starts cold after each commit). */
static enum shop_err charge_write(struct db *db, void *arg, struct problem *pb)
{
    struct charge_job *j = arg;
    j->recorded = false;
    struct stmt *st = db_prepare(db, "SELECT behavior FROM gw_sim_tokens WHERE token = ?");
    if (!st)
        return db_fail(db, pb, "gateway: reading a token");
    stmt_bind_text(st, 1, j->token);
    snprintf(j->behavior, sizeof j->behavior, "%s",
             stmt_step(st) == STMT_ROW ? stmt_text(st, 0) : "");
    if (!*j->behavior || !leaves_charge(j->behavior, j->flaky_retry))
        return SHOP_OK;
    bool ok = !strcmp(j->behavior, "ok") || !strcmp(j->behavior, "flaky") ||
              !strncmp(j->behavior, "timeout_", 8);
    /* Recorded, or the key's first charge read back, in one statement: on a
     * key seen before the no-op update returns the stored row. */
    st = db_prepare(db, "INSERT INTO gw_sim_charges (charge_id, idempotency_key, token,"
                        " order_ref, amount_cents, currency, status, decline_code,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (idempotency_key) DO UPDATE"
                        " SET idempotency_key = excluded.idempotency_key"
                        " RETURNING charge_id, status, coalesce(decline_code, ''), amount_cents");
    if (!st)
        return db_fail(db, pb, "gateway: recording a charge");
    stmt_bind_text(st, 1, j->charge_id);
    stmt_bind_text(st, 2, j->key);
    stmt_bind_text(st, 3, j->token);
    stmt_bind_text(st, 4, j->order_ref);
    stmt_bind_i64(st, 5, j->amount);
    stmt_bind_text(st, 6, j->currency);
    stmt_bind_text(st, 7, ok ? (j->capture ? "captured" : "authorized") : "declined");
    stmt_bind_text(st, 8, ok ? NULL : j->behavior);
    stmt_bind_i64(st, 9, clock_now_ms());
    if (stmt_step(st) != STMT_ROW)
        return db_fail(db, pb, "gateway: recording a charge");
    snprintf(j->charge_id, sizeof j->charge_id, "%s", stmt_text(st, 0));
    snprintf(j->stored_status, sizeof j->stored_status, "%s", stmt_text(st, 1));
    snprintf(j->stored_code, sizeof j->stored_code, "%s", stmt_text(st, 2));
    j->stored_amount = stmt_i64(st, 3);
    j->recorded = true;
    return SHOP_OK;
}

/* True the first time a key is seen (the flaky card fails then). */
static bool first_attempt(struct sim *s, const char *key)
{
    uint64_t h = key_hash(key);
    size_t slot = (size_t)(h % FLAKY_SLOTS);
    pthread_mutex_lock(&s->mu);
    bool first = s->flaky_seen[slot] != h;
    s->flaky_seen[slot] = h;
    pthread_mutex_unlock(&s->mu);
    return first;
}

static enum gw_status result_of(struct charge_job *j, struct gw_result *out)
{
    snprintf(out->id, sizeof out->id, "%s", j->charge_id);
    snprintf(out->code, sizeof out->code, "%s", j->stored_code);
    out->amount_cents = j->stored_amount;
    return strcmp(j->stored_status, "declined") ? GW_OK : GW_DECLINED;
}

static enum gw_status do_authorize(struct gateway *gw, const char *token, int64_t amount,
                                    const char *currency, int capture, const char *key,
                                    const char *order_ref, struct gw_result *out)
{
    struct sim *s = gw->impl;
    memset(out, 0, sizeof *out);
    struct charge_job j = {.token = token,
                           .currency = currency,
                           .key = key,
                           .order_ref = order_ref,
                           .amount = amount,
                           .capture = capture};
    ledger_id("ch_", j.charge_id, sizeof j.charge_id);
    struct problem pb = {0};
    enum shop_err e = store_write(s->store, charge_write, &j, &pb);
    if (e == SHOP_OK && !strcmp(j.behavior, "flaky") && !j.recorded && !first_attempt(s, key)) {
        j.flaky_retry = true;
        e = store_write(s->store, charge_write, &j, &pb);
    }
    problem_clear(&pb);
    if (e != SHOP_OK)
        return GW_UNAVAILABLE;
    if (!*j.behavior) {
        snprintf(out->code, sizeof out->code, "invalid_token");
        return GW_DECLINED;
    }
    if (!j.recorded && strcmp(j.behavior, "timeout_not_captured")) {
        snprintf(out->code, sizeof out->code, "processing_error"); /* or the flaky card's first */
        return GW_UNAVAILABLE;
    }
    if (!strncmp(j.behavior, "timeout_", 8)) {
        clock_sleep_ms(s->timeout_ms);
        return GW_TIMEOUT;
    }
    return result_of(&j, out);
}

static enum gw_status do_status(struct gateway *gw, const char *key, struct gw_result *out)
{
    struct sim *s = gw->impl;
    memset(out, 0, sizeof *out);
    struct db *db = store_db(s->store);
    struct stmt *st = db_prepare(db, "SELECT charge_id, status, coalesce(decline_code, ''),"
                                     " amount_cents FROM gw_sim_charges WHERE idempotency_key = ?");
    enum gw_status r = GW_UNAVAILABLE;
    if (st) {
        stmt_bind_text(st, 1, key);
        if (stmt_step(st) == STMT_ROW) {
            snprintf(out->id, sizeof out->id, "%s", stmt_text(st, 0));
            snprintf(out->code, sizeof out->code, "%s", stmt_text(st, 2));
            out->amount_cents = stmt_i64(st, 3);
            const char *status = stmt_text(st, 1);
            r = !strcmp(status, "declined") ? GW_DECLINED
                : !strcmp(status, "voided") ? GW_NOT_FOUND
                                            : GW_OK;
        } else {
            r = GW_NOT_FOUND;
        }
    }
    db_release(db);
    return r;
}

struct change_job {
    const char *charge_id, *to, *from1, *from2;
};

static enum shop_err change_write(struct db *db, void *arg, struct problem *pb)
{
    struct change_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE gw_sim_charges SET status = ? WHERE charge_id = ?"
                                     " AND (status = ? OR status = ? OR status = ?)");
    if (!st)
        return db_fail(db, pb, "gateway: updating a charge");
    stmt_bind_text(st, 1, j->to);
    stmt_bind_text(st, 2, j->charge_id);
    stmt_bind_text(st, 3, j->from1);
    stmt_bind_text(st, 4, j->from2);
    stmt_bind_text(st, 5, j->to); /* already there: idempotent */
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "gateway: updating a charge");
    return db_changes(db) == 1 ? SHOP_OK : problem_set(pb, SHOP_CONFLICT, "no such charge");
}

static enum gw_status change(struct sim *s, struct change_job *j, struct gw_result *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", j->charge_id);
    struct problem pb = {0};
    enum shop_err e = store_write(s->store, change_write, j, &pb);
    problem_clear(&pb);
    if (e == SHOP_CONFLICT) {
        snprintf(out->code, sizeof out->code, "invalid_charge_state");
        return GW_DECLINED;
    }
    return e == SHOP_OK ? GW_OK : GW_UNAVAILABLE;
}

static enum gw_status do_capture(struct gateway *gw, const char *charge_id, const char *key,
                                  struct gw_result *out)
{
    (void)key;
    struct change_job j = {charge_id, "captured", "authorized", "authorized"};
    return change(gw->impl, &j, out);
}

static enum gw_status do_void(struct gateway *gw, const char *charge_id, const char *key,
                               struct gw_result *out)
{
    (void)key;
    struct change_job j = {charge_id, "voided", "authorized", "captured"};
    return change(gw->impl, &j, out);
}

/* ---- refunds -------------------------------------------------------------------- */

struct refund_job {
    const char *charge_id, *key, *order_ref;
    int64_t amount;
    char refund_id[48];
    bool refused;
};

static enum shop_err refund_write(struct db *db, void *arg, struct problem *pb)
{
    struct refund_job *j = arg;
    j->refused = false;
    struct stmt *st =
        db_prepare(db, "SELECT refund_id FROM gw_sim_refunds WHERE idempotency_key = ?");
    if (!st)
        return db_fail(db, pb, "gateway: reading a refund");
    stmt_bind_text(st, 1, j->key);
    if (stmt_step(st) == STMT_ROW) {
        snprintf(j->refund_id, sizeof j->refund_id, "%s", stmt_text(st, 0));
        return SHOP_OK; /* the same refund again */
    }
    st = db_prepare(db, "UPDATE gw_sim_charges SET refunded_cents = refunded_cents + ?"
                        " WHERE charge_id = ? AND status = 'captured'"
                        " AND refunded_cents + ? <= amount_cents");
    if (!st)
        return db_fail(db, pb, "gateway: refunding");
    stmt_bind_i64(st, 1, j->amount);
    stmt_bind_text(st, 2, j->charge_id);
    stmt_bind_i64(st, 3, j->amount);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "gateway: refunding");
    if (db_changes(db) != 1) {
        j->refused = true;
        return SHOP_OK;
    }
    st = db_prepare(db, "INSERT INTO gw_sim_refunds (refund_id, idempotency_key, charge_id,"
                        " order_ref, amount_cents, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "gateway: recording a refund");
    stmt_bind_text(st, 1, j->refund_id);
    stmt_bind_text(st, 2, j->key);
    stmt_bind_text(st, 3, j->charge_id);
    stmt_bind_text(st, 4, j->order_ref);
    stmt_bind_i64(st, 5, j->amount);
    stmt_bind_i64(st, 6, clock_now_ms());
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "gateway: recording a refund");
}

static enum gw_status do_refund(struct gateway *gw, const char *charge_id, int64_t amount,
                                 const char *key, const char *order_ref, struct gw_result *out)
{
    struct sim *s = gw->impl;
    memset(out, 0, sizeof *out);
    struct refund_job j = {
        .charge_id = charge_id, .key = key, .order_ref = order_ref, .amount = amount};
    ledger_id("re_", j.refund_id, sizeof j.refund_id);
    struct problem pb = {0};
    enum shop_err e = store_write(s->store, refund_write, &j, &pb);
    problem_clear(&pb);
    if (e != SHOP_OK)
        return GW_UNAVAILABLE;
    if (j.refused) {
        snprintf(out->code, sizeof out->code, "refund_exceeds_charge");
        return GW_DECLINED;
    }
    snprintf(out->id, sizeof out->id, "%s", j.refund_id);
    out->amount_cents = amount;
    return GW_OK;
}

/* ---- injected faults ------------------------------------------------------------ */

/* Before a call: FM_NONE or FM_LOST to make it (then `lost` for FM_LOST);
 * any other mode has set the answer in *st and `out`. */
static enum fault_mode fault_before(enum fault_point p, struct sim *s, struct gw_result *out,
                                    enum gw_status *st)
{
    enum fault_mode m = faults_check(p, NULL);
    switch (m) {
    case FM_ERROR:
    case FM_BUSY:
        memset(out, 0, sizeof *out);
        snprintf(out->code, sizeof out->code, "processing_error");
        *st = GW_UNAVAILABLE;
        return m;
    case FM_TIMEOUT:
        clock_sleep_ms(s->timeout_ms);
        memset(out, 0, sizeof *out);
        *st = GW_TIMEOUT;
        return m;
    case FM_LOST:
        return m;
    default:
        return FM_NONE;
    }
}

static enum gw_status lost(struct sim *s, struct gw_result *out)
{
    clock_sleep_ms(s->timeout_ms);
    memset(out, 0, sizeof *out);
    return GW_TIMEOUT;
}

#define FAULTY(point, call)                                                                    \
    do {                                                                                       \
        enum gw_status st_;                                                                    \
        enum fault_mode fm_ = fault_before(point, gw->impl, out, &st_);                        \
        if (fm_ != FM_NONE && fm_ != FM_LOST)                                                  \
            return st_;                                                                        \
        st_ = call;                                                                            \
        return fm_ == FM_LOST ? lost(gw->impl, out) : st_;                                     \
    } while (0)

static enum gw_status sim_authorize(struct gateway *gw, const char *token, int64_t amount,
                                    const char *currency, int capture, const char *key,
                                    const char *order_ref, struct gw_result *out)
{
    FAULTY(FP_GATEWAY_AUTHORIZE,
           do_authorize(gw, token, amount, currency, capture, key, order_ref, out));
}

static enum gw_status sim_capture(struct gateway *gw, const char *charge_id, const char *key,
                                  struct gw_result *out)
{
    FAULTY(FP_GATEWAY_CAPTURE, do_capture(gw, charge_id, key, out));
}

static enum gw_status sim_void(struct gateway *gw, const char *charge_id, const char *key,
                               struct gw_result *out)
{
    FAULTY(FP_GATEWAY_VOID, do_void(gw, charge_id, key, out));
}

static enum gw_status sim_refund(struct gateway *gw, const char *charge_id, int64_t amount,
                                 const char *key, const char *order_ref, struct gw_result *out)
{
    FAULTY(FP_GATEWAY_REFUND, do_refund(gw, charge_id, amount, key, order_ref, out));
}

static enum gw_status sim_status(struct gateway *gw, const char *key, struct gw_result *out)
{
    FAULTY(FP_GATEWAY_STATUS, do_status(gw, key, out));
}

static json_t *sim_ledger(struct gateway *gw, const char *order_ref)
{
    struct sim *s = gw->impl;
    struct db *db = store_db(s->store);
    json_t *out = json_array();
    char ts[RFC3339_LEN];
    db_read_begin(db);
    struct stmt *st = db_prepare(db, "SELECT charge_id, idempotency_key, amount_cents, currency,"
                                     " status, decline_code, refunded_cents, created_at"
                                     " FROM gw_sim_charges WHERE order_ref = ? ORDER BY charge_id");
    if (st) {
        stmt_bind_text(st, 1, order_ref);
        while (stmt_step(st) == STMT_ROW)
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s?, s:I, s:s}", "type", "charge",
                               "id", stmt_text(st, 0), "idempotency_key", stmt_text(st, 1),
                               "amount_cents", (json_int_t)stmt_i64(st, 2), "currency",
                               stmt_text(st, 3), "status", stmt_text(st, 4), "decline_code",
                               stmt_is_null(st, 5) ? NULL : stmt_text(st, 5), "refunded_cents",
                               (json_int_t)stmt_i64(st, 6), "created_at",
                               clock_fmt(stmt_i64(st, 7), ts)));
    }
    st = db_prepare(db, "SELECT refund_id, idempotency_key, charge_id, amount_cents, created_at"
                        " FROM gw_sim_refunds WHERE order_ref = ? ORDER BY refund_id");
    if (st) {
        stmt_bind_text(st, 1, order_ref);
        while (stmt_step(st) == STMT_ROW)
            json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "type",
                                                 "refund", "id", stmt_text(st, 0),
                                                 "idempotency_key", stmt_text(st, 1), "charge_id",
                                                 stmt_text(st, 2), "amount_cents",
                                                 (json_int_t)stmt_i64(st, 3), "status", "succeeded",
                                                 "created_at", clock_fmt(stmt_i64(st, 4), ts)));
    }
    db_read_end(db);
    return out;
}

static void sim_destroy(struct gateway *gw)
{
    struct sim *s = gw->impl;
    store_close(s->store);
    pthread_mutex_destroy(&s->mu);
    free(s);
    free(gw);
}

static enum shop_err schema_write(struct db *db, void *arg, struct problem *pb)
{
    (void)arg;
    return db_exec(db, schema, pb);
}

struct gateway *gateway_sim_new(const char *path, int64_t timeout_ms, struct problem *pb)
{
    /* The simulation's books survive a crash of this process (WAL with
     * synchronous=NORMAL does: only an OS crash or power loss could drop its
     * last commits), which is what it stands in for; the shop's own database
     * stays synchronous=FULL. */
    struct store_opts opts = {.sync_normal = true, .no_faults = true};
    struct store *store = store_open(path, &opts, pb);
    if (!store)
        return NULL;
    /* Several processes starting at once on one PostgreSQL may race to
     * create the tables: the loser finds them there when it tries again. */
    enum shop_err e = store_write(store, schema_write, NULL, pb);
    for (int attempt = 0; e != SHOP_OK && attempt < 5; attempt++) {
        clock_sleep_ms(50 + 50 * attempt);
        problem_clear(pb);
        e = store_write(store, schema_write, NULL, pb);
    }
    if (e != SHOP_OK) {
        store_close(store);
        return NULL;
    }
    struct sim *s = xcalloc(1, sizeof *s);
    s->store = store;
    s->timeout_ms = timeout_ms;
    pthread_mutex_init(&s->mu, NULL);
    struct gateway *gw = xcalloc(1, sizeof *gw);
    *gw = (struct gateway){.name = "simulated",
                           .impl = s,
                           .tokenize = sim_tokenize,
                           .authorize = sim_authorize,
                           .capture = sim_capture,
                           .void_charge = sim_void,
                           .refund = sim_refund,
                           .status = sim_status,
                           .ledger = sim_ledger,
                           .destroy = sim_destroy};
    return gw;
}
