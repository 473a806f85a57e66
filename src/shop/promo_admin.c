/* promo_admin.c — administering promotions (promo.h has the essay): creating
 * them after checking what each kind needs, reading and listing them as the
 * admin API shows them, changing them, generating single-use codes; and
 * what a code may look like (promo_code_normalise, which the cart uses
 * too). Loading them for a cart and counting their uses is promo.c.
 */
#include "shop/promo.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shop/promo_int.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

/* ---- administration --------------------------------------------------------- */

bool promo_code_normalise(const char *in, char out[PROMO_CODE_MAX + 1])
{
    size_t n = in ? strlen(in) : 0;
    if (n < 1 || n > PROMO_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (!isalnum(ch) && ch != '-' && ch != '_')
            return false;
        out[i] = (char)toupper(ch);
    }
    out[n] = '\0';
    return true;
}

static json_t *ids_json(const char *text)
{
    json_t *a = *text ? json_loads(text, 0, NULL) : NULL;
    return a ? a : json_array();
}

static json_t *opt_int(int64_t v, int64_t none)
{
    return v == none ? json_null() : json_integer(v);
}

static json_t *time_json(int64_t ms)
{
    char ts[RFC3339_LEN];
    return ms ? json_string(clock_fmt(ms, ts)) : json_null();
}

/* The promotion row `id` as the admin sees it. */
static json_t *promo_json(struct db *db, int64_t id)
{
    struct stmt *st = db_prepare(db, "SELECT " PROMO_COLS ", (SELECT c.code FROM promotion_codes c"
                                     " WHERE c.promotion_id = p.id AND c.single_use = 0"
                                     " ORDER BY c.id LIMIT 1), (SELECT count(*) FROM"
                                     " promotion_codes c WHERE c.promotion_id = p.id AND"
                                     " c.single_use = 1) FROM promotions p WHERE p.id = ?");
    if (!st)
        return NULL;
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return NULL;
    const char *ptext = stmt_text(st, 9), *ctext = stmt_text(st, 10), *ttext = stmt_text(st, 8);
    json_t *target = *ptext || *ctext ? json_pack("{s:o, s:o}", "product_ids", ids_json(ptext),
                                                  "category_ids", ids_json(ctext))
                                      : json_null();
    json_t *tiers = *ttext ? json_loads(ttext, 0, NULL) : NULL;
    int64_t now = clock_now_ms(), ends = stmt_i64(st, 14);
    bool active = stmt_i64(st, 20) != 0;
    const char *status = !active || (ends && ends <= now) ? "ended"
                         : stmt_i64(st, 13) > now         ? "scheduled"
                                                          : "live";
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:I,"
        " s:I, s:b, s:b, s:b, s:s, s:o, s:I, s:o, s:o}",
        "id", (json_int_t)stmt_i64(st, 0), "name", stmt_text(st, 1), "type", stmt_text(st, 2),
        "percent_bps", (json_int_t)stmt_i64(st, 3), "amount_cents", (json_int_t)stmt_i64(st, 4),
        "buy_quantity", (json_int_t)stmt_i64(st, 5), "get_quantity", (json_int_t)stmt_i64(st, 6),
        "get_percent_bps", (json_int_t)stmt_i64(st, 7), "tiers", tiers ? tiers : json_array(),
        "target", target, "min_subtotal_cents", (json_int_t)stmt_i64(st, 11),
        "max_discount_cents", opt_int(stmt_i64(st, 12), 0), "starts_at",
        time_json(stmt_i64(st, 13)), "ends_at", time_json(ends), "usage_limit",
        opt_int(stmt_i64(st, 15), -1), "per_customer_limit", opt_int(stmt_i64(st, 16), 0),
        "uses", (json_int_t)stmt_i64(st, 17), "priority", (json_int_t)stmt_i64(st, 18),
        "stackable", stmt_i64(st, 19) != 0, "active", active, "automatic",
        stmt_i64(st, 21) != 0, "status", status, "code",
        stmt_is_null(st, 24) ? json_null() : json_string(stmt_text(st, 24)),
        "single_use_codes", (json_int_t)stmt_i64(st, 25), "created_at",
        time_json(stmt_i64(st, 22)), "updated_at", time_json(stmt_i64(st, 23)));
    return o;
}

static char *ids_text(const int64_t *ids, int n)
{
    if (n == 0)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *tiers_text(const struct promo_tier *t, int n)
{
    if (n == 0)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, t[i].percent_bps > 0
                                     ? json_pack("{s:I, s:i}", "min_subtotal_cents",
                                                 (json_int_t)t[i].min_subtotal, "percent_bps",
                                                 t[i].percent_bps)
                                     : json_pack("{s:I, s:I}", "min_subtotal_cents",
                                                 (json_int_t)t[i].min_subtotal, "amount_cents",
                                                 (json_int_t)t[i].amount));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* The rules each kind needs (the API layer checked the ranges). */
static enum shop_err validate(const struct promo_in *in, enum promo_type *type, char *code,
                              struct problem *pb)
{
    *type = promo_type_parse(in->type);
    if (*type == PROMO_TYPE_COUNT)
        return problem_field(pb, SHOP_INVALID, "type",
                             "must be percentage, fixed, buy_x_get_y, free_shipping or tiered");
    if (in->code && !promo_code_normalise(in->code, code))
        problem_field(pb, SHOP_INVALID, "code",
                      "1 to %d letters, digits, '-' or '_'", PROMO_CODE_MAX);
    switch (*type) {
    case PROMO_PERCENTAGE:
        if (!in->has_percent)
            problem_field(pb, SHOP_INVALID, "percent_bps", "is required for a percentage");
        break;
    case PROMO_FIXED:
        if (!in->has_amount)
            problem_field(pb, SHOP_INVALID, "amount_cents", "is required for a fixed amount");
        break;
    case PROMO_BXGY:
        if (!in->has_buy)
            problem_field(pb, SHOP_INVALID, "buy_quantity", "is required for buy_x_get_y");
        if (!in->has_get)
            problem_field(pb, SHOP_INVALID, "get_quantity", "is required for buy_x_get_y");
        break;
    case PROMO_TIERED:
        if (!in->has_tiers || in->ntiers == 0)
            problem_field(pb, SHOP_INVALID, "tiers", "is required for tiered");
        break;
    default:
        break;
    }
    if (in->ends_at && in->ends_at <= in->starts_at)
        problem_field(pb, SHOP_INVALID, "ends_at", "must be after starts_at");
    return pb->err;
}

struct create_job {
    const struct promo_in *in;
    enum promo_type type;
    const char *code;
    int64_t now, id;
    json_t *out;
};

/* Each of a target's ids exists (`sql` counts the product or category);
 * 422 naming the first that does not. */
static enum shop_err targets_exist(struct db *db, const char *sql, const int64_t *ids, int n,
                                   const char *field, struct problem *pb)
{
    for (int i = 0; i < n; i++) {
        int64_t found;
        if (db_scalar_i64_or_fail(db, sql, ids[i], 0, &found, pb, "reading the targets") !=
            SHOP_OK)
            return pb->err;
        if (!found) {
            char f[48];
            snprintf(f, sizeof f, "target.%s[%d]", field, i);
            return problem_field(pb, SHOP_INVALID, f, "no %s %lld",
                                 field[0] == 'p' ? "product" : "category", (long long)ids[i]);
        }
    }
    return SHOP_OK;
}

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct create_job *j = arg;
    const struct promo_in *in = j->in;
    json_decref(j->out);
    j->out = NULL;
    if (targets_exist(db, "SELECT count(*) FROM products WHERE id = ?", in->product_ids,
                      in->nproducts, "product_ids", pb) != SHOP_OK ||
        targets_exist(db, "SELECT count(*) FROM categories WHERE id = ?", in->category_ids,
                      in->ncategories, "category_ids", pb) != SHOP_OK)
        return pb->err;
    if (j->code) {
        struct stmt *st = db_prepare(db, "SELECT 1 FROM promotion_codes WHERE code = ?");
        if (!st)
            return db_fail(db, pb, "reading the codes");
        stmt_bind_text(st, 1, j->code);
        if (stmt_step(st) == STMT_ROW)
            return problem_field(pb, SHOP_CONFLICT, "code", "the code %s is taken", j->code);
    }
    struct stmt *st = db_prepare(
        db, "INSERT INTO promotions (name, type, percent_bps, amount_cents, buy_quantity,"
            " get_quantity, get_percent_bps, tiers, product_ids, category_ids, min_subtotal_cents,"
            " max_discount_cents, starts_at, ends_at, usage_limit, per_customer_limit, priority,"
            " stackable, active, automatic, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the promotion");
    char *tiers = tiers_text(in->tiers, in->ntiers);
    char *products = ids_text(in->product_ids, in->nproducts);
    char *categories = ids_text(in->category_ids, in->ncategories);
    stmt_bind_text(st, 1, in->name);
    stmt_bind_text(st, 2, promo_type_name(j->type));
    stmt_bind_i64(st, 3, in->has_percent ? in->percent_bps : 0);
    stmt_bind_i64(st, 4, in->has_amount ? in->amount_cents : 0);
    stmt_bind_i64(st, 5, in->has_buy ? in->buy_quantity : 0);
    stmt_bind_i64(st, 6, in->has_get ? in->get_quantity : 0);
    stmt_bind_i64(st, 7, in->has_get_percent ? in->get_percent_bps : 10000);
    if (tiers)
        stmt_bind_text(st, 8, tiers);
    else
        stmt_bind_null(st, 8);
    if (products)
        stmt_bind_text(st, 9, products);
    else
        stmt_bind_null(st, 9);
    if (categories)
        stmt_bind_text(st, 10, categories);
    else
        stmt_bind_null(st, 10);
    stmt_bind_i64(st, 11, in->min_subtotal);
    stmt_bind_i64(st, 12, in->max_discount);
    stmt_bind_i64(st, 13, in->starts_at);
    if (in->ends_at)
        stmt_bind_i64(st, 14, in->ends_at);
    else
        stmt_bind_null(st, 14);
    if (in->usage_limit)
        stmt_bind_i64(st, 15, in->usage_limit);
    else
        stmt_bind_null(st, 15);
    if (in->per_customer_limit)
        stmt_bind_i64(st, 16, in->per_customer_limit);
    else
        stmt_bind_null(st, 16);
    stmt_bind_i64(st, 17, in->priority);
    stmt_bind_i64(st, 18, in->stackable);
    stmt_bind_i64(st, 19, j->code ? 0 : 1);
    stmt_bind_i64(st, 20, j->now);
    stmt_bind_i64(st, 21, j->now);
    bool ok = stmt_step(st) == STMT_DONE;
    free(tiers);
    free(products);
    free(categories);
    if (!ok)
        return db_fail(db, pb, "creating the promotion");
    j->id = db_last_id(db);
    if (j->code) {
        st = db_prepare(db, "INSERT INTO promotion_codes (promotion_id, code, single_use,"
                            " created_at) VALUES (?, ?, 0, ?)");
        if (!st)
            return db_fail(db, pb, "creating the code");
        stmt_bind_i64(st, 1, j->id);
        stmt_bind_text(st, 2, j->code);
        stmt_bind_i64(st, 3, j->now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "creating the code");
    }
    j->out = promo_json(db, j->id);
    return j->out ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "cannot read the promotion");
}

enum shop_err promo_create(struct shop *shop, const struct promo_in *in, json_t **out,
                           struct problem *pb)
{
    char code[PROMO_CODE_MAX + 1];
    struct create_job j = {.in = in, .now = clock_now_ms()};
    if (validate(in, &j.type, code, pb) != SHOP_OK)
        return pb->err;
    j.code = in->code ? code : NULL;
    enum shop_err e = store_write(shop->store, create_write, &j, pb);
    if (e == SHOP_OK)
        *out = j.out;
    else
        json_decref(j.out);
    return e;
}

enum shop_err promo_get(struct shop *shop, int64_t id, json_t **out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    *out = promo_json(db, id);
    db_read_end(db);
    return *out ? SHOP_OK : problem_set(pb, SHOP_NOT_FOUND, "no promotion %lld", (long long)id);
}

enum shop_err promo_list(struct shop *shop, int64_t after, int64_t limit, json_t **out,
                         struct problem *pb)
{
    struct db *db = store_db(shop->store);
    db_read_begin(db);
    struct stmt *st = db_prepare(db, "SELECT id FROM promotions WHERE id < ? ORDER BY id DESC"
                                     " LIMIT ?");
    if (!st) {
        db_read_end(db);
        return db_fail(db, pb, "listing promotions");
    }
    stmt_bind_i64(st, 1, after > 0 ? after : INT64_MAX);
    stmt_bind_i64(st, 2, limit + 1);
    int64_t ids[201];
    int n = 0, rc = STMT_DONE;
    while (n < limit + 1 && n < 201 && (rc = stmt_step(st)) == STMT_ROW)
        ids[n++] = stmt_i64(st, 0);
    json_t *data = json_array();
    /* STMT_ROW: stopped at limit + 1; a promotion read just now that does
     * not render is a failed read too. */
    bool failed = rc != STMT_DONE && rc != STMT_ROW;
    for (int i = 0; !failed && i < n && i < limit; i++) {
        json_t *p = promo_json(db, ids[i]);
        if (p)
            json_array_append_new(data, p);
        else
            failed = true;
    }
    if (failed) {
        json_decref(data);
        db_fail(db, pb, "listing promotions");
        db_read_end(db);
        return pb->err;
    }
    db_read_end(db);
    char cursor[24];
    snprintf(cursor, sizeof cursor, "%lld", (long long)(n > limit ? ids[limit - 1] : 0));
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     n > limit ? json_string(cursor) : json_null());
    return SHOP_OK;
}

struct update_job {
    int64_t id, now;
    const struct promo_patch *p;
    json_t *out;
};

/* One column set to a value (?1) for promotion ?2. */
static enum shop_err set_col(struct db *db, const char *sql, int64_t id, bool null, int64_t v,
                             struct problem *pb)
{
    struct stmt *st = db_prepare(db, sql);
    if (!st)
        return db_fail(db, pb, "changing the promotion");
    if (null)
        stmt_bind_null(st, 1);
    else
        stmt_bind_i64(st, 1, v);
    stmt_bind_i64(st, 2, id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "changing the promotion");
}

static enum shop_err update_write(struct db *db, void *arg, struct problem *pb)
{
    struct update_job *j = arg;
    const struct promo_patch *p = j->p;
    json_decref(j->out);
    j->out = NULL;
    struct stmt *st = db_prepare(db, "SELECT uses, starts_at, coalesce(ends_at, 0) FROM promotions"
                                     " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the promotion");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no promotion %lld", (long long)j->id);
    int64_t uses = stmt_i64(st, 0), starts = stmt_i64(st, 1), ends = stmt_i64(st, 2);
    if (p->has_usage_limit && p->usage_limit && p->usage_limit < uses)
        return problem_field(pb, SHOP_INVALID, "usage_limit", "is below the %lld uses so far",
                             (long long)uses);
    if (p->has_starts_at)
        starts = p->starts_at;
    if (p->has_ends_at)
        ends = p->ends_at;
    if (ends && ends <= starts && !(p->has_active && !p->active))
        return problem_field(pb, SHOP_INVALID, "ends_at", "must be after starts_at");
    if (p->has_active && p->active && ends && ends <= j->now)
        return problem_field(pb, SHOP_CONFLICT, "active",
                             "the promotion has ended; give a later ends_at to run it again");
    if (p->name) {
        st = db_prepare(db, "UPDATE promotions SET name = ? WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "changing the promotion");
        stmt_bind_text(st, 1, p->name);
        stmt_bind_i64(st, 2, j->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "changing the promotion");
    }
    if ((p->has_starts_at &&
         set_col(db, "UPDATE promotions SET starts_at = ? WHERE id = ?", j->id, false,
                 p->starts_at, pb)) ||
        (p->has_ends_at && set_col(db, "UPDATE promotions SET ends_at = ? WHERE id = ?", j->id,
                                   p->ends_at == 0, p->ends_at, pb)) ||
        (p->has_usage_limit && set_col(db, "UPDATE promotions SET usage_limit = ? WHERE id = ?",
                                       j->id, p->usage_limit == 0, p->usage_limit, pb)) ||
        (p->has_per_customer_limit &&
         set_col(db, "UPDATE promotions SET per_customer_limit = ? WHERE id = ?", j->id,
                 p->per_customer_limit == 0, p->per_customer_limit, pb)) ||
        (p->has_priority && set_col(db, "UPDATE promotions SET priority = ? WHERE id = ?", j->id,
                                    false, p->priority, pb)) ||
        (p->has_stackable && set_col(db, "UPDATE promotions SET stackable = ? WHERE id = ?",
                                     j->id, false, p->stackable, pb)) ||
        (p->has_max_discount &&
         set_col(db, "UPDATE promotions SET max_discount_cents = ? WHERE id = ?", j->id, false,
                 p->max_discount, pb)) ||
        (p->has_min_subtotal &&
         set_col(db, "UPDATE promotions SET min_subtotal_cents = ? WHERE id = ?", j->id, false,
                 p->min_subtotal, pb)))
        return pb->err;
    if (p->has_active) {
        /* Ending is at once: no cart or checkout prices it from now on. */
        st = p->active ? db_prepare(db, "UPDATE promotions SET active = 1 WHERE id = ?2 AND ?1 = ?1")
                       : db_prepare(db, "UPDATE promotions SET active = 0, ends_at = CASE WHEN"
                                        " ends_at IS NULL OR ends_at > ?1 THEN ?1 ELSE ends_at END"
                                        " WHERE id = ?2");
        if (!st)
            return db_fail(db, pb, "changing the promotion");
        stmt_bind_i64(st, 1, j->now);
        stmt_bind_i64(st, 2, j->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "changing the promotion");
    }
    if (set_col(db, "UPDATE promotions SET updated_at = ? WHERE id = ?", j->id, false, j->now, pb))
        return pb->err;
    j->out = promo_json(db, j->id);
    return j->out ? SHOP_OK : problem_set(pb, SHOP_INTERNAL, "cannot read the promotion");
}

enum shop_err promo_update(struct shop *shop, int64_t id, const struct promo_patch *p,
                           json_t **out, struct problem *pb)
{
    struct update_job j = {.id = id, .now = clock_now_ms(), .p = p};
    enum shop_err e = store_write(shop->store, update_write, &j, pb);
    if (e == SHOP_OK)
        *out = j.out;
    else
        json_decref(j.out);
    return e;
}

/* No 0/O, 1/I/L: a code read aloud or from paper is typed right. */
static const char code_alphabet[] = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
#define CODE_RANDOM_LEN 10

struct codes_job {
    int64_t id, count, now;
    const char *prefix;
    json_t *codes;
};

static enum shop_err codes_write(struct db *db, void *arg, struct problem *pb)
{
    struct codes_job *j = arg;
    json_decref(j->codes);
    j->codes = json_array();
    int64_t found;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM promotions WHERE id = ?", j->id, 0, &found,
                              pb, "reading the promotion") != SHOP_OK)
        return pb->err;
    if (!found)
        return problem_set(pb, SHOP_NOT_FOUND, "no promotion %lld", (long long)j->id);
    /* Codes make a promotion one that needs a code. */
    struct stmt *st = db_prepare(db, "UPDATE promotions SET automatic = 0, updated_at = ?"
                                     " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "changing the promotion");
    stmt_bind_i64(st, 1, j->now);
    stmt_bind_i64(st, 2, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "changing the promotion");
    size_t plen = strlen(j->prefix);
    for (int64_t made = 0; made < j->count;) {
        char code[PROMO_CODE_MAX + 1];
        memcpy(code, j->prefix, plen);
        for (int i = 0; i < CODE_RANDOM_LEN; i++)
            code[plen + (size_t)i] =
                code_alphabet[randombytes_uniform((uint32_t)(sizeof code_alphabet - 1))];
        code[plen + CODE_RANDOM_LEN] = '\0';
        st = db_prepare(db, "INSERT INTO promotion_codes (promotion_id, code, single_use,"
                            " created_at) VALUES (?, ?, 1, ?) ON CONFLICT (code) DO NOTHING");
        if (!st)
            return db_fail(db, pb, "creating codes");
        stmt_bind_i64(st, 1, j->id);
        stmt_bind_text(st, 2, code);
        stmt_bind_i64(st, 3, j->now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "creating codes");
        if (db_changes(db) == 1) { /* else taken: draw again */
            json_array_append_new(j->codes, json_string(code));
            made++;
        }
    }
    return SHOP_OK;
}

enum shop_err promo_codes_generate(struct shop *shop, int64_t id, int64_t count,
                                   const char *prefix, json_t **out, struct problem *pb)
{
    char pre[PROMO_CODE_MAX + 1] = "";
    if (prefix && *prefix &&
        (strlen(prefix) > PROMO_CODE_MAX - CODE_RANDOM_LEN || !promo_code_normalise(prefix, pre)))
        return problem_field(pb, SHOP_INVALID, "prefix", "up to %d letters, digits, '-' or '_'",
                             PROMO_CODE_MAX - CODE_RANDOM_LEN);
    struct codes_job j = {.id = id, .count = count, .now = clock_now_ms(), .prefix = pre};
    enum shop_err e = store_write(shop->store, codes_write, &j, pb);
    if (e != SHOP_OK) {
        json_decref(j.codes);
        return e;
    }
    *out = json_pack("{s:I, s:o}", "promotion_id", (json_int_t)id, "codes", j.codes);
    return SHOP_OK;
}
