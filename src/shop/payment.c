#include "shop/payment.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop/keylock.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/log.h"
#include "util/token.h"
#include "util/xalloc.h"

#define METHODS_MAX 20

struct payments {
    struct shop *shop;
    struct gateway *gw;
    pthread_mutex_t mu;
    int consecutive_failures;
    int64_t open_until;  /* ms; 0 when closed */
    bool trial_running;  /* half-open: one call in flight */
    _Atomic uint64_t calls, retries, transient, timeouts, declines, fast_fails, opened;
};

struct payments *payments_new(struct shop *shop, struct gateway *gw)
{
    struct payments *p = xcalloc(1, sizeof *p);
    p->shop = shop;
    p->gw = gw;
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void payments_free(struct payments *p)
{
    if (!p)
        return;
    if (p->gw)
        p->gw->destroy(p->gw);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

struct gateway *payments_gateway(struct payments *p)
{
    return p->gw;
}

/* ---- the circuit breaker ------------------------------------------------------ */

/* May a call go out now? In the half-open state only one trial call may. */
static bool breaker_allow(struct payments *p, bool *trial)
{
    int64_t now = clock_now_ms();
    bool ok = true;
    *trial = false;
    pthread_mutex_lock(&p->mu);
    if (p->open_until) {
        if (now < p->open_until || p->trial_running)
            ok = false;
        else
            p->trial_running = *trial = true;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void breaker_record(struct payments *p, bool transient_failure, bool trial)
{
    const struct shop_config *cfg = &p->shop->cfg;
    pthread_mutex_lock(&p->mu);
    if (trial)
        p->trial_running = false;
    if (!transient_failure) {
        p->consecutive_failures = 0;
        p->open_until = 0;
    } else if (trial || ++p->consecutive_failures >= cfg->breaker_failures) {
        if (!p->open_until || trial)
            atomic_fetch_add(&p->opened, 1);
        p->open_until = clock_now_ms() + cfg->breaker_open_ms;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Full-jitter backoff: a random delay in [0, base·2^attempt]. */
static void backoff(const struct shop_config *cfg, int attempt)
{
    int64_t cap = cfg->gateway_backoff_ms << (attempt < 10 ? attempt : 10);
    if (cap > 0)
        clock_sleep_ms((int64_t)token_uniform((uint32_t)cap + 1));
}

enum call_kind { CALL_CHARGE, CALL_AUTHORIZE, CALL_CAPTURE, CALL_REFUND, CALL_VOID, CALL_STATUS };

struct call {
    enum call_kind kind;
    const char *token, *currency, *key, *order_ref, *charge_id;
    int64_t amount;
};

static enum gw_status call_once(struct gateway *gw, const struct call *c, struct gw_result *out)
{
    switch (c->kind) {
    case CALL_CHARGE:
        return gw->authorize(gw, c->token, c->amount, c->currency, 1, c->key, c->order_ref, out);
    case CALL_AUTHORIZE:
        return gw->authorize(gw, c->token, c->amount, c->currency, 0, c->key, c->order_ref, out);
    case CALL_CAPTURE:
        return gw->capture(gw, c->charge_id, c->key, out);
    case CALL_REFUND:
        return gw->refund(gw, c->charge_id, c->amount, c->key, c->order_ref, out);
    case CALL_VOID:
        return gw->void_charge(gw, c->charge_id, c->key, out);
    case CALL_STATUS:
        return gw->status(gw, c->key, out);
    }
    return GW_UNAVAILABLE;
}

static enum pay_outcome payment_call(struct shop *shop, const struct call *c, struct gw_result *out)
{
    struct payments *p = shop->payments;
    const struct shop_config *cfg = &shop->cfg;
    memset(out, 0, sizeof *out);
    for (int attempt = 0; attempt < cfg->gateway_attempts; attempt++) {
        bool trial;
        if (!breaker_allow(p, &trial)) {
            atomic_fetch_add(&p->fast_fails, 1);
            snprintf(out->code, sizeof out->code, "circuit_open");
            return PAY_UNAVAILABLE;
        }
        atomic_fetch_add(&p->calls, 1);
        if (attempt)
            atomic_fetch_add(&p->retries, 1);
        enum gw_status st = call_once(p->gw, c, out);
        breaker_record(p, st == GW_UNAVAILABLE || st == GW_TIMEOUT, trial);
        switch (st) {
        case GW_OK:
            return PAY_OK;
        case GW_DECLINED:
            atomic_fetch_add(&p->declines, 1);
            return PAY_DECLINED;
        case GW_NOT_FOUND:
            return PAY_NOT_FOUND;
        case GW_TIMEOUT:
            atomic_fetch_add(&p->timeouts, 1);
            return PAY_UNKNOWN;
        case GW_UNAVAILABLE:
            atomic_fetch_add(&p->transient, 1);
            if (attempt + 1 < cfg->gateway_attempts)
                backoff(cfg, attempt);
            break;
        }
    }
    if (!out->code[0])
        snprintf(out->code, sizeof out->code, "processing_error");
    return PAY_UNAVAILABLE;
}

enum pay_outcome payment_charge(struct shop *shop, const char *token, int64_t amount_cents,
                                const char *currency, const char *key, const char *order_ref,
                                struct gw_result *out)
{
    struct call c = {.kind = CALL_CHARGE,
                     .token = token,
                     .currency = currency,
                     .key = key,
                     .order_ref = order_ref,
                     .amount = amount_cents};
    return payment_call(shop, &c, out);
}

enum pay_outcome payment_authorize(struct shop *shop, const char *token, int64_t amount_cents,
                                   const char *currency, const char *key, const char *order_ref,
                                   struct gw_result *out)
{
    struct call c = {.kind = CALL_AUTHORIZE,
                     .token = token,
                     .currency = currency,
                     .key = key,
                     .order_ref = order_ref,
                     .amount = amount_cents};
    return payment_call(shop, &c, out);
}

enum pay_outcome payment_capture(struct shop *shop, const char *charge_id, const char *key,
                                 struct gw_result *out)
{
    struct call c = {.kind = CALL_CAPTURE, .charge_id = charge_id, .key = key};
    return payment_call(shop, &c, out);
}

enum pay_outcome payment_refund(struct shop *shop, const char *charge_id, int64_t amount_cents,
                                const char *key, const char *order_ref, struct gw_result *out)
{
    struct call c = {.kind = CALL_REFUND, .charge_id = charge_id, .key = key,
                     .order_ref = order_ref, .amount = amount_cents};
    return payment_call(shop, &c, out);
}

enum pay_outcome payment_void(struct shop *shop, const char *charge_id, const char *key,
                              struct gw_result *out)
{
    struct call c = {.kind = CALL_VOID, .charge_id = charge_id, .key = key};
    return payment_call(shop, &c, out);
}

enum pay_outcome payment_status(struct shop *shop, const char *key, struct gw_result *out)
{
    struct call c = {.kind = CALL_STATUS, .key = key};
    return payment_call(shop, &c, out);
}

void payments_render_metrics(struct payments *p, struct buf *out)
{
    pthread_mutex_lock(&p->mu);
    bool open = p->open_until && clock_now_ms() < p->open_until;
    pthread_mutex_unlock(&p->mu);
    buf_printf(out,
               "# HELP shopd_gateway_calls_total Payment gateway calls by outcome.\n"
               "# TYPE shopd_gateway_calls_total counter\n"
               "shopd_gateway_calls_total{outcome=\"sent\"} %llu\n"
               "shopd_gateway_calls_total{outcome=\"retry\"} %llu\n"
               "shopd_gateway_calls_total{outcome=\"transient_error\"} %llu\n"
               "shopd_gateway_calls_total{outcome=\"timeout\"} %llu\n"
               "shopd_gateway_calls_total{outcome=\"declined\"} %llu\n"
               "shopd_gateway_calls_total{outcome=\"fast_fail\"} %llu\n"
               "# HELP shopd_gateway_breaker_open 1 while the circuit breaker is open.\n"
               "# TYPE shopd_gateway_breaker_open gauge\n"
               "shopd_gateway_breaker_open %d\n"
               "# HELP shopd_gateway_breaker_opened_total Times the breaker opened.\n"
               "# TYPE shopd_gateway_breaker_opened_total counter\n"
               "shopd_gateway_breaker_opened_total %llu\n",
               (unsigned long long)p->calls, (unsigned long long)p->retries,
               (unsigned long long)p->transient, (unsigned long long)p->timeouts,
               (unsigned long long)p->declines, (unsigned long long)p->fast_fails, open,
               (unsigned long long)p->opened);
}

/* ---- cards ---------------------------------------------------------------------- */

bool payment_luhn_valid(const char *digits)
{
    size_t n = strlen(digits);
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (d < 0 || d > 9)
            return false;
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

bool payment_method_expired(const struct payment_method *m, int64_t now_ms)
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int year = tm.tm_year + 1900, month = tm.tm_mon + 1;
    /* A card is good through the last day of its expiry month. */
    return m->exp_year < year || (m->exp_year == year && m->exp_month < month);
}

json_t *payment_method_json(const struct payment_method *m)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:s*}", "id", (json_int_t)m->id, "type",
                     "card", "brand", m->brand, "last4", m->last4, "exp_month", m->exp_month,
                     "exp_year", m->exp_year, "billing_country",
                     m->billing_country[0] ? m->billing_country : NULL);
}

struct method_job {
    struct payment_method m;
    int64_t now;
};

static enum shop_err method_write(struct db *db, void *arg, struct problem *pb)
{
    struct method_job *j = arg;
    char key[48];
    snprintf(key, sizeof key, "payment-methods:%lld", (long long)j->m.user_id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    int64_t count;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM payment_methods WHERE user_id = ?"
                                  " AND deleted_at IS NULL", j->m.user_id, 0, &count, pb,
                              "counting payment methods") != SHOP_OK)
        return pb->err;
    if (count >= METHODS_MAX)
        return problem_set(pb, SHOP_CONFLICT, "at most %d payment methods", METHODS_MAX);
    struct stmt *st = db_prepare(db, "INSERT INTO payment_methods (user_id, gateway_token, brand,"
                                     " last4, exp_month, exp_year, created_at, billing_country)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "saving the payment method");
    stmt_bind_i64(st, 1, j->m.user_id);
    stmt_bind_text(st, 2, j->m.token);
    stmt_bind_text(st, 3, j->m.brand);
    stmt_bind_text(st, 4, j->m.last4);
    stmt_bind_i64(st, 5, j->m.exp_month);
    stmt_bind_i64(st, 6, j->m.exp_year);
    stmt_bind_i64(st, 7, j->now);
    if (j->m.billing_country[0])
        stmt_bind_text(st, 8, j->m.billing_country);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "saving the payment method");
    j->m.id = db_last_id(db);
    return SHOP_OK;
}

enum shop_err payment_method_add(struct shop *shop, int64_t user_id, json_t *body, json_t **out,
                                 struct problem *pb)
{
    const char *type = NULL, *number = NULL, *cvc = NULL;
    int64_t month = 0, year = 0;
    if (jx_str(body, "type", NULL, JX_REQUIRED, 1, 16, &type, pb) && strcmp(type, "card") != 0)
        problem_field(pb, SHOP_INVALID, "type", "only \"card\" is supported");
    char digits[24] = "";
    if (jx_str(body, "number", NULL, JX_REQUIRED, 1, 32, &number, pb)) {
        size_t n = 0;
        bool ok = true;
        for (const char *p = number; *p && ok; p++) {
            if (isdigit((unsigned char)*p) && n < 19)
                digits[n++] = *p;
            else if (*p != ' ' && *p != '-')
                ok = false;
        }
        digits[n] = '\0';
        if (!ok || n < 12 || n > 19)
            problem_field(pb, SHOP_INVALID, "number", "must be 12 to 19 digits");
        else if (!payment_luhn_valid(digits))
            problem_field(pb, SHOP_INVALID, "number", "is not a valid card number");
    }
    bool m_ok = jx_int(body, "exp_month", NULL, JX_REQUIRED, 1, 12, &month, pb);
    bool y_ok = jx_int(body, "exp_year", NULL, JX_REQUIRED, 2000, 2100, &year, pb);
    struct payment_method m = {.user_id = user_id, .exp_month = (int)month, .exp_year = (int)year};
    if (m_ok && y_ok && payment_method_expired(&m, clock_now_ms()))
        problem_field(pb, SHOP_INVALID, "exp_year", "the card has expired");
    const char *country = NULL;
    if (jx_str(body, "billing_country", NULL, JX_OPTIONAL, 2, 2, &country, pb)) {
        if (!isupper((unsigned char)country[0]) || !isupper((unsigned char)country[1]))
            problem_field(pb, SHOP_INVALID, "billing_country",
                          "must be an ISO 3166-1 alpha-2 code, e.g. US");
        else
            snprintf(m.billing_country, sizeof m.billing_country, "%s", country);
    }
    if (jx_str(body, "cvc", NULL, JX_REQUIRED, 3, 4, &cvc, pb))
        for (const char *p = cvc; *p; p++)
            if (!isdigit((unsigned char)*p)) {
                problem_field(pb, SHOP_INVALID, "cvc", "must be 3 or 4 digits");
                break;
            }
    if (pb->err)
        return pb->err;

    struct gw_card card = {.number = digits, .exp_month = (int)month, .exp_year = (int)year,
                           .cvc = cvc};
    struct gw_token t;
    struct gateway *gw = shop->payments->gw;
    enum gw_status st = gw->tokenize(gw, &card, &t);
    memset(digits, 0, sizeof digits);
    if (st != GW_OK)
        return problem_set(pb, SHOP_UNAVAILABLE, "the payment gateway could not store the card");
    snprintf(m.token, sizeof m.token, "%s", t.token);
    snprintf(m.brand, sizeof m.brand, "%s", t.brand);
    snprintf(m.last4, sizeof m.last4, "%s", t.last4);
    struct method_job j = {.m = m, .now = clock_now_ms()};
    if (store_write(shop->store, method_write, &j, pb) != SHOP_OK)
        return pb->err;
    *out = payment_method_json(&j.m);
    return SHOP_OK;
}

static void row_to_method(struct stmt *st, struct payment_method *m)
{
    m->id = stmt_i64(st, 0);
    m->user_id = stmt_i64(st, 1);
    snprintf(m->token, sizeof m->token, "%s", stmt_text(st, 2));
    snprintf(m->brand, sizeof m->brand, "%s", stmt_text(st, 3));
    snprintf(m->last4, sizeof m->last4, "%s", stmt_text(st, 4));
    m->exp_month = (int)stmt_i64(st, 5);
    m->exp_year = (int)stmt_i64(st, 6);
    snprintf(m->billing_country, sizeof m->billing_country, "%s",
             stmt_is_null(st, 7) ? "" : stmt_text(st, 7));
}

int payment_method_read(struct db *db, int64_t user_id, int64_t id, struct payment_method *out)
{
    struct stmt *st = db_prepare(
        db, "SELECT id, user_id, gateway_token, brand, last4, exp_month,"
            " exp_year, billing_country FROM payment_methods WHERE id = ? AND user_id = ?"
            " AND deleted_at IS NULL");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, id);
    stmt_bind_i64(st, 2, user_id);
    int rc = stmt_step(st);
    if (rc != STMT_ROW)
        return rc == STMT_DONE ? 0 : -1;
    row_to_method(st, out);
    return 1;
}

enum shop_err payment_method_list(struct shop *shop, int64_t user_id, int limit, int64_t before,
                                  json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st =
        db_prepare(db, "SELECT id, user_id, gateway_token, brand, last4, exp_month,"
                       " exp_year, billing_country FROM payment_methods WHERE user_id = ?"
                       " AND deleted_at IS NULL AND id < ? ORDER BY id DESC LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing payment methods");
    stmt_bind_i64(st, 1, user_id);
    stmt_bind_i64(st, 2, before ? before : INT64_MAX);
    stmt_bind_i64(st, 3, limit + 1);
    json_t *data = json_array();
    int64_t now = clock_now_ms(), last = 0;
    int rc, n = 0;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (n == limit)
            break; /* one more: there is a next page */
        struct payment_method m;
        row_to_method(st, &m);
        last = m.id;
        n++;
        json_t *o = payment_method_json(&m);
        json_object_set_new(o, "expired", json_boolean(payment_method_expired(&m, now)));
        json_array_append_new(data, o);
    }
    bool more = rc == STMT_ROW;
    if (rc != STMT_DONE && !more) {
        json_decref(data);
        enum shop_err e = db_fail(db, pb, "listing payment methods");
        db_release(db);
        return e;
    }
    db_release(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)last) : json_null());
    return SHOP_OK;
}

struct delete_job {
    int64_t user_id, id, now;
};

static enum shop_err method_delete_write(struct db *db, void *arg, struct problem *pb)
{
    struct delete_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE payment_methods SET deleted_at = ? WHERE id = ? AND"
                                     " user_id = ? AND deleted_at IS NULL");
    if (!st)
        return db_fail(db, pb, "deleting the payment method");
    stmt_bind_i64(st, 1, j->now);
    stmt_bind_i64(st, 2, j->id);
    stmt_bind_i64(st, 3, j->user_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "deleting the payment method");
    return db_changes(db) ? SHOP_OK
                          : problem_set(pb, SHOP_NOT_FOUND, "no payment method %lld",
                                        (long long)j->id);
}

enum shop_err payment_method_delete(struct shop *shop, int64_t user_id, int64_t id,
                                    struct problem *pb)
{
    struct delete_job j = {user_id, id, clock_now_ms()};
    return store_write(shop->store, method_delete_write, &j, pb);
}

/* ---- store credit -------------------------------------------------------------- */

enum shop_err store_credit_balance(struct db *db, int64_t user_id, int64_t *balance,
                                   struct problem *pb)
{
    return db_scalar_i64_or_fail(db, "SELECT coalesce(sum(amount_cents), 0)"
                                     " FROM store_credit_entries WHERE user_id = ?",
                                 user_id, 0, balance, pb, "reading the store credit balance");
}

enum shop_err store_credit_add(struct db *db, int64_t user_id, int64_t amount_cents,
                               const char *currency, const char *reason, int64_t order_id,
                               struct problem *pb)
{
    if (amount_cents < 0) {
        /* A debit is checked against the balance under the customer's
         * credit lock, so two debits side by side cannot both pass. */
        char key[48];
        snprintf(key, sizeof key, "store-credit:%lld", (long long)user_id);
        if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
            return pb->err;
        int64_t balance;
        if (store_credit_balance(db, user_id, &balance, pb) != SHOP_OK)
            return pb->err;
        if (balance + amount_cents < 0)
            return problem_set(pb, SHOP_CONFLICT, "not enough store credit");
    }
    struct stmt *st = db_prepare(db, "INSERT INTO store_credit_entries (user_id, amount_cents,"
                                     " currency, reason, order_id, created_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording store credit");
    stmt_bind_i64(st, 1, user_id);
    stmt_bind_i64(st, 2, amount_cents);
    stmt_bind_text(st, 3, currency);
    stmt_bind_text(st, 4, reason);
    if (order_id)
        stmt_bind_i64(st, 5, order_id);
    else
        stmt_bind_null(st, 5);
    stmt_bind_i64(st, 6, clock_now_ms());
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording store credit");
}

enum shop_err store_credit_get(struct shop *shop, int64_t user_id, json_t **out,
                               struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    int64_t balance;
    if (store_credit_balance(db, user_id, &balance, pb) != SHOP_OK) {
        db_read_end(db);
        return pb->err;
    }
    struct stmt *st = db_prepare(db, "SELECT id, amount_cents, reason, order_id, created_at"
                                     " FROM store_credit_entries WHERE user_id = ?"
                                     " ORDER BY id DESC LIMIT 100");
    json_t *entries = json_array();
    char ts[RFC3339_LEN];
    int rc = STMT_ERROR;
    if (st) {
        stmt_bind_i64(st, 1, user_id);
        while ((rc = stmt_step(st)) == STMT_ROW)
            json_array_append_new(
                entries, json_pack("{s:I, s:I, s:s, s:o, s:s}", "id", (json_int_t)stmt_i64(st, 0),
                                   "amount_cents", (json_int_t)stmt_i64(st, 1), "reason",
                                   stmt_text(st, 2), "order_id",
                                   stmt_is_null(st, 3) ? json_null() : json_integer(stmt_i64(st, 3)),
                                   "created_at", clock_fmt(stmt_i64(st, 4), ts)));
    }
    if (rc != STMT_DONE) {
        json_decref(entries);
        db_fail(db, pb, "reading the store credit entries");
        db_read_end(db);
        return pb->err;
    }
    db_read_end(db);
    *out = json_pack("{s:I, s:s, s:o}", "balance_cents", (json_int_t)balance, "currency",
                     shop->cfg.currency, "entries", entries);
    return SHOP_OK;
}

struct grant_job {
    const char *currency, *reason;
    int64_t user_id, amount;
};

static enum shop_err grant_write(struct db *db, void *arg, struct problem *pb)
{
    struct grant_job *j = arg;
    int64_t users;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM users WHERE id = ?", j->user_id, 0, &users,
                              pb, "reading the user") != SHOP_OK)
        return pb->err;
    if (!users)
        return problem_set(pb, SHOP_NOT_FOUND, "no user %lld", (long long)j->user_id);
    return store_credit_add(db, j->user_id, j->amount, j->currency, j->reason, 0, pb);
}

enum shop_err store_credit_grant(struct shop *shop, int64_t user_id, int64_t amount_cents,
                                 const char *reason, json_t **out, struct problem *pb)
{
    struct grant_job j = {shop->cfg.currency, reason, user_id, amount_cents};
    if (store_write(shop->store, grant_write, &j, pb) != SHOP_OK)
        return pb->err;
    return store_credit_get(shop, user_id, out, pb);
}
