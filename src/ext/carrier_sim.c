/* carrier_sim.c — the simulated carrier (see carrier.h for how it behaves).
 *
 * Its books are one row per label in the shop's own store
 * (carrier_sim_labels): a real carrier keeps them on its side, which is
 * what makes a retried label request answerable. Each row also carries the
 * parcel's journey as the carrier sees it; carrier_sim_advance moves it on
 * and reports each step, as a real carrier's webhook would.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ext/carrier.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/faults.h"

struct sim {
    struct store *store;
    int64_t timeout_ms, step_ms;
};

#define NEVER INT64_C(0x7fffffffffffffff)

/* ---- behaviour, by the address --------------------------------------------- */

struct behaviour {
    bool timeout, down, undeliverable;
    int fail_deliveries;
};

static void scan(const char *s, struct behaviour *b)
{
    if (!s)
        return;
    for (const char *p = s; (p = strcasestr(p, "carrier:")); p += 8) {
        const char *w = p + 8;
        if (!strncasecmp(w, "timeout", 7))
            b->timeout = true;
        else if (!strncasecmp(w, "down", 4))
            b->down = true;
        else if (!strncasecmp(w, "undeliverable", 13))
            b->undeliverable = true;
        else if (!strncasecmp(w, "fail-", 5) && w[5] >= '1' && w[5] <= '9')
            b->fail_deliveries = w[5] - '0';
    }
}

static struct behaviour behaviour_of(const struct carrier_parcel *p)
{
    struct behaviour b = {0};
    scan(p->name, &b);
    scan(p->line1, &b);
    scan(p->line2, &b);
    return b;
}

/* "SIM" and 12 digits, from the key: the same key, the same number. */
static void tracking_for(const char *key, char out[32])
{
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)key, strlen(key), NULL, 0);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    snprintf(out, 32, "SIM%012llu", (unsigned long long)(v % 1000000000000ull));
}

/* ---- labels ------------------------------------------------------------------ */

struct label_job {
    const struct carrier_parcel *p;
    struct behaviour b;
    int64_t now, step_ms;
    char tracking[32]; /* out */
    bool created;      /* out: this call made it */
};

static enum shop_err label_write(struct db *db, void *arg, struct problem *pb)
{
    struct label_job *j = arg;
    j->created = false;
    tracking_for(j->p->key, j->tracking);
    struct stmt *st = db_prepare(db, "INSERT INTO carrier_sim_labels (key, tracking_number,"
                                     " service, status, fail_deliveries, created_at, next_at)"
                                     " VALUES (?, ?, ?, 'label_created', ?, ?, ?)"
                                     " ON CONFLICT (key) DO NOTHING");
    if (!st)
        return db_fail(db, pb, "carrier: recording a label");
    stmt_bind_text(st, 1, j->p->key);
    stmt_bind_text(st, 2, j->tracking);
    stmt_bind_text(st, 3, j->p->service ? j->p->service : "standard");
    stmt_bind_i64(st, 4, j->b.fail_deliveries);
    stmt_bind_i64(st, 5, j->now);
    stmt_bind_i64(st, 6, j->now + j->step_ms);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "carrier: recording a label");
    j->created = db_changes(db) == 1;
    return SHOP_OK;
}

static enum carrier_status do_create_label(struct carrier *c, const struct carrier_parcel *p,
                                           struct carrier_label *out)
{
    struct sim *s = c->impl;
    memset(out, 0, sizeof *out);
    struct label_job j = {.p = p, .b = behaviour_of(p), .now = clock_now_ms(),
                          .step_ms = s->step_ms};
    if (j.b.down) {
        snprintf(out->code, sizeof out->code, "carrier_unavailable");
        return CARRIER_UNAVAILABLE;
    }
    if (j.b.undeliverable) {
        snprintf(out->code, sizeof out->code, "address_undeliverable");
        return CARRIER_REFUSED;
    }
    struct problem pb = {0};
    enum shop_err e = store_write(s->store, label_write, &j, &pb);
    problem_clear(&pb);
    if (e != SHOP_OK) {
        snprintf(out->code, sizeof out->code, "carrier_error");
        return CARRIER_UNAVAILABLE;
    }
    if (j.b.timeout && j.created) { /* made, but the answer is lost */
        clock_sleep_ms(s->timeout_ms);
        snprintf(out->code, sizeof out->code, "timeout");
        return CARRIER_TIMEOUT;
    }
    snprintf(out->tracking_number, sizeof out->tracking_number, "%s", j.tracking);
    return CARRIER_OK;
}

/* Injected faults (util/faults.h) on carrier.create_label: error (nothing
 * done, unavailable), timeout (nothing done, no answer), lost (the label is
 * made, the answer lost). */
static enum carrier_status sim_create_label(struct carrier *c, const struct carrier_parcel *p,
                                            struct carrier_label *out)
{
    struct sim *s = c->impl;
    enum fault_mode fm = faults_check(FP_CARRIER_LABEL, NULL);
    if (fm == FM_ERROR || fm == FM_BUSY) {
        memset(out, 0, sizeof *out);
        snprintf(out->code, sizeof out->code, "carrier_unavailable");
        return CARRIER_UNAVAILABLE;
    }
    enum carrier_status st = CARRIER_TIMEOUT;
    if (fm != FM_TIMEOUT)
        st = do_create_label(c, p, out);
    if (fm == FM_TIMEOUT || fm == FM_LOST) {
        clock_sleep_ms(s->timeout_ms);
        memset(out, 0, sizeof *out);
        snprintf(out->code, sizeof out->code, "timeout");
        return CARRIER_TIMEOUT;
    }
    return st;
}

struct cancel_job {
    const char *tracking;
    bool found;
};

static enum shop_err cancel_write(struct db *db, void *arg, struct problem *pb)
{
    struct cancel_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE carrier_sim_labels SET cancelled = 1, next_at = ?"
                                     " WHERE tracking_number = ?");
    if (!st)
        return db_fail(db, pb, "carrier: cancelling a label");
    stmt_bind_i64(st, 1, NEVER);
    stmt_bind_text(st, 2, j->tracking);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "carrier: cancelling a label");
    j->found = db_changes(db) == 1;
    return SHOP_OK;
}

static enum carrier_status sim_cancel_label(struct carrier *c, const char *tracking_number)
{
    struct sim *s = c->impl;
    struct cancel_job j = {tracking_number, false};
    struct problem pb = {0};
    enum shop_err e = store_write(s->store, cancel_write, &j, &pb);
    problem_clear(&pb);
    return e != SHOP_OK ? CARRIER_UNAVAILABLE : j.found ? CARRIER_OK : CARRIER_REFUSED;
}

static enum carrier_status sim_track(struct carrier *c, const char *tracking_number, char *status,
                                     int64_t status_len)
{
    struct sim *s = c->impl;
    struct db *db = store_db(s->store);
    struct stmt *st =
        db_prepare(db, "SELECT status FROM carrier_sim_labels WHERE tracking_number = ?");
    enum carrier_status r = CARRIER_UNAVAILABLE;
    if (st) {
        stmt_bind_text(st, 1, tracking_number);
        r = stmt_step(st) == STMT_ROW ? CARRIER_OK : CARRIER_REFUSED;
        snprintf(status, (size_t)status_len, "%s", r == CARRIER_OK ? stmt_text(st, 0) : "");
    }
    db_release(db);
    return r;
}

/* ---- the journey ------------------------------------------------------------- */

struct parcel {
    char key[256], tracking[32], status[24];
    int64_t fail_deliveries, failures, created_at;
};

/* A parcel the shop keeps refusing to hear about (it never learnt its
 * tracking number) is given up after this long. */
#define GIVE_UP_MS INT64_C(600000)

/* The next status of a parcel and the detail a carrier would give. */
static const char *next_status(const struct parcel *p, const char **detail)
{
    *detail = NULL;
    if (!strcmp(p->status, "label_created")) {
        *detail = "picked up";
        return "in_transit";
    }
    if (!strcmp(p->status, "in_transit")) {
        *detail = "at the local depot";
        return "out_for_delivery";
    }
    if (!strcmp(p->status, "out_for_delivery")) {
        if (p->failures < p->fail_deliveries) {
            *detail = "nobody at the address";
            return "delivery_failed";
        }
        *detail = "handed to the recipient";
        return "delivered";
    }
    if (!strcmp(p->status, "delivery_failed")) {
        if (p->failures >= 3) {
            *detail = "returned after three failed attempts";
            return "returned_to_sender";
        }
        *detail = "new attempt";
        return "out_for_delivery";
    }
    return NULL;
}

struct step_job {
    const struct parcel *p;
    const char *to;
    int64_t next_at;
};

static enum shop_err step_write(struct db *db, void *arg, struct problem *pb)
{
    struct step_job *j = arg;
    struct stmt *st = db_prepare(
        db, "UPDATE carrier_sim_labels SET status = ?, next_at = ?,"
            " failures = failures + CASE WHEN ? = 'delivery_failed' THEN 1 ELSE 0 END"
            " WHERE key = ? AND status = ?");
    if (!st)
        return db_fail(db, pb, "carrier: moving a parcel");
    stmt_bind_text(st, 1, j->to);
    stmt_bind_i64(st, 2, j->next_at);
    stmt_bind_text(st, 3, j->to);
    stmt_bind_text(st, 4, j->p->key);
    stmt_bind_text(st, 5, j->p->status);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "carrier: moving a parcel");
}

int carrier_sim_advance(struct carrier *c, int64_t now, carrier_report_fn report, void *cls)
{
    struct sim *s = c->impl;
    struct parcel due[64];
    int n = 0;
    struct db *db = store_db(s->store);
    struct stmt *st = db_prepare(db, "SELECT key, tracking_number, status, fail_deliveries,"
                                     " failures, created_at FROM carrier_sim_labels"
                                     " WHERE next_at <= ? ORDER BY next_at LIMIT 64");
    if (st) {
        stmt_bind_i64(st, 1, now);
        while (n < 64 && stmt_step(st) == STMT_ROW) {
            struct parcel *p = &due[n++];
            snprintf(p->key, sizeof p->key, "%s", stmt_text(st, 0));
            snprintf(p->tracking, sizeof p->tracking, "%s", stmt_text(st, 1));
            snprintf(p->status, sizeof p->status, "%s", stmt_text(st, 2));
            p->fail_deliveries = stmt_i64(st, 3);
            p->failures = stmt_i64(st, 4);
            p->created_at = stmt_i64(st, 5);
        }
    }
    db_release(db);
    int steps = 0;
    for (int i = 0; i < n; i++) {
        const char *detail, *to = next_status(&due[i], &detail);
        struct step_job j = {&due[i], to ? to : due[i].status, NEVER};
        if (to && report(due[i].tracking, to, detail, now, cls) != 0) {
            if (now - due[i].created_at < GIVE_UP_MS)
                continue; /* the shop did not take it: again next time */
            j.to = due[i].status; /* given up: the parcel stays where it is */
            to = NULL;
        }
        if (to && strcmp(to, "delivered") && strcmp(to, "returned_to_sender"))
            j.next_at = now + s->step_ms;
        struct problem pb = {0};
        if (store_write(s->store, step_write, &j, &pb) == SHOP_OK && to)
            steps++;
        problem_clear(&pb);
    }
    return steps;
}

void carrier_sign(const char *secret, const char *body, size_t len, char out[65])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

static void sim_destroy(struct carrier *c)
{
    if (!c)
        return;
    free(c->impl);
    free(c);
}

struct carrier *carrier_sim_new(struct store *store, int64_t timeout_ms, int64_t step_ms)
{
    struct carrier *c = calloc(1, sizeof *c);
    struct sim *s = calloc(1, sizeof *s);
    if (!c || !s) {
        free(c);
        free(s);
        return NULL;
    }
    *s = (struct sim){store, timeout_ms, step_ms};
    *c = (struct carrier){.name = "sim",
                          .impl = s,
                          .create_label = sim_create_label,
                          .cancel_label = sim_cancel_label,
                          .track = sim_track,
                          .destroy = sim_destroy};
    return c;
}
