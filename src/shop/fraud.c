/* fraud.c — the fraud rules: the pure decision, the facts it needs (indexed,
 * bounded counts), and the verdict as admins see it. The essay is fraud.h;
 * the review of held orders is fraud_review.c. */
#include "shop/fraud.h"

#include <stdio.h>
#include <string.h>

#include "shop/config.h"
#include "shop/keylock.h"
#include "store/store.h"
#include "util/clock.h"

static const char *const rule_names[FRAUD_RULE_COUNT] = {
    [FRAUD_VELOCITY_USER] = "velocity_user",
    [FRAUD_VELOCITY_CARD] = "velocity_card",
    [FRAUD_VELOCITY_IP] = "velocity_ip",
    [FRAUD_NEW_ACCOUNT_HIGH_VALUE] = "new_account_high_value",
    [FRAUD_COUNTRY_MISMATCH] = "country_mismatch",
    [FRAUD_REPEATED_DECLINES] = "repeated_declines",
};

const char *fraud_rule_name(enum fraud_rule rule)
{
    return (unsigned)rule < FRAUD_RULE_COUNT ? rule_names[rule] : "unknown";
}

const char *fraud_decision_name(enum fraud_decision d)
{
    return d == FRAUD_REJECT ? "reject" : d == FRAUD_HOLD ? "hold" : "approve";
}

void fraud_rules_from_config(const struct shop_config *cfg, struct fraud_rules *out)
{
    *out = (struct fraud_rules){
        .enabled = cfg->fraud,
        .window_ms = cfg->fraud_window_ms,
        .user_orders = cfg->fraud_user_orders,
        .card_orders = cfg->fraud_card_orders,
        .ip_orders = cfg->fraud_ip_orders,
        .declines = cfg->fraud_declines,
        .new_account_ms = cfg->fraud_new_account_ms,
        .high_value_cents = cfg->fraud_high_value_cents,
        .points = {[FRAUD_VELOCITY_USER] = cfg->fraud_points_user,
                   [FRAUD_VELOCITY_CARD] = cfg->fraud_points_card,
                   [FRAUD_VELOCITY_IP] = cfg->fraud_points_ip,
                   [FRAUD_NEW_ACCOUNT_HIGH_VALUE] = cfg->fraud_points_new_account,
                   [FRAUD_COUNTRY_MISMATCH] = cfg->fraud_points_country,
                   [FRAUD_REPEATED_DECLINES] = cfg->fraud_points_declines},
        .hold_score = cfg->fraud_hold_score,
        .reject_score = cfg->fraud_reject_score,
    };
}

/* A count rule: on (threshold > 0) and reached. */
static bool reached(int threshold, int64_t count)
{
    return threshold > 0 && count >= threshold;
}

void fraud_score(const struct fraud_rules *r, const struct fraud_facts *f,
                 struct fraud_verdict *out)
{
    bool fired[FRAUD_RULE_COUNT] = {
        [FRAUD_VELOCITY_USER] = reached(r->user_orders, f->user_orders),
        [FRAUD_VELOCITY_CARD] = reached(r->card_orders, f->card_orders),
        [FRAUD_VELOCITY_IP] = reached(r->ip_orders, f->ip_orders),
        [FRAUD_NEW_ACCOUNT_HIGH_VALUE] = r->new_account_ms > 0 &&
                                         f->account_age_ms < r->new_account_ms &&
                                         f->total_cents >= r->high_value_cents,
        [FRAUD_COUNTRY_MISMATCH] = f->billing_country[0] && f->ship_country[0] &&
                                   strcmp(f->billing_country, f->ship_country) != 0,
        [FRAUD_REPEATED_DECLINES] =
            reached(r->declines, f->user_declines) || reached(r->declines, f->card_declines),
    };
    *out = (struct fraud_verdict){.decision = FRAUD_APPROVE};
    if (!r->enabled)
        return;
    for (int i = 0; i < FRAUD_RULE_COUNT; i++)
        if (fired[i]) {
            out->reasons |= 1u << i;
            out->score += r->points[i];
        }
    out->decision = out->score >= r->reject_score ? FRAUD_REJECT
                    : out->score >= r->hold_score ? FRAUD_HOLD
                                                  : FRAUD_APPROVE;
}

void fraud_reasons_text(unsigned reasons, char out[FRAUD_REASONS_MAX])
{
    size_t n = 0;
    out[n++] = '[';
    for (int i = 0; i < FRAUD_RULE_COUNT; i++)
        if (reasons & (1u << i))
            n += (size_t)snprintf(out + n, FRAUD_REASONS_MAX - n, "%s\"%s\"", n > 1 ? "," : "",
                                  rule_names[i]);
    snprintf(out + n, FRAUD_REASONS_MAX - n, "]");
}

/* ---- the facts ------------------------------------------------------------------ */

/* A velocity count a concurrent checkout could still push over its limit:
 * the rule is on and not yet reached. */
static bool open_count(int threshold, int64_t count)
{
    return threshold > 0 && !reached(threshold, count);
}

enum shop_err fraud_lock_card(struct db *db, const struct fraud_rules *r, const char *card_token,
                              struct problem *pb)
{
    if (db_serialised(db) || r->card_orders <= 0 || !card_token || !*card_token)
        return SHOP_OK;
    char card[96];
    snprintf(card, sizeof card, "fraud:card:%s", card_token);
    return keylock(db, (const char *const[]){card}, 1, pb);
}

enum shop_err fraud_lock_address(struct db *db, const struct fraud_rules *r,
                                 const struct fraud_facts *f, const char *ip, bool *locked,
                                 struct problem *pb)
{
    *locked = false;
    if (db_serialised(db) || !ip || !*ip || !open_count(r->ip_orders, f->ip_orders))
        return SHOP_OK;
    char addr[96];
    snprintf(addr, sizeof addr, "fraud:ip:%s", ip);
    *locked = true;
    return keylock(db, (const char *const[]){addr}, 1, pb);
}

/* The facts, one statement: each count is min(the rows of an index range,
 * limit), the range read at most `limit` entries deep, so a busy key costs
 * what its rule needs to know and no more; a rule that is off has limit 0
 * and reads nothing; a missing card or address is NULL and matches
 * nothing. One statement rather than six: on the writer, where checkout's
 * begin step reads them, each statement is a round trip on PostgreSQL and
 * a statement's fixed cost on SQLite. The user's newest orders are found by
 * the index they already have (user_id, id): ids follow creation, so the
 * newest N are the ones that can lie in the window. */
bool fraud_facts_read(struct db *db, const struct fraud_rules *r, int64_t user_id,
                      const char *card_token, const char *ip, int64_t now, struct fraud_facts *f)
{
    struct stmt *st = db_prepare(
        db, "SELECT (SELECT count(*) FROM (SELECT created_at FROM orders WHERE user_id = ?1"
            "  ORDER BY id DESC LIMIT ?4) AS newest WHERE created_at >= ?3),"
            " (SELECT count(*) FROM (SELECT 1 FROM orders WHERE card_token = ?2"
            "  AND created_at >= ?3 LIMIT ?5) AS recent),"
            " (SELECT count(*) FROM (SELECT 1 FROM orders WHERE client_ip = ?6"
            "  AND created_at >= ?3 LIMIT ?7) AS recent),"
            " (SELECT count(*) FROM (SELECT 1 FROM fraud_declines WHERE user_id = ?1"
            "  AND at >= ?3 LIMIT ?8) AS recent),"
            " (SELECT count(*) FROM (SELECT 1 FROM fraud_declines WHERE card_token = ?2"
            "  AND at >= ?3 LIMIT ?8) AS recent),"
            " (SELECT created_at FROM users WHERE id = ?1 AND ?9 > 0)");
    if (!st)
        return false;
    bool card = card_token && *card_token, addr = ip && *ip;
    stmt_bind_i64(st, 1, user_id);
    if (card)
        stmt_bind_text(st, 2, card_token);
    else
        stmt_bind_null(st, 2);
    stmt_bind_i64(st, 3, now - r->window_ms);
    stmt_bind_i64(st, 4, r->user_orders > 0 ? r->user_orders : 0);
    stmt_bind_i64(st, 5, card && r->card_orders > 0 ? r->card_orders : 0);
    if (addr)
        stmt_bind_text(st, 6, ip);
    else
        stmt_bind_null(st, 6);
    stmt_bind_i64(st, 7, addr && r->ip_orders > 0 ? r->ip_orders : 0);
    stmt_bind_i64(st, 8, r->declines > 0 ? r->declines : 0);
    stmt_bind_i64(st, 9, r->new_account_ms > 0);
    if (stmt_step(st) != STMT_ROW)
        return false;
    f->user_orders = stmt_i64(st, 0);
    f->card_orders = stmt_i64(st, 1);
    f->ip_orders = stmt_i64(st, 2);
    f->user_declines = stmt_i64(st, 3);
    f->card_declines = stmt_i64(st, 4);
    f->account_age_ms = stmt_is_null(st, 5) ? 0 : now - stmt_i64(st, 5);
    return true;
}

enum shop_err fraud_decline_record(struct db *db, int64_t user_id, const char *card_token,
                                   const char *code, int64_t now, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "INSERT INTO fraud_declines (user_id, card_token, code, at)"
                                     " VALUES (?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "recording the decline");
    stmt_bind_i64(st, 1, user_id);
    if (card_token && *card_token)
        stmt_bind_text(st, 2, card_token);
    else
        stmt_bind_null(st, 2);
    stmt_bind_text(st, 3, code ? code : "card_declined");
    stmt_bind_i64(st, 4, now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording the decline");
}

void fraud_attach(struct db *db, int64_t order_id, json_t *order)
{
    struct stmt *st = db_prepare(db, "SELECT fraud_decision, fraud_score, fraud_reasons,"
                                     " fraud_review, fraud_reviewed_at FROM orders WHERE id = ?");
    if (!st)
        return;
    stmt_bind_i64(st, 1, order_id);
    if (stmt_step(st) != STMT_ROW || stmt_is_null(st, 0))
        return;
    json_t *reasons = json_loads(stmt_is_null(st, 2) ? "[]" : stmt_text(st, 2), 0, NULL);
    char ts[RFC3339_LEN];
    json_object_set_new(order, "fraud",
                        json_pack("{s:s, s:I, s:o, s:s*, s:s*}", "decision", stmt_text(st, 0),
                                  "score", (json_int_t)stmt_i64(st, 1), "reasons",
                                  reasons ? reasons : json_array(), "review",
                                  stmt_is_null(st, 3) ? NULL : stmt_text(st, 3), "reviewed_at",
                                  stmt_is_null(st, 4) ? NULL : clock_fmt(stmt_i64(st, 4), ts)));
}
