/* promo.c — promotions in the database for a cart (promo.h has the essay):
 * loading the ones a cart may get, pricing the cart with them, recording
 * and giving back uses. The arithmetic is promo_calc.c; administration
 * (create, change, list, codes) is promo_admin.c.
 */
#include "shop/promo.h"

#include <stdio.h>
#include <string.h>

#include "shop/category.h"
#include "shop/promo_int.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

/* ---- rows ----------------------------------------------------------------- */

static int ids_parse(const char *text, int64_t *ids, int max)
{
    int n = 0;
    if (!*text)
        return 0;
    json_t *a = json_loads(text, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (n < max && json_is_integer(v))
            ids[n++] = json_integer_value(v);
    }
    json_decref(a);
    return n;
}

static int tiers_parse(const char *text, struct promo_tier *t, int max)
{
    int n = 0;
    if (!*text)
        return 0;
    json_t *a = json_loads(text, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (n == max)
            break;
        t[n].min_subtotal = json_integer_value(json_object_get(v, "min_subtotal_cents"));
        t[n].amount = json_integer_value(json_object_get(v, "amount_cents"));
        t[n].percent_bps = (int)json_integer_value(json_object_get(v, "percent_bps"));
        n++;
    }
    json_decref(a);
    return n;
}

/* Row → rule (columns from `c`, PROMO_COLS' order). */
static void rule_read(struct stmt *st, int c, struct arena *a, struct promo_rule *r)
{
    memset(r, 0, sizeof *r);
    r->id = stmt_i64(st, c);
    r->name = arena_strdup(a, stmt_text(st, c + 1));
    r->type = promo_type_parse(stmt_text(st, c + 2));
    r->percent_bps = (int)stmt_i64(st, c + 3);
    r->amount = stmt_i64(st, c + 4);
    r->buy_quantity = stmt_i64(st, c + 5);
    r->get_quantity = stmt_i64(st, c + 6);
    r->get_percent_bps = (int)stmt_i64(st, c + 7);
    r->ntiers = tiers_parse(stmt_text(st, c + 8), r->tiers, PROMO_TIERS_MAX);
    r->nproducts = ids_parse(stmt_text(st, c + 9), r->product_ids, PROMO_TARGETS_MAX);
    r->ncategories = ids_parse(stmt_text(st, c + 10), r->category_ids, PROMO_TARGETS_MAX);
    r->min_subtotal = stmt_i64(st, c + 11);
    r->max_discount = stmt_i64(st, c + 12);
    r->priority = stmt_i64(st, c + 18);
    r->stackable = stmt_i64(st, c + 19) != 0;
}

/* The customer's uses of a promotion, and when the last one was made
 * (`last` may be NULL). */
static int64_t customer_uses(struct db *db, int64_t promotion, int64_t user, int64_t *last)
{
    struct stmt *st = db_prepare(db, "SELECT count(*), coalesce(max(created_at), 0) FROM"
                                     " order_promotions WHERE promotion_id = ? AND user_id = ?"
                                     " AND released = 0");
    if (!st)
        return 0;
    stmt_bind_i64(st, 1, promotion);
    stmt_bind_i64(st, 2, user);
    if (stmt_step(st) != STMT_ROW)
        return 0;
    if (last)
        *last = stmt_i64(st, 1);
    return stmt_i64(st, 0);
}

/* ---- pricing a cart ------------------------------------------------------- */

/* The automatic promotions `st` selects (PROMO_COLS) into `set`; one that
 * ended by `now` is marked so (checkout prices it as shown, then refuses it). */
static void automatic_read(struct stmt *st, struct arena *a, int64_t now, struct promo_set *set)
{
    while (set->n < PROMO_RULES_MAX - 1 && stmt_step(st) == STMT_ROW) {
        int k = set->n++;
        rule_read(st, 0, a, &set->rules[k]);
        set->why[k] = PROMO_APPLIED;
        set->code_ids[k] = 0;
        set->single_use[k] = false;
        set->per_customer[k] = stmt_i64(st, 16);
        set->ended[k] = !stmt_i64(st, 20) || (stmt_i64(st, 14) && stmt_i64(st, 14) <= now);
    }
}

bool promo_load(struct db *db, struct arena *a, const char *coupon, int64_t user_id, int64_t now,
                int64_t shown_at, struct promo_set *set)
{
    bool checkout = shown_at > 0;
    set->n = 0;
    set->coupon = -1;
    set->coupon_unknown = false;
    /* Automatic ones that are live and not used up: one index range. At
     * checkout also those used up or ended since the cart was shown: priced
     * as it showed them, promo_record refuses them (the essay, Limits); and
     * those switched off since (switching off ends a promotion at once:
     * promo_admin.c), the range of inactive ones, in the same statement. */
#define LIVE                                                                                   \
    "SELECT " PROMO_COLS " FROM promotions p WHERE p.automatic = 1 AND p.active = 1"           \
    " AND p.starts_at <= ?1 AND (p.ends_at IS NULL OR p.ends_at > ?4)"                         \
    " AND (p.usage_limit IS NULL OR p.uses < p.usage_limit OR p.limit_reached_at > ?3)"        \
    " LIMIT ?2"
#define SWITCHED_OFF                                                                           \
    "SELECT " PROMO_COLS " FROM promotions p WHERE p.automatic = 1 AND p.active = 0"           \
    " AND p.ends_at > ?3 AND p.starts_at < p.ends_at LIMIT ?2"
    struct stmt *st = db_prepare(db, checkout ? "SELECT * FROM (" LIVE ") AS live UNION ALL"
                                                " SELECT * FROM (" SWITCHED_OFF ") AS off"
                                              : LIVE);
#undef LIVE
#undef SWITCHED_OFF
    if (!st)
        return false;
    stmt_bind_i64(st, 1, now);
    stmt_bind_i64(st, 2, PROMO_RULES_MAX - 1);
    stmt_bind_i64(st, 3, checkout ? shown_at : INT64_MAX);
    stmt_bind_i64(st, 4, checkout && shown_at < now ? shown_at : now);
    automatic_read(st, a, now, set);
    /* An automatic promotion this customer has used up is simply not there. */
    for (int k = 0; k < set->n; k++) {
        set->customer_used[k] = set->per_customer[k] > 0 && user_id
                                    ? customer_uses(db, set->rules[k].id, user_id, NULL)
                                    : -1;
        if (set->customer_used[k] >= 0 && set->customer_used[k] >= set->per_customer[k])
            set->why[k] = PROMO_CUSTOMER_LIMIT;
    }
    if (!coupon || !*coupon)
        return true;

    st = db_prepare(db, "SELECT c.id, c.single_use, c.uses, " PROMO_COLS
                        ", coalesce(c.used_at, 0), coalesce(p.limit_reached_at, 0)"
                        " FROM promotion_codes c JOIN promotions p ON p.id = c.promotion_id"
                        " WHERE c.code = ?");
    if (!st)
        return false;
    stmt_bind_text(st, 1, coupon);
    if (stmt_step(st) != STMT_ROW) {
        set->coupon_unknown = true;
        return true;
    }
    /* Switched off or past its end; at checkout, one that ended after the
     * cart was shown is priced as shown, for promo_record to refuse. */
    int64_t ends = stmt_i64(st, 3 + 14);
    bool ended = stmt_i64(st, 3 + 20) == 0 || (ends && ends <= now);
    if (ended && !(checkout && ends > shown_at)) {
        set->coupon_unknown = true;
        return true;
    }
    int k = set->n++;
    set->ended[k] = ended;
    struct promo_rule *r = &set->rules[k];
    rule_read(st, 3, a, r);
    r->code = arena_strdup(a, coupon);
    set->coupon = k;
    set->code_ids[k] = stmt_i64(st, 0);
    set->single_use[k] = stmt_i64(st, 1) != 0;
    set->per_customer[k] = stmt_i64(st, 3 + 16);
    int64_t last_use = 0;
    set->customer_used[k] =
        set->per_customer[k] > 0 && user_id ? customer_uses(db, r->id, user_id, &last_use) : -1;
    int64_t limit = stmt_i64(st, 3 + 15), uses = stmt_i64(st, 3 + 17);
    int64_t code_uses = stmt_i64(st, 2), starts = stmt_i64(st, 3 + 13);
    enum promo_why why = PROMO_APPLIED;
    int64_t reached_at = 0; /* when the limit that stops it was reached */
    if (starts > now) {
        why = PROMO_NOT_STARTED;
    } else if (limit >= 0 && uses >= limit) {
        why = PROMO_LIMIT_REACHED;
        reached_at = stmt_i64(st, 3 + 25);
    } else if (set->single_use[k] && code_uses > 0) {
        why = PROMO_CODE_USED;
        reached_at = stmt_i64(st, 3 + 24);
    } else if (set->customer_used[k] >= 0 && set->customer_used[k] >= set->per_customer[k]) {
        why = PROMO_CUSTOMER_LIMIT;
        reached_at = last_use;
    }
    /* A limit reached since the cart was shown: checkout prices the code as
     * the cart showed it and lets promo_record refuse it (promo.h, Limits). */
    set->why[k] =
        checkout && why != PROMO_NOT_STARTED && reached_at > shown_at ? PROMO_APPLIED : why;
    return true;
}

struct within_ctx {
    struct category_tree *tree;
};

static bool within(void *ctx, int64_t category, int64_t ancestor)
{
    struct within_ctx *w = ctx;
    return category == ancestor || category_within(w->tree, category, ancestor);
}

void promo_price(struct shop *shop, const struct promo_set *set, const struct promo_line *lines,
                 int n, int64_t shipping, struct promo_outcome *out)
{
    struct within_ctx w = {shop->categories};
    struct promo_cart c = {
        .lines = lines, .n = n, .shipping = shipping, .within = within, .ctx = &w};
    for (int k = 0; k < set->n; k++)
        out->why[k] = set->why[k];
    promo_apply(&c, set->rules, set->n, out);
}

json_t *promo_applied_json(const struct promo_set *set, const struct promo_outcome *out)
{
    json_t *list = json_array();
    for (int i = 0; i < out->napplied; i++) {
        const struct promo_rule *r = &set->rules[out->applied[i].rule];
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s?, s:s, s:I, s:I}", "id", (json_int_t)r->id, "name",
                            r->name, "code", r->code, "type", promo_type_name(r->type),
                            "discount_cents", (json_int_t)out->applied[i].discount,
                            "shipping_discount_cents", (json_int_t)out->applied[i].shipping));
    }
    return list;
}

json_t *promo_coupon_warning(const char *coupon, const struct promo_set *set,
                             const struct promo_outcome *out)
{
    if (!coupon || !*coupon)
        return NULL;
    const char *why = NULL;
    char msg[200];
    if (set->coupon_unknown)
        why = "this code is no longer valid";
    else if (set->coupon >= 0 && out->why[set->coupon] != PROMO_APPLIED)
        why = promo_why_text(out->why[set->coupon]);
    if (!why)
        return NULL;
    snprintf(msg, sizeof msg, "%s does not apply: %s", coupon, why);
    return json_pack("{s:s, s:s, s:s}", "type", "coupon_not_applied", "code", coupon, "message",
                     msg);
}

/* ---- uses --------------------------------------------------------------------- */

static enum shop_err limit_reached(struct problem *pb, const struct promo_rule *r, const char *what)
{
    problem_extra(pb, "promotion_id", json_integer(r->id));
    problem_extra(pb, "promotion", json_string(r->name));
    return problem_set(pb, SHOP_CONFLICT, "the promotion \"%s\" %s; the cart shows the new total",
                       r->name, what);
}

enum shop_err promo_record(struct db *db, int64_t order_id, int64_t user_id, int64_t now,
                           const struct promo_set *set, const struct promo_outcome *out,
                           struct order_doc_promotion *rows, int *nrows, struct problem *pb)
{
    *nrows = 0;
    for (int i = 0; i < out->napplied; i++) {
        int k = out->applied[i].rule;
        const struct promo_rule *r = &set->rules[k];
        if (out->applied[i].discount <= 0)
            continue; /* gave nothing, uses nothing */
        if (set->ended[k])
            return limit_reached(pb, r, "has ended");
        struct stmt *st = db_prepare(
            db, "UPDATE promotions SET uses = uses + 1, limit_reached_at = CASE WHEN"
                " usage_limit IS NOT NULL AND uses + 1 >= usage_limit THEN ?2 ELSE"
                " limit_reached_at END WHERE id = ?1 AND active = 1 AND (usage_limit IS NULL OR"
                " uses < usage_limit)");
        if (!st)
            return db_fail(db, pb, "recording the promotion's use");
        /* When the limit was reached: the writer's time, as near its commit
         * as this transaction knows (the checkout's own `now` is older). */
        stmt_bind_i64(st, 1, r->id);
        stmt_bind_i64(st, 2, clock_now_ms());
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the promotion's use");
        if (db_changes(db) != 1)
            return limit_reached(pb, r, "has reached its usage limit");
        /* The customer's count, as promo_load took it in this transaction:
         * checkout holds "checkout:<user>" (keylock), so no other checkout
         * of theirs counts or records meanwhile. */
        int64_t used = set->customer_used[k] >= 0 ? set->customer_used[k]
                                                  : customer_uses(db, r->id, user_id, NULL);
        if (set->per_customer[k] > 0 && used >= set->per_customer[k])
            return limit_reached(pb, r, "was already used as often as it allows for you");
        if (set->code_ids[k] && set->single_use[k]) {
            st = db_prepare(db, "UPDATE promotion_codes SET uses = uses + 1, used_at = ?"
                                " WHERE id = ? AND uses = 0");
            if (!st)
                return db_fail(db, pb, "recording the code's use");
            stmt_bind_i64(st, 1, clock_now_ms());
            stmt_bind_i64(st, 2, set->code_ids[k]);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "recording the code's use");
            if (db_changes(db) != 1)
                return limit_reached(pb, r, "code has already been used");
        }
        st = db_prepare(db, "INSERT INTO order_promotions (order_id, promotion_id, code_id,"
                            " user_id, name, code, type, discount_cents, shipping_discount_cents,"
                            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "recording the promotion");
        stmt_bind_i64(st, 1, order_id);
        stmt_bind_i64(st, 2, r->id);
        if (set->code_ids[k])
            stmt_bind_i64(st, 3, set->code_ids[k]);
        else
            stmt_bind_null(st, 3);
        stmt_bind_i64(st, 4, user_id);
        stmt_bind_text(st, 5, r->name);
        if (r->code)
            stmt_bind_text(st, 6, r->code);
        else
            stmt_bind_null(st, 6);
        stmt_bind_text(st, 7, promo_type_name(r->type));
        stmt_bind_i64(st, 8, out->applied[i].discount);
        stmt_bind_i64(st, 9, out->applied[i].shipping);
        stmt_bind_i64(st, 10, now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "recording the promotion");
        rows[(*nrows)++] =
            (struct order_doc_promotion){.id = r->id,
                                         .name = r->name,
                                         .code = r->code,
                                         .type = promo_type_name(r->type),
                                         .discount_cents = out->applied[i].discount,
                                         .shipping_discount_cents = out->applied[i].shipping};
    }
    return SHOP_OK;
}

enum shop_err promo_release(struct db *db, int64_t order_id, struct problem *pb)
{
    struct {
        int64_t promotion, code;
    } uses[PROMO_RULES_MAX];
    int n = 0;
    struct stmt *st = db_prepare(db, "SELECT promotion_id, coalesce(code_id, 0) FROM"
                                     " order_promotions WHERE order_id = ? AND released = 0");
    if (!st)
        return db_fail(db, pb, "reading the order's promotions");
    stmt_bind_i64(st, 1, order_id);
    while (n < PROMO_RULES_MAX && stmt_step(st) == STMT_ROW) {
        uses[n].promotion = stmt_i64(st, 0);
        uses[n].code = stmt_i64(st, 1);
        n++;
    }
    if (n == 0)
        return SHOP_OK;
    for (int i = 0; i < n; i++) {
        st = db_prepare(db, "UPDATE promotions SET uses = uses - 1 WHERE id = ? AND uses > 0");
        if (!st)
            return db_fail(db, pb, "giving back a promotion's use");
        stmt_bind_i64(st, 1, uses[i].promotion);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "giving back a promotion's use");
        if (!uses[i].code)
            continue;
        st = db_prepare(db, "UPDATE promotion_codes SET uses = uses - 1 WHERE id = ?"
                            " AND single_use = 1 AND uses > 0");
        if (!st)
            return db_fail(db, pb, "giving back a code's use");
        stmt_bind_i64(st, 1, uses[i].code);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "giving back a code's use");
    }
    st = db_prepare(db, "UPDATE order_promotions SET released = 1 WHERE order_id = ?"
                        " AND released = 0");
    if (!st)
        return db_fail(db, pb, "giving back the order's promotions");
    stmt_bind_i64(st, 1, order_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK
                                      : db_fail(db, pb, "giving back the order's promotions");
}
