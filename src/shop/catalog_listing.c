/* catalog_listing.c — the listing workflow (CAT-5): submit with automated
 * checks, review by an admin, unpublish; and a seller's own product list.
 *
 * Transitions (each a conditional UPDATE … WHERE status = <from>, so two
 * concurrent reviews cannot both apply):
 *
 *   from              action      to                  who
 *   draft, rejected   submit      pending_review      the seller
 *                                 published           a trusted seller, an admin
 *                                 rejected            anyone, when a banned word is found
 *   pending_review    approve     published           an admin
 *   pending_review,   reject      rejected            an admin (published: a takedown)
 *     published
 *   published         unpublish   draft               the seller, an admin
 *
 * Submit refuses (422, naming the fields) a listing that misses a required
 * field or has a price outside [1 cent, PRICE_SANE_MAX_CENTS]; those are for
 * the seller to fix. A banned word is a policy decision: the listing is
 * rejected with the reason in review_note.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/changes.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

static const char *const banned_words[] = {
    "counterfeit", "replica", "knockoff", "fake", "stolen", "bootleg", "pirated", "cracked",
};

/* Case-insensitive whole-word search; returns the banned word found. */
static const char *find_banned(const char *text)
{
    for (size_t w = 0; w < sizeof banned_words / sizeof banned_words[0]; w++) {
        size_t n = strlen(banned_words[w]);
        for (const char *p = text; *p; p++) {
            if (strncasecmp(p, banned_words[w], n) != 0)
                continue;
            bool start = p == text || !isalnum((unsigned char)p[-1]);
            bool end = !isalnum((unsigned char)p[n]);
            if (start && end)
                return banned_words[w];
        }
    }
    return NULL;
}

struct transition_job {
    const struct principal *who;
    int64_t id, now;
    const char *reason;
    enum product_status to; /* out */
};

static enum shop_err set_status(struct db *db, struct transition_job *j, enum product_status from1,
                                int from2, enum product_status to, const char *note,
                                struct problem *pb)
{
    struct stmt *st = db_prepare(db, "UPDATE products SET status = ?, review_note = ?,"
                                     " updated_at = ?, published_at = CASE WHEN ? = 'published'"
                                     " THEN ? ELSE published_at END"
                                     " WHERE id = ? AND (status = ? OR status = ?)");
    if (!st)
        return db_fail(db, pb, "changing the listing status");
    stmt_bind_text(st, 1, product_status_name(to));
    stmt_bind_text(st, 2, note);
    stmt_bind_i64(st, 3, j->now);
    stmt_bind_text(st, 4, product_status_name(to));
    stmt_bind_i64(st, 5, j->now);
    stmt_bind_i64(st, 6, j->id);
    stmt_bind_text(st, 7, product_status_name(from1));
    stmt_bind_text(st, 8, product_status_name(from2 >= 0 ? (enum product_status)from2 : from1));
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "changing the listing status");
    if (db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the listing is not in a state that allows this");
    j->to = to;
    return outbox_emit(
        db, "product.changed", j->id,
        json_pack("{s:s, s:s}", "change", "status", "status", product_status_name(to)), pb);
}

/* The submit checks. Returns SHOP_INVALID naming fields, or SHOP_OK with
 * *banned set when a banned word was found. */
static enum shop_err check_listing(struct db *db, int64_t id, const char **banned,
                                   struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT title, description, brand FROM products WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "checking the listing");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)id);
    static const char *const names[] = {"title", "description", "brand"};
    *banned = NULL;
    for (int c = 0; c < 3; c++) {
        const char *v = stmt_text(st, c);
        const char *p = v;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            problem_field(pb, SHOP_INVALID, names[c],
                          "is required before the listing is submitted");
        else if (!*banned)
            *banned = find_banned(v);
    }
    st = db_prepare(db, "SELECT count(*), min(price_cents), max(price_cents) FROM variants"
                        " WHERE product_id = ?");
    if (!st)
        return db_fail(db, pb, "checking the listing");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW || stmt_i64(st, 0) == 0)
        problem_field(pb, SHOP_INVALID, "variants", "a listing needs at least one variant");
    else if (!catalog_price_listable(stmt_i64(st, 1)) || !catalog_price_listable(stmt_i64(st, 2)))
        problem_field(pb, SHOP_INVALID, "variants.price_cents",
                      "prices must be between 1 and %lld cents", PRICE_SANE_MAX_CENTS);
    return pb->err;
}

static enum shop_err submit_write(struct db *db, void *arg, struct problem *pb)
{
    struct transition_job *j = arg;
    enum product_status status;
    if (catalog_check_owner(db, j->who, j->id, &status, NULL, pb) != SHOP_OK)
        return pb->err;
    if (status != PRODUCT_DRAFT && status != PRODUCT_REJECTED)
        return problem_set(pb, SHOP_CONFLICT, "a %s listing cannot be submitted",
                           product_status_name(status));
    const char *banned = NULL;
    if (check_listing(db, j->id, &banned, pb) != SHOP_OK)
        return pb->err;
    if (banned) {
        char note[96];
        snprintf(note, sizeof note, "automated check: the listing uses the banned word \"%s\"",
                 banned);
        return set_status(db, j, PRODUCT_DRAFT, PRODUCT_REJECTED, PRODUCT_REJECTED, note, pb);
    }
    bool direct = j->who->role == ROLE_ADMIN || j->who->trusted;
    return set_status(db, j, PRODUCT_DRAFT, PRODUCT_REJECTED,
                      direct ? PRODUCT_PUBLISHED : PRODUCT_PENDING, NULL, pb);
}

static enum shop_err approve_write(struct db *db, void *arg, struct problem *pb)
{
    struct transition_job *j = arg;
    if (catalog_check_owner(db, j->who, j->id, NULL, NULL, pb) != SHOP_OK)
        return pb->err;
    return set_status(db, j, PRODUCT_PENDING, -1, PRODUCT_PUBLISHED, NULL, pb);
}

static enum shop_err reject_write(struct db *db, void *arg, struct problem *pb)
{
    struct transition_job *j = arg;
    if (catalog_check_owner(db, j->who, j->id, NULL, NULL, pb) != SHOP_OK)
        return pb->err;
    return set_status(db, j, PRODUCT_PENDING, PRODUCT_PUBLISHED, PRODUCT_REJECTED, j->reason, pb);
}

static enum shop_err unpublish_write(struct db *db, void *arg, struct problem *pb)
{
    struct transition_job *j = arg;
    if (catalog_check_owner(db, j->who, j->id, NULL, NULL, pb) != SHOP_OK)
        return pb->err;
    return set_status(db, j, PRODUCT_PUBLISHED, -1, PRODUCT_DRAFT, NULL, pb);
}

static enum shop_err transition(struct shop *shop, store_write_fn fn, struct transition_job *j,
                                struct problem *pb)
{
    j->now = clock_now_ms();
    enum shop_err e = store_write(shop->store, fn, j, pb);
    if (e == SHOP_OK)
        shop_product_changed(shop, j->id);
    return e;
}

enum shop_err catalog_submit(struct shop *shop, const struct principal *who, int64_t id,
                             struct problem *pb)
{
    return transition(shop, submit_write, &(struct transition_job){.who = who, .id = id}, pb);
}

enum shop_err catalog_approve(struct shop *shop, const struct principal *who, int64_t id,
                              struct problem *pb)
{
    return transition(shop, approve_write, &(struct transition_job){.who = who, .id = id}, pb);
}

enum shop_err catalog_reject(struct shop *shop, const struct principal *who, int64_t id,
                             const char *reason, struct problem *pb)
{
    return transition(shop, reject_write,
                      &(struct transition_job){.who = who, .id = id, .reason = reason}, pb);
}

enum shop_err catalog_unpublish(struct shop *shop, const struct principal *who, int64_t id,
                                struct problem *pb)
{
    return transition(shop, unpublish_write, &(struct transition_job){.who = who, .id = id}, pb);
}

/* ---- a seller's products ---------------------------------------------------- */

enum shop_err catalog_list_for_seller(struct shop *shop, const struct principal *who,
                                      int64_t seller_id, int status, int limit, const char *cursor,
                                      json_t **out, struct problem *pb)
{
    int64_t after = INT64_MAX;
    if (cursor) {
        char *end;
        long long v = strtoll(cursor, &end, 10);
        if (!*cursor || *end || v <= 0)
            return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
        after = v;
    }
    if (who->role != ROLE_ADMIN)
        seller_id = who->user_id;
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT p.id, p.title, p.brand, p.status, p.category_id,"
                                     " p.currency, p.review_note, p.created_at, p.updated_at,"
                                     " (SELECT min(price_cents) FROM variants v"
                                     "   WHERE v.product_id = p.id),"
                                     " p.seller_id FROM products p"
                                     " WHERE p.id < ? AND (? = 0 OR p.seller_id = ?)"
                                     " AND (? < 0 OR p.status = ?)"
                                     " ORDER BY p.id DESC LIMIT ?");
    if (!st)
        return db_fail(db, pb, "listing products");
    stmt_bind_i64(st, 1, after);
    stmt_bind_i64(st, 2, seller_id);
    stmt_bind_i64(st, 3, seller_id);
    stmt_bind_i64(st, 4, status);
    stmt_bind_text(st, 5, status >= 0 ? product_status_name((enum product_status)status) : "");
    stmt_bind_i64(st, 6, limit + 1);
    json_t *data = json_array();
    int64_t last = 0;
    int n = 0;
    bool more = false;
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        char created[32], updated[32];
        last = stmt_i64(st, 0);
        json_t *item = json_pack(
            "{s:I, s:s, s:s, s:s, s:I, s:s, s:s?, s:s, s:s, s:I, s:I}", "id", (json_int_t)last,
            "title", stmt_text(st, 1), "brand", stmt_text(st, 2), "status", stmt_text(st, 3),
            "category_id", (json_int_t)stmt_i64(st, 4), "currency", stmt_text(st, 5), "review_note",
            stmt_is_null(st, 6) ? NULL : stmt_text(st, 6), "created_at",
            clock_fmt(stmt_i64(st, 7), created), "updated_at", clock_fmt(stmt_i64(st, 8), updated),
            "price_cents", (json_int_t)stmt_i64(st, 9), "seller_id", (json_int_t)stmt_i64(st, 10));
        json_array_append_new(data, item);
        n++;
    }
    if (rc != STMT_DONE && !more) {
        json_decref(data);
        enum shop_err e = db_fail(db, pb, "listing products");
        db_release(db);
        return e;
    }
    db_release(db);
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     more ? json_sprintf("%lld", (long long)last) : json_null());
    return SHOP_OK;
}
