/* review_read.c — review reads: one review, a product's pages, the admin
 * queue, the product page's top reviews, and the wire form. Pages are index
 * ranges (migrations 0023: reviews_helpful, reviews_newest, reviews_rating),
 * so a first page costs `limit` index steps whatever the product has. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/moderation.h"
#include "shop/review.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/keyset.h"

/* Every read selects these columns first, in this order (row_read). */
#define COLS                                                                                       \
    "SELECT r.id, r.product_id, r.user_id, u.name, r.rating, r.title, r.body, r.status,"           \
    " r.verified, r.helpful_count, r.created_at, r.updated_at, r.held_for,"                        \
    " coalesce(r.edit_rating, 0), r.edit_title, r.edit_body, r.reply_body, r.reply_at"             \
    " FROM reviews r JOIN users u ON u.id = r.user_id"

static const char *dup_or_null(struct arena *a, struct stmt *st, int col)
{
    return stmt_is_null(st, col) ? NULL : arena_strdup(a, stmt_text(st, col));
}

static void row_read(struct stmt *st, struct arena *a, struct review *r)
{
    r->id = stmt_i64(st, 0);
    r->product_id = stmt_i64(st, 1);
    r->user_id = stmt_i64(st, 2);
    r->author = arena_strdup(a, stmt_text(st, 3));
    r->rating = (int)stmt_i64(st, 4);
    r->title = arena_strdup(a, stmt_text(st, 5));
    r->body = arena_strdup(a, stmt_text(st, 6));
    int s = review_status_parse(stmt_text(st, 7));
    r->status = s < 0 ? REVIEW_PENDING : (enum review_status)s;
    r->verified = stmt_i64(st, 8) != 0;
    r->helpful_count = stmt_i64(st, 9);
    r->created_at = stmt_i64(st, 10);
    r->updated_at = stmt_i64(st, 11);
    r->held_for = (unsigned)stmt_i64(st, 12);
    r->edit_rating = (int)stmt_i64(st, 13);
    r->edit_title = dup_or_null(a, st, 14);
    r->edit_body = dup_or_null(a, st, 15);
    r->reply = dup_or_null(a, st, 16);
    r->reply_at = stmt_i64(st, 17);
}

int review_sort_parse(const char *s)
{
    static const char *const names[REVIEW_SORT_COUNT] = {"helpful", "newest", "rating_desc",
                                                         "rating_asc"};
    for (int i = 0; s && i < REVIEW_SORT_COUNT; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

enum shop_err review_get(struct shop *shop, struct arena *a, const struct principal *who,
                         int64_t id, struct review *out, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, COLS " WHERE r.id = ?");
    if (!st)
        return db_fail(db, pb, "reading the review");
    stmt_bind_i64(st, 1, id);
    bool found = stmt_step(st) == STMT_ROW;
    if (found)
        row_read(st, a, out);
    db_release(db);
    if (!found ||
        (out->status != REVIEW_APPROVED && who->role != ROLE_ADMIN && out->user_id != who->user_id))
        return problem_set(pb, SHOP_NOT_FOUND, "no review %lld", (long long)id);
    return SHOP_OK;
}

/* ---- a product's pages ------------------------------------------------------------- */

/* One statement per order. ?1 product, ?2 rating (0: any), ?3 ?4 the
 * cursor's sort key and id, ?5 the limit. Row values compare the keyset
 * in one range the index can seek to, on both backends. */
static const char *const page_sql[REVIEW_SORT_COUNT] = {
    [REVIEW_SORT_HELPFUL] = COLS " WHERE r.product_id = ?1 AND r.status = 'approved'"
                                 " AND (?2 = 0 OR r.rating = ?2)"
                                 " AND (r.helpful_count, r.id) < (?3, ?4)"
                                 " ORDER BY r.helpful_count DESC, r.id DESC LIMIT ?5",
    [REVIEW_SORT_NEWEST] = COLS " WHERE r.product_id = ?1 AND r.status = 'approved'"
                                " AND (?2 = 0 OR r.rating = ?2)"
                                " AND (r.created_at, r.id) < (?3, ?4)"
                                " ORDER BY r.created_at DESC, r.id DESC LIMIT ?5",
    [REVIEW_SORT_RATING_DESC] = COLS " WHERE r.product_id = ?1 AND r.status = 'approved'"
                                     " AND (?2 = 0 OR r.rating = ?2)"
                                     " AND (r.rating, r.id) < (?3, ?4)"
                                     " ORDER BY r.rating DESC, r.id DESC LIMIT ?5",
    [REVIEW_SORT_RATING_ASC] = COLS " WHERE r.product_id = ?1 AND r.status = 'approved'"
                                    " AND (?2 = 0 OR r.rating = ?2)"
                                    " AND (r.rating, r.id) > (?3, ?4)"
                                    " ORDER BY r.rating, r.id LIMIT ?5",
};

/* A cursor is "<sort letter><key>.<id>" of the last review of the page. */
static const char sort_letter[REVIEW_SORT_COUNT] = {'h', 'n', 'd', 'a'};

static int64_t sort_key(const struct review *r, enum review_sort s)
{
    return s == REVIEW_SORT_HELPFUL  ? r->helpful_count
           : s == REVIEW_SORT_NEWEST ? r->created_at
                                     : r->rating;
}

static bool cursor_parse(const char *s, enum review_sort sort, int64_t *key, int64_t *id)
{
    return s && s[0] == sort_letter[sort] && strlen(s) <= 44 && keyset_pair_parse(s + 1, key, id);
}

enum shop_err review_list(struct shop *shop, struct arena *a, const struct principal *who,
                          const struct review_query *q, struct review_page *out, struct problem *pb)
{
    bool asc = q->sort == REVIEW_SORT_RATING_ASC;
    int64_t key = asc ? -1 : INT64_MAX, after = asc ? 0 : INT64_MAX;
    if (q->cursor && !cursor_parse(q->cursor, q->sort, &key, &after))
        return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
    memset(out, 0, sizeof *out);
    out->items = arena_alloc(a, sizeof *out->items * (size_t)(q->limit + 1));
    struct db *db = store_db(shop->store);
    enum shop_err e = SHOP_OK;
    db_read_begin(db);
    struct stmt *st =
        db_prepare(db, "SELECT 1 FROM products WHERE id = ? AND status = 'published'");
    if (!st) {
        e = db_fail(db, pb, "reading the product");
        goto done;
    }
    stmt_bind_i64(st, 1, q->product_id);
    if (stmt_step(st) != STMT_ROW) {
        e = problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)q->product_id);
        goto done;
    }
    if (!q->cursor && who->user_id) {
        /* The caller's own review that others do not see. */
        st = db_prepare(db, COLS " WHERE r.product_id = ? AND r.user_id = ?"
                                 " AND r.status <> 'approved'");
        if (!st) {
            e = db_fail(db, pb, "reading reviews");
            goto done;
        }
        stmt_bind_i64(st, 1, q->product_id);
        stmt_bind_i64(st, 2, who->user_id);
        if (stmt_step(st) == STMT_ROW) {
            row_read(st, a, &out->items[0]);
            if (!q->rating || out->items[0].rating == q->rating)
                out->n = 1;
        }
    }
    st = db_prepare(db, page_sql[q->sort]);
    if (!st) {
        e = db_fail(db, pb, "reading reviews");
        goto done;
    }
    stmt_bind_i64(st, 1, q->product_id);
    stmt_bind_i64(st, 2, q->rating);
    stmt_bind_i64(st, 3, key);
    stmt_bind_i64(st, 4, after);
    stmt_bind_i64(st, 5, q->limit + 1);
    int got = 0, rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (got == q->limit) {
            const struct review *last = &out->items[out->n - 1];
            snprintf(out->next_cursor, sizeof out->next_cursor, "%c%lld.%lld", sort_letter[q->sort],
                     (long long)sort_key(last, q->sort), (long long)last->id);
            break;
        }
        row_read(st, a, &out->items[out->n++]);
        got++;
    }
    if (rc != STMT_DONE && rc != STMT_ROW) { /* STMT_ROW: stopped past the page */
        out->n = 0;
        e = db_fail(db, pb, "reading reviews");
    }
done:
    db_read_end(db);
    db_release(db);
    return e;
}

enum shop_err review_admin_list(struct shop *shop, struct arena *a, enum review_status status,
                                int limit, const char *cursor, struct review_page *out,
                                struct problem *pb)
{
    int64_t after = 0;
    if (cursor) {
        char *end;
        errno = 0;
        long long v = strtoll(cursor, &end, 10);
        if (errno || end == cursor || *end || v <= 0)
            return problem_field(pb, SHOP_INVALID, "cursor", "is not a cursor this API gave out");
        after = v;
    }
    memset(out, 0, sizeof *out);
    out->items = arena_alloc(a, sizeof *out->items * (size_t)limit);
    struct db *db = store_db(shop->store);
    struct stmt *st =
        status == REVIEW_PENDING
            ? db_prepare(db, COLS " WHERE r.held = 1 AND r.id > ? ORDER BY r.id LIMIT ?")
            : db_prepare(db, COLS " WHERE r.status = ? AND r.id > ? ORDER BY r.id LIMIT ?");
    if (!st)
        return db_fail(db, pb, "reading reviews");
    int k = 1;
    if (status != REVIEW_PENDING)
        stmt_bind_text(st, k++, review_status_name(status));
    stmt_bind_i64(st, k++, after);
    stmt_bind_i64(st, k, limit + 1);
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (out->n == limit) {
            snprintf(out->next_cursor, sizeof out->next_cursor, "%lld",
                     (long long)out->items[out->n - 1].id);
            break;
        }
        row_read(st, a, &out->items[out->n++]);
    }
    if (rc != STMT_DONE && rc != STMT_ROW) { /* STMT_ROW: stopped past the page */
        out->n = 0;
        out->next_cursor[0] = 0;
        enum shop_err e = db_fail(db, pb, "reading reviews");
        db_release(db);
        return e;
    }
    db_release(db);
    return SHOP_OK;
}

int review_top(struct db *db, struct arena *a, int64_t product_id, struct review *out, int max)
{
    struct stmt *st = db_prepare(db, COLS " WHERE r.product_id = ? AND r.status = 'approved'"
                                          " ORDER BY r.helpful_count DESC, r.id DESC LIMIT ?");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, product_id);
    stmt_bind_i64(st, 2, max);
    int n = 0;
    while (n < max && stmt_step(st) == STMT_ROW)
        row_read(st, a, &out[n++]);
    return n;
}

/* ---- the wire form ----------------------------------------------------------------- */

static json_t *time_json(int64_t ms)
{
    char ts[RFC3339_LEN];
    return ms ? json_string(clock_fmt(ms, ts)) : json_null();
}

json_t *review_json(const struct review *r, bool private_view)
{
    json_t *o = json_pack("{s:I, s:I, s:{s:s}, s:i, s:s, s:s, s:b, s:I, s:s}", "id",
                          (json_int_t)r->id, "product_id", (json_int_t)r->product_id, "author",
                          "name", r->author, "rating", r->rating, "title", r->title, "body",
                          r->body, "verified_purchase", r->verified, "helpful_count",
                          (json_int_t)r->helpful_count, "status", review_status_name(r->status));
    json_object_set_new(o, "created_at", time_json(r->created_at));
    json_object_set_new(o, "updated_at", time_json(r->updated_at));
    if (r->reply)
        json_object_set_new(
            o, "seller_reply",
            json_pack("{s:s, s:o}", "body", r->reply, "created_at", time_json(r->reply_at)));
    if (!private_view)
        return o;
    const char *why[4];
    int n = moderation_reasons(r->held_for, why);
    json_t *held = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(held, json_string(why[i]));
    json_object_set_new(o, "held_for", held);
    if (r->edit_rating)
        json_object_set_new(o, "pending_edit",
                            json_pack("{s:i, s:s, s:s}", "rating", r->edit_rating, "title",
                                      r->edit_title ? r->edit_title : "", "body",
                                      r->edit_body ? r->edit_body : ""));
    return o;
}
