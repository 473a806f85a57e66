/* review.c — review writes: create, edit, delete, votes, replies and
 * moderation (review.h is the essay; reads are review_read.c). */
#include "shop/review.h"

#include <stdio.h>
#include <string.h>

#include "shop/changes.h"
#include "shop/keylock.h"
#include "shop/moderation.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "shop/status.h"
#include "store/store.h"
#include "util/clock.h"

static const char *const status_names[REVIEW_STATUS_COUNT] = {"pending", "approved", "rejected"};

#define BIT(s) (1u << (s))
static const unsigned allowed[REVIEW_STATUS_COUNT] = {
    [REVIEW_PENDING] = BIT(REVIEW_PENDING) | BIT(REVIEW_APPROVED) | BIT(REVIEW_REJECTED),
    [REVIEW_APPROVED] = BIT(REVIEW_APPROVED) | BIT(REVIEW_REJECTED), /* a takedown */
    [REVIEW_REJECTED] = BIT(REVIEW_PENDING) | BIT(REVIEW_APPROVED),
};

/* `held` follows the status and the edit in the same statement, as the
 * schema's CHECK requires; held_for goes with it. */
static const struct status_machine machine = {
    .entity = "review",
    .names = status_names,
    .count = REVIEW_STATUS_COUNT,
    .allowed = allowed,
    .update_sql = "UPDATE reviews SET status = ?1, updated_at = ?2,"
                  " held = CASE WHEN ?1 = 'pending' OR edit_rating IS NOT NULL THEN 1 ELSE 0 END,"
                  " held_for = CASE WHEN ?1 = 'pending' OR edit_rating IS NOT NULL"
                  "   THEN held_for ELSE 0 END"
                  " WHERE id = ?3 AND status = ?4",
    .history_sql = "INSERT INTO review_history (review_id, status, note, at) VALUES (?, ?, ?, ?)",
};

const char *review_status_name(enum review_status s)
{
    return status_name(&machine, (int)s);
}

int review_status_parse(const char *s)
{
    return status_parse(&machine, s);
}

/* ---- pieces every write uses ------------------------------------------------------- */

/* What a write needs to know of a review before it decides. */
struct row {
    int64_t product_id, user_id;
    int status, rating, edit_rating; /* edit_rating 0: no held edit */
    int verified;
    char title[REVIEW_TITLE_MAX * 4 + 1], body[REVIEW_BODY_MAX * 4 + 1];
    char edit_title[REVIEW_TITLE_MAX * 4 + 1], edit_body[REVIEW_BODY_MAX * 4 + 1];
};

/* Locks review `id` for the rest of the write and reads it. SHOP_NOT_FOUND
 * when absent. */
static enum shop_err row_lock_read(struct db *db, int64_t id, struct row *r, struct problem *pb)
{
    char key[40];
    snprintf(key, sizeof key, "review:%lld", (long long)id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st =
        db_prepare(db, "SELECT product_id, user_id, status, rating, title, body,"
                       " coalesce(edit_rating, 0), coalesce(edit_title, ''),"
                       " coalesce(edit_body, ''), verified FROM reviews WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the review");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no review %lld", (long long)id);
    r->product_id = stmt_i64(st, 0);
    r->user_id = stmt_i64(st, 1);
    r->status = review_status_parse(stmt_text(st, 2));
    r->rating = (int)stmt_i64(st, 3);
    snprintf(r->title, sizeof r->title, "%s", stmt_text(st, 4));
    snprintf(r->body, sizeof r->body, "%s", stmt_text(st, 5));
    r->edit_rating = (int)stmt_i64(st, 6);
    snprintf(r->edit_title, sizeof r->edit_title, "%s", stmt_text(st, 7));
    snprintf(r->edit_body, sizeof r->edit_body, "%s", stmt_text(st, 8));
    r->verified = (int)stmt_i64(st, 9);
    if (r->status < 0)
        return problem_set(pb, SHOP_INTERNAL, "review %lld has an unknown status", (long long)id);
    return SHOP_OK;
}

/* Moves the product's aggregates: counts a published rating `add` (1..5,
 * 0 none) and uncounts `remove`. */
static enum shop_err rating_move(struct db *db, int64_t product_id, int add, int remove,
                                 struct problem *pb)
{
    if (add == remove)
        return SHOP_OK;
    struct stmt *st =
        db_prepare(db, "UPDATE products SET"
                       " rating_count = rating_count + (CASE WHEN ?2 > 0 THEN 1 ELSE 0 END)"
                       "   - (CASE WHEN ?3 > 0 THEN 1 ELSE 0 END),"
                       " rating_sum = rating_sum + ?2 - ?3,"
                       " rating_1 = rating_1 + (CASE WHEN ?2 = 1 THEN 1 ELSE 0 END)"
                       "   - (CASE WHEN ?3 = 1 THEN 1 ELSE 0 END),"
                       " rating_2 = rating_2 + (CASE WHEN ?2 = 2 THEN 1 ELSE 0 END)"
                       "   - (CASE WHEN ?3 = 2 THEN 1 ELSE 0 END),"
                       " rating_3 = rating_3 + (CASE WHEN ?2 = 3 THEN 1 ELSE 0 END)"
                       "   - (CASE WHEN ?3 = 3 THEN 1 ELSE 0 END),"
                       " rating_4 = rating_4 + (CASE WHEN ?2 = 4 THEN 1 ELSE 0 END)"
                       "   - (CASE WHEN ?3 = 4 THEN 1 ELSE 0 END),"
                       " rating_5 = rating_5 + (CASE WHEN ?2 = 5 THEN 1 ELSE 0 END)"
                       "   - (CASE WHEN ?3 = 5 THEN 1 ELSE 0 END)"
                       " WHERE id = ?1");
    if (!st)
        return db_fail(db, pb, "updating the product's rating");
    stmt_bind_i64(st, 1, product_id);
    stmt_bind_i64(st, 2, add);
    stmt_bind_i64(st, 3, remove);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "updating the product's rating");
    return SHOP_OK;
}

/* An event for the change feed (other processes' product pages and search). */
static enum shop_err emit(struct db *db, const char *topic, int64_t aggregate, int64_t review_id,
                          int64_t product_id, int64_t user_id, const char *note, struct problem *pb)
{
    json_t *o = json_pack("{s:I, s:I}", "review_id", (json_int_t)review_id, "product_id",
                          (json_int_t)product_id);
    if (user_id)
        json_object_set_new(o, "user_id", json_integer(user_id));
    if (note)
        json_object_set_new(o, "note", json_string(note));
    return outbox_emit(db, topic, aggregate, o, pb);
}

static enum shop_err changed(struct db *db, int64_t review_id, int64_t product_id,
                             struct problem *pb)
{
    return emit(db, "review.changed", product_id, review_id, product_id, 0, NULL, pb);
}

/* Runs a write whose job records in *changed_product the product whose page
 * it changed (0: none), and refreshes that page once the write committed. */
static enum shop_err write_and_refresh(struct shop *shop, store_write_fn fn, void *job,
                                       const int64_t *changed_product, struct problem *pb)
{
    if (store_write(shop->store, fn, job, pb) != SHOP_OK)
        return pb->err;
    if (*changed_product)
        shop_product_changed(shop, *changed_product);
    return SHOP_OK;
}

/* Whether the user has bought the product (review.h: the badge). Driven
 * from the user's orders (orders_user), which are few. */
static int bought(struct db *db, int64_t user_id, int64_t product_id)
{
    struct stmt *st =
        db_prepare(db, "SELECT 1 FROM orders o JOIN order_lines l ON l.order_id = o.id"
                       " WHERE o.user_id = ? AND l.product_id = ? AND l.status <> 'cancelled'"
                       " AND (o.status = 'paid' OR o.status = 'fulfilling' OR"
                       "      o.status = 'partially_shipped' OR o.status = 'shipped' OR"
                       "      o.status = 'delivered') LIMIT 1");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, user_id);
    stmt_bind_i64(st, 2, product_id);
    return stmt_step(st) == STMT_ROW;
}

/* The moderation reasons for text by `user_id`. -1 on a database error. */
static long long hold_reasons(struct shop *shop, struct db *db, int64_t user_id, const char *title,
                              const char *body, int64_t now)
{
    int64_t created = db_scalar_i64(db, "SELECT created_at FROM users WHERE id = ?", user_id, -1);
    if (created < 0)
        return -1;
    const char *texts[2] = {title, body};
    return moderation_check(texts, 2, created, now, shop->cfg.review_new_account_ms);
}

/* ---- create ------------------------------------------------------------------------ */

struct create_job {
    struct shop *shop;
    int64_t user_id, product_id, now;
    struct review_input in;
    int64_t id;         /* out */
    int64_t changed_id; /* out: the product, when the review was approved at once */
};

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct create_job *j = arg;
    j->id = 0;
    j->changed_id = 0;
    char key[64];
    snprintf(key, sizeof key, "review:%lld:%lld", (long long)j->product_id, (long long)j->user_id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st = db_prepare(db, "SELECT coalesce(seller_id, 0) FROM products WHERE id = ?"
                                     " AND status = 'published'");
    if (!st)
        return db_fail(db, pb, "reading the product");
    stmt_bind_i64(st, 1, j->product_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)j->product_id);
    if (stmt_i64(st, 0) == j->user_id) /* reviews are the buyers' word, not the seller's */
        return problem_set(pb, SHOP_FORBIDDEN, "you sell this product: reply to its reviews"
                                               " instead of reviewing it");
    st = db_prepare(db, "SELECT id FROM reviews WHERE product_id = ? AND user_id = ?");
    if (!st)
        return db_fail(db, pb, "reading reviews");
    stmt_bind_i64(st, 1, j->product_id);
    stmt_bind_i64(st, 2, j->user_id);
    if (stmt_step(st) == STMT_ROW) {
        problem_extra(pb, "review_id", json_integer(stmt_i64(st, 0)));
        return problem_set(pb, SHOP_CONFLICT,
                           "you have already reviewed this product; edit your review instead");
    }
    long long held_for = hold_reasons(j->shop, db, j->user_id, j->in.title, j->in.body, j->now);
    int verified = bought(db, j->user_id, j->product_id);
    if (held_for < 0 || verified < 0)
        return db_fail(db, pb, "reading the author");
    enum review_status status = held_for ? REVIEW_PENDING : REVIEW_APPROVED;
    st = db_prepare(db, "INSERT INTO reviews (product_id, user_id, status, rating, title, body,"
                        " verified, held_for, held, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "writing the review");
    stmt_bind_i64(st, 1, j->product_id);
    stmt_bind_i64(st, 2, j->user_id);
    stmt_bind_text(st, 3, review_status_name(status));
    stmt_bind_i64(st, 4, j->in.rating);
    stmt_bind_text(st, 5, j->in.title);
    stmt_bind_text(st, 6, j->in.body);
    stmt_bind_i64(st, 7, verified);
    stmt_bind_i64(st, 8, held_for);
    stmt_bind_i64(st, 9, held_for ? 1 : 0);
    stmt_bind_i64(st, 10, j->now);
    stmt_bind_i64(st, 11, j->now);
    int rc = stmt_step(st);
    if (rc == STMT_CONSTRAINT)
        return problem_set(pb, SHOP_CONFLICT, "you have already reviewed this product");
    if (rc != STMT_DONE)
        return db_fail(db, pb, "writing the review");
    j->id = db_last_id(db);
    if (status_enter(db, &machine, j->id, (int)status, "created", j->now, pb) != SHOP_OK)
        return pb->err;
    if (status == REVIEW_APPROVED &&
        (rating_move(db, j->product_id, j->in.rating, 0, pb) != SHOP_OK ||
         changed(db, j->id, j->product_id, pb) != SHOP_OK))
        return pb->err;
    j->changed_id = status == REVIEW_APPROVED ? j->product_id : 0;
    return SHOP_OK;
}

enum shop_err review_create(struct shop *shop, const struct principal *who, int64_t product_id,
                            const struct review_input *in, int64_t *id, bool *approved,
                            struct problem *pb)
{
    struct create_job j = {.shop = shop,
                           .user_id = who->user_id,
                           .product_id = product_id,
                           .now = clock_now_ms(),
                           .in = *in};
    if (write_and_refresh(shop, create_write, &j, &j.changed_id, pb) != SHOP_OK)
        return pb->err;
    *id = j.id;
    *approved = j.changed_id != 0;
    return SHOP_OK;
}

/* ---- edit -------------------------------------------------------------------------- */

struct edit_job {
    struct shop *shop;
    int64_t user_id, id, now;
    struct review_input in;
    int64_t product_id; /* out: set when the product page changed */
};

/* Sets the published version (and clears any held edit). */
static enum shop_err publish_text(struct db *db, int64_t id, int rating, const char *title,
                                  const char *body, int verified, unsigned held_for, int64_t now,
                                  struct problem *pb)
{
    struct stmt *st = db_prepare(db, "UPDATE reviews SET rating = ?, title = ?, body = ?,"
                                     " verified = ?, held_for = ?, edit_rating = NULL,"
                                     " edit_title = NULL, edit_body = NULL, updated_at = ?,"
                                     " held = CASE WHEN status = 'pending' THEN 1 ELSE 0 END"
                                     " WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "updating the review");
    stmt_bind_i64(st, 1, rating);
    stmt_bind_text(st, 2, title);
    stmt_bind_text(st, 3, body);
    stmt_bind_i64(st, 4, verified);
    stmt_bind_i64(st, 5, held_for);
    stmt_bind_i64(st, 6, now);
    stmt_bind_i64(st, 7, id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "updating the review");
}

static enum shop_err edit_write(struct db *db, void *arg, struct problem *pb)
{
    struct edit_job *j = arg;
    j->product_id = 0;
    struct row r;
    if (row_lock_read(db, j->id, &r, pb) != SHOP_OK)
        return pb->err;
    if (r.user_id != j->user_id)
        return problem_set(pb, SHOP_NOT_FOUND, "no review %lld", (long long)j->id);
    /* The edit applies to the author's latest text: a held edit if any. */
    bool on_edit = r.edit_rating > 0;
    int rating = j->in.rating ? j->in.rating : on_edit ? r.edit_rating : r.rating;
    const char *title = j->in.title ? j->in.title : on_edit ? r.edit_title : r.title;
    const char *body = j->in.body ? j->in.body : on_edit ? r.edit_body : r.body;
    long long held_for = hold_reasons(j->shop, db, j->user_id, title, body, j->now);
    int verified = bought(db, j->user_id, r.product_id);
    if (held_for < 0 || verified < 0)
        return db_fail(db, pb, "reading the author");
    if (r.status == REVIEW_REJECTED) /* a moderator said no: only a moderator says yes */
        held_for |= MOD_REJECTED_BEFORE;

    if (r.status == REVIEW_APPROVED && held_for) {
        /* Held: the published version stays public and counted. */
        struct stmt *st = db_prepare(db, "UPDATE reviews SET edit_rating = ?, edit_title = ?,"
                                         " edit_body = ?, held = 1, held_for = ?, verified = ?"
                                         " WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "updating the review");
        stmt_bind_i64(st, 1, rating);
        stmt_bind_text(st, 2, title);
        stmt_bind_text(st, 3, body);
        stmt_bind_i64(st, 4, held_for);
        stmt_bind_i64(st, 5, verified);
        stmt_bind_i64(st, 6, j->id);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "updating the review");
        return status_move(db, &machine, j->id, REVIEW_APPROVED, REVIEW_APPROVED,
                           "edit held for moderation", j->now, pb);
    }
    enum review_status to = held_for ? REVIEW_PENDING : REVIEW_APPROVED;
    if (publish_text(db, j->id, rating, title, body, verified, (unsigned)held_for, j->now, pb) ||
        status_move(db, &machine, j->id, r.status, (int)to, "edited", j->now, pb))
        return pb->err;
    if (to == REVIEW_APPROVED) {
        int was = r.status == REVIEW_APPROVED ? r.rating : 0;
        if (rating_move(db, r.product_id, rating, was, pb) != SHOP_OK ||
            changed(db, j->id, r.product_id, pb) != SHOP_OK)
            return pb->err;
        j->product_id = r.product_id;
    }
    return SHOP_OK;
}

enum shop_err review_edit(struct shop *shop, const struct principal *who, int64_t id,
                          const struct review_input *in, struct problem *pb)
{
    struct edit_job j = {
        .shop = shop, .user_id = who->user_id, .id = id, .now = clock_now_ms(), .in = *in};
    return write_and_refresh(shop, edit_write, &j, &j.product_id, pb);
}

/* ---- delete ------------------------------------------------------------------------ */

struct delete_job {
    int64_t user_id, id;
    int64_t product_id; /* out: set when the product page changed */
};

static enum shop_err delete_write(struct db *db, void *arg, struct problem *pb)
{
    struct delete_job *j = arg;
    j->product_id = 0;
    struct row r;
    if (row_lock_read(db, j->id, &r, pb) != SHOP_OK)
        return pb->err;
    if (r.user_id != j->user_id)
        return problem_set(pb, SHOP_NOT_FOUND, "no review %lld", (long long)j->id);
    struct stmt *st = db_prepare(db, "DELETE FROM reviews WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "deleting the review");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "deleting the review");
    if (r.status == REVIEW_APPROVED) {
        if (rating_move(db, r.product_id, 0, r.rating, pb) != SHOP_OK ||
            changed(db, j->id, r.product_id, pb) != SHOP_OK)
            return pb->err;
        j->product_id = r.product_id;
    }
    return SHOP_OK;
}

enum shop_err review_delete(struct shop *shop, const struct principal *who, int64_t id,
                            struct problem *pb)
{
    struct delete_job j = {.user_id = who->user_id, .id = id};
    return write_and_refresh(shop, delete_write, &j, &j.product_id, pb);
}

/* ---- helpful votes ----------------------------------------------------------------- */

struct vote_job {
    int64_t user_id, id, now;
    int64_t product_id; /* out: set when the vote counted */
};

static enum shop_err vote_write(struct db *db, void *arg, struct problem *pb)
{
    struct vote_job *j = arg;
    j->product_id = 0;
    struct stmt *st = db_prepare(db, "SELECT product_id, user_id FROM reviews"
                                     " WHERE id = ? AND status = 'approved'");
    if (!st)
        return db_fail(db, pb, "reading the review");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no review %lld", (long long)j->id);
    int64_t product_id = stmt_i64(st, 0);
    if (stmt_i64(st, 1) == j->user_id)
        return problem_set(pb, SHOP_INVALID, "you cannot vote for your own review");
    st = db_prepare(db, "INSERT INTO review_votes (review_id, user_id, created_at)"
                        " VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
    if (!st)
        return db_fail(db, pb, "recording the vote");
    stmt_bind_i64(st, 1, j->id);
    stmt_bind_i64(st, 2, j->user_id);
    stmt_bind_i64(st, 3, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "recording the vote");
    if (db_changes(db) == 0)
        return SHOP_OK; /* voted before: nothing changes */
    st = db_prepare(db, "UPDATE reviews SET helpful_count = helpful_count + 1 WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "counting the vote");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "counting the vote");
    if (changed(db, j->id, product_id, pb) != SHOP_OK)
        return pb->err;
    j->product_id = product_id;
    return SHOP_OK;
}

enum shop_err review_vote_helpful(struct shop *shop, const struct principal *who, int64_t id,
                                  struct problem *pb)
{
    struct vote_job j = {.user_id = who->user_id, .id = id, .now = clock_now_ms()};
    return write_and_refresh(shop, vote_write, &j, &j.product_id, pb);
}

/* ---- seller reply ------------------------------------------------------------------ */

struct reply_job {
    int64_t user_id, id, now;
    bool admin;
    const char *body;
    int64_t product_id; /* out */
};

static enum shop_err reply_write(struct db *db, void *arg, struct problem *pb)
{
    struct reply_job *j = arg;
    j->product_id = 0;
    struct stmt *st = db_prepare(db, "SELECT r.product_id, p.seller_id FROM reviews r"
                                     " JOIN products p ON p.id = r.product_id"
                                     " WHERE r.id = ? AND r.status = 'approved'");
    if (!st)
        return db_fail(db, pb, "reading the review");
    stmt_bind_i64(st, 1, j->id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no review %lld", (long long)j->id);
    int64_t product_id = stmt_i64(st, 0);
    if (!j->admin && stmt_i64(st, 1) != j->user_id)
        return problem_set(pb, SHOP_FORBIDDEN, "only the product's seller may reply");
    st = db_prepare(db, "UPDATE reviews SET reply_body = ?, reply_by = ?, reply_at = ?"
                        " WHERE id = ? AND reply_body IS NULL");
    if (!st)
        return db_fail(db, pb, "writing the reply");
    stmt_bind_text(st, 1, j->body);
    stmt_bind_i64(st, 2, j->user_id);
    stmt_bind_i64(st, 3, j->now);
    stmt_bind_i64(st, 4, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "writing the reply");
    if (db_changes(db) == 0)
        return problem_set(pb, SHOP_CONFLICT, "this review already has a reply");
    if (changed(db, j->id, product_id, pb) != SHOP_OK)
        return pb->err;
    j->product_id = product_id;
    return SHOP_OK;
}

enum shop_err review_reply(struct shop *shop, const struct principal *who, int64_t id,
                           const char *body, struct problem *pb)
{
    struct reply_job j = {.user_id = who->user_id,
                          .id = id,
                          .now = clock_now_ms(),
                          .admin = who->role == ROLE_ADMIN,
                          .body = body};
    return write_and_refresh(shop, reply_write, &j, &j.product_id, pb);
}

/* ---- moderation -------------------------------------------------------------------- */

struct moderate_job {
    int64_t id, now;
    bool approve;
    const char *note;
    int64_t product_id; /* out: set when the product page changed */
};

static enum shop_err moderate_write(struct db *db, void *arg, struct problem *pb)
{
    struct moderate_job *j = arg;
    j->product_id = 0;
    struct row r;
    if (row_lock_read(db, j->id, &r, pb) != SHOP_OK)
        return pb->err;
    const char *topic = j->approve ? "review.approved" : "review.rejected";
    if (r.edit_rating > 0) {
        /* A held edit of an approved review. */
        if (j->approve) {
            if (publish_text(db, j->id, r.edit_rating, r.edit_title, r.edit_body, r.verified, 0,
                             j->now, pb) ||
                rating_move(db, r.product_id, r.edit_rating, r.rating, pb) ||
                changed(db, j->id, r.product_id, pb))
                return pb->err;
            j->product_id = r.product_id;
        } else {
            struct stmt *st = db_prepare(db, "UPDATE reviews SET edit_rating = NULL,"
                                             " edit_title = NULL, edit_body = NULL, held = 0,"
                                             " held_for = 0 WHERE id = ?");
            if (!st)
                return db_fail(db, pb, "updating the review");
            stmt_bind_i64(st, 1, j->id);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "updating the review");
        }
        char note[REVIEW_NOTE_MAX * 4 + 32];
        snprintf(note, sizeof note, "edit %s%s%s", j->approve ? "approved" : "rejected",
                 j->note ? ": " : "", j->note ? j->note : "");
        if (status_move(db, &machine, j->id, REVIEW_APPROVED, REVIEW_APPROVED, note, j->now, pb))
            return pb->err;
    } else if (r.status == REVIEW_PENDING) {
        enum review_status to = j->approve ? REVIEW_APPROVED : REVIEW_REJECTED;
        if (status_move(db, &machine, j->id, REVIEW_PENDING, (int)to, j->note, j->now, pb))
            return pb->err;
        if (j->approve) {
            if (rating_move(db, r.product_id, r.rating, 0, pb) ||
                changed(db, j->id, r.product_id, pb))
                return pb->err;
            j->product_id = r.product_id;
        }
    } else if (r.status == REVIEW_APPROVED && !j->approve) {
        /* A takedown: the published review goes, uncounted (content found
         * wrong after it was approved). */
        if (status_move(db, &machine, j->id, REVIEW_APPROVED, REVIEW_REJECTED,
                        j->note ? j->note : "taken down", j->now, pb) ||
            rating_move(db, r.product_id, 0, r.rating, pb) ||
            changed(db, j->id, r.product_id, pb))
            return pb->err;
        j->product_id = r.product_id;
    } else {
        return problem_set(pb, SHOP_CONFLICT, "review %lld is %s with no edit awaiting moderation",
                           (long long)j->id, review_status_name((enum review_status)r.status));
    }
    return emit(db, topic, j->id, j->id, r.product_id, r.user_id, j->note, pb);
}

enum shop_err review_moderate(struct shop *shop, int64_t id, bool approve, const char *note,
                              struct problem *pb)
{
    struct moderate_job j = {.id = id, .now = clock_now_ms(), .approve = approve, .note = note};
    return write_and_refresh(shop, moderate_write, &j, &j.product_id, pb);
}
