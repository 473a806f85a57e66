/* flashsale_sell.c — selling a flash sale's units: the scheduler (starts,
 * admissions at the sale's rate, token expiry, ends) and the checkout's side
 * (check a token, take units, settle them when the order is paid or fails).
 * The essay, with the buckets every unit is in, is at the top of
 * flashsale.c.
 */
#include "shop/flashsale.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/changes.h"
#include "shop/flashsale_sale.h"
#include "shop/inventory.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/log.h"

#define ADMIT_PER_TICK_MAX 5000

/* ---- the scheduler ---------------------------------------------------------------------- */

struct tick_job {
    int64_t now, token_ttl;
    int64_t changed[64]; /* products whose availability changed */
    int nchanged;
};

static void note_product(struct tick_job *j, int64_t product_id)
{
    for (int i = 0; i < j->nchanged; i++)
        if (j->changed[i] == product_id)
            return;
    if (j->nchanged < 64)
        j->changed[j->nchanged++] = product_id;
}

/* Admits up to the sale's rate since its last admission, in position order. */
static enum shop_err admit(struct db *db, struct tick_job *j, struct sale *s, struct problem *pb)
{
    /* A token bucket of one second: idle time does not bank admissions. */
    int64_t base = s->last_admit_at ? s->last_admit_at : s->started_at;
    if (base < j->now - 1000)
        base = j->now - 1000;
    int64_t budget = s->admit_per_second * (j->now - base) / 1000;
    if (budget > ADMIT_PER_TICK_MAX)
        budget = ADMIT_PER_TICK_MAX;
    if (budget < 1)
        return SHOP_OK;
    struct stmt *st =
        db_prepare(db, "SELECT user_id, position FROM flash_sale_queue WHERE sale_id = ?"
                       " AND status = 'waiting' ORDER BY position LIMIT ?");
    if (!st)
        return db_fail(db, pb, "admitting");
    stmt_bind_i64(st, 1, s->id);
    stmt_bind_i64(st, 2, budget);
    int64_t *users = malloc(sizeof *users * (size_t)budget * 2);
    if (!users)
        return problem_set(pb, SHOP_INTERNAL, "out of memory");
    int n = 0;
    while (stmt_step(st) == STMT_ROW) {
        users[2 * n] = stmt_i64(st, 0);
        users[2 * n + 1] = stmt_i64(st, 1);
        n++;
    }
    int64_t free_units = flashsale_remaining(s), held = 0, through = s->admitted_through;
    enum shop_err e = SHOP_OK;
    for (int i = 0; i < n && e == SHOP_OK; i++) {
        int64_t h = free_units < s->per_customer_limit ? free_units : s->per_customer_limit;
        st = db_prepare(db, "UPDATE flash_sale_queue SET status = 'admitted', admitted_at = ?,"
                            " token_expires_at = ?, held = ? WHERE sale_id = ? AND user_id = ?"
                            " AND status = 'waiting'");
        if (!st) {
            e = db_fail(db, pb, "admitting");
            break;
        }
        stmt_bind_i64(st, 1, j->now);
        stmt_bind_i64(st, 2, j->now + j->token_ttl);
        stmt_bind_i64(st, 3, h);
        stmt_bind_i64(st, 4, s->id);
        stmt_bind_i64(st, 5, users[2 * i]);
        if (stmt_step(st) != STMT_DONE)
            e = db_fail(db, pb, "admitting");
        free_units -= h;
        held += h;
        through = users[2 * i + 1];
    }
    free(users);
    if (e != SHOP_OK)
        return e;
    /* Advance the bucket by what was spent (to now when the room is empty). */
    st = db_prepare(
        db, "UPDATE flash_sales SET held = held + ?1, admitted_through = CASE WHEN"
            " admitted_through > ?2 THEN admitted_through ELSE ?2 END,"
            " last_admit_at = ?3 WHERE id = ?4 AND quantity - sold - in_flight - held >= ?1");
    if (!st)
        return db_fail(db, pb, "admitting");
    stmt_bind_i64(st, 1, held);
    stmt_bind_i64(st, 2, through);
    stmt_bind_i64(st, 3, n < budget ? j->now : base + n * 1000 / s->admit_per_second);
    stmt_bind_i64(st, 4, s->id);
    if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the sale changed while admitting");
    return SHOP_OK;
}

/* Expired admissions give their units back. */
static enum shop_err expire_tokens(struct db *db, struct tick_job *j, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT sale_id, sum(held), count(*) FROM flash_sale_queue"
                                     " WHERE status = 'admitted' AND token_expires_at <= ?"
                                     " GROUP BY sale_id");
    if (!st)
        return db_fail(db, pb, "expiring tokens");
    stmt_bind_i64(st, 1, j->now);
    struct {
        int64_t sale, held;
    } back[64];
    int n = 0;
    while (n < 64 && stmt_step(st) == STMT_ROW) {
        back[n].sale = stmt_i64(st, 0);
        back[n].held = stmt_i64(st, 1);
        n++;
    }
    for (int i = 0; i < n; i++) {
        st = db_prepare(db, "UPDATE flash_sale_queue SET status = 'expired', held = 0"
                            " WHERE sale_id = ? AND status = 'admitted' AND token_expires_at <= ?");
        if (!st)
            return db_fail(db, pb, "expiring tokens");
        stmt_bind_i64(st, 1, back[i].sale);
        stmt_bind_i64(st, 2, j->now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "expiring tokens");
        st = db_prepare(db, "UPDATE flash_sales SET held = held - ? WHERE id = ? AND held >= ?");
        if (!st)
            return db_fail(db, pb, "expiring tokens");
        stmt_bind_i64(st, 1, back[i].held);
        stmt_bind_i64(st, 2, back[i].sale);
        stmt_bind_i64(st, 3, back[i].held);
        if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
            return problem_set(pb, SHOP_INTERNAL, "held units out of balance for sale %lld",
                               (long long)back[i].sale);
    }
    return SHOP_OK;
}

static enum shop_err tick_write(struct db *db, void *arg, struct problem *pb)
{
    struct tick_job *j = arg;
    j->nchanged = 0;
    /* Start what is due. */
    struct stmt *st = db_prepare(db, "UPDATE flash_sales SET status = 'live', started_at = ?1,"
                                     " last_admit_at = ?1 WHERE status = 'scheduled'"
                                     " AND starts_at <= ?1 AND ends_at > ?1"
                                     " RETURNING id, product_id, variant_id");
    if (!st)
        return db_fail(db, pb, "starting sales");
    stmt_bind_i64(st, 1, j->now);
    struct {
        int64_t id, product, variant;
    } started[64];
    int ns = 0;
    while (ns < 64 && stmt_step(st) == STMT_ROW) {
        started[ns].id = stmt_i64(st, 0);
        started[ns].product = stmt_i64(st, 1);
        started[ns].variant = stmt_i64(st, 2);
        ns++;
    }
    db_release(db);
    for (int i = 0; i < ns; i++) {
        enum shop_err e = outbox_emit(
            db, "flash_sale.started", started[i].id,
            json_pack("{s:I, s:I, s:I}", "sale_id", (json_int_t)started[i].id, "product_id",
                      (json_int_t)started[i].product, "variant_id", (json_int_t)started[i].variant),
            pb);
        if (e != SHOP_OK)
            return e;
    }
    /* End what is over. */
    int64_t ending[64];
    int ne = 0;
    st = db_prepare(db, "SELECT id, product_id FROM flash_sales WHERE status <> 'ended'"
                        " AND ends_at <= ? LIMIT 64");
    if (!st)
        return db_fail(db, pb, "ending sales");
    stmt_bind_i64(st, 1, j->now);
    while (ne < 64 && stmt_step(st) == STMT_ROW) {
        ending[ne++] = stmt_i64(st, 0);
        note_product(j, stmt_i64(st, 1));
    }
    for (int i = 0; i < ne; i++)
        if (flashsale_end_sale(db, ending[i], j->now, pb) != SHOP_OK)
            return pb->err;
    if (expire_tokens(db, j, pb) != SHOP_OK)
        return pb->err;
    /* Admit. */
    struct sale live[64];
    int nl = 0;
    st = db_prepare(db, "SELECT " SALE_COLS " FROM flash_sales WHERE status = 'live'"
                        " AND ends_at > ? LIMIT 64");
    if (!st)
        return db_fail(db, pb, "admitting");
    stmt_bind_i64(st, 1, j->now);
    while (nl < 64 && stmt_step(st) == STMT_ROW)
        flashsale_row_to_sale(st, &live[nl++]);
    for (int i = 0; i < nl; i++)
        if (admit(db, j, &live[i], pb) != SHOP_OK)
            return pb->err;
    return SHOP_OK;
}

enum shop_err flashsale_tick(struct shop *shop, struct problem *pb)
{
    struct tick_job j = {.now = clock_now_ms(), .token_ttl = shop->cfg.flash_token_ttl_ms};
    /* Nothing to do most of the time: check cheaply before writing. */
    struct db *db = store_db(shop->store);
    int64_t active = db_scalar_i64(db,
                                   "SELECT count(*) FROM flash_sales WHERE status <> 'ended'"
                                   " AND ? >= 0",
                                   0, 0);
    db_release(db);
    if (!active)
        return SHOP_OK;
    if (store_write(shop->store, tick_write, &j, pb) != SHOP_OK)
        return pb->err;
    for (int i = 0; i < j.nchanged; i++)
        shop_product_changed(shop, j.changed[i]);
    return SHOP_OK;
}

/* ---- checkout integration ---------------------------------------------------------------- */

enum shop_err flashsale_check(struct db *db, const unsigned char key[32], int64_t sale_id,
                              int64_t user_id, const char *token, int64_t quantity, int64_t now,
                              struct flash_claim *out, struct problem *pb)
{
    struct sale s;
    if (flashsale_read_sale(db, sale_id, &s, pb) != SHOP_OK)
        return pb->err;
    /* The token first: without a valid one the answer is 403 whatever the
     * sale is doing. */
    struct stmt *st = db_prepare(db, "SELECT status, coalesce(admitted_at, 0),"
                                     " coalesce(token_expires_at, 0), held FROM flash_sale_queue"
                                     " WHERE sale_id = ? AND user_id = ?");
    if (!st)
        return db_fail(db, pb, "checking the token");
    stmt_bind_i64(st, 1, sale_id);
    stmt_bind_i64(st, 2, user_id);
    int rc = stmt_step(st);
    if (rc < 0) /* a failure, not "no place in the room": the retry would be 201 */
        return db_fail(db, pb, "checking the token");
    if (rc != STMT_ROW || !token)
        return problem_set(pb, SHOP_FORBIDDEN,
                           "a valid purchase token from the waiting room is"
                           " required");
    char status[16];
    snprintf(status, sizeof status, "%s", stmt_text(st, 0));
    int64_t admitted_at = stmt_i64(st, 1), expires = stmt_i64(st, 2);
    char want[FLASH_TOKEN_LEN + 1];
    flashsale_token_for(key, sale_id, user_id, admitted_at, want);
    if (!admitted_at || strlen(token) != FLASH_TOKEN_LEN ||
        sodium_memcmp(want, token, FLASH_TOKEN_LEN) != 0)
        return problem_set(pb, SHOP_FORBIDDEN, "the purchase token is not valid for you");
    int64_t held = stmt_i64(st, 3), bought = 0;
    /* per_customer_limit counts units, not purchases: a customer who bought
     * fewer may buy the rest with the same token while it lasts. */
    bool purchased = !strcmp(status, "purchased");
    if (flashsale_bought(db, sale_id, user_id, &bought, pb) != SHOP_OK)
        return pb->err;
    if (purchased && bought >= s.per_customer_limit)
        return problem_set(pb, SHOP_FORBIDDEN,
                           "you have bought the most this sale allows: %lld per customer",
                           (long long)s.per_customer_limit);
    if (!strcmp(status, "purchasing"))
        return problem_set(pb, SHOP_CONFLICT, "a purchase with this token is in progress");
    if (strcmp(s.status, "live") != 0 || now >= s.ends_at || now < s.starts_at)
        return problem_set(pb, SHOP_CONFLICT, "the sale is %s", flashsale_shown_status(&s, now));
    if ((strcmp(status, "admitted") != 0 && !purchased) || expires <= now)
        return problem_set(pb, SHOP_FORBIDDEN, "the purchase token has expired");
    if (quantity > s.per_customer_limit - bought)
        return problem_field(pb, SHOP_INVALID, "quantity",
                             "at most %lld per customer (you have bought %lld)",
                             (long long)s.per_customer_limit, (long long)bought);
    int64_t extra = quantity > held ? quantity - held : 0;
    if (extra > flashsale_remaining(&s)) {
        problem_extra(pb, "remaining", json_integer(flashsale_remaining(&s)));
        problem_extra(pb, "held", json_integer(s.held));
        problem_extra(pb, "in_flight", json_integer(s.in_flight));
        problem_extra(pb, "code", json_string(PROBLEM_CODE_SOLD_OUT));
        if (s.held + s.in_flight == 0)
            return problem_set(pb, SHOP_CONFLICT, "sold out");
        /* Not sold: held by shoppers ahead in the queue, or in their
         * checkouts. Units come back when a token expires or a payment
         * fails, and this token may buy them until it expires. */
        return problem_set(pb, SHOP_CONFLICT,
                           "sold out for now: %lld units are held by shoppers ahead of you or"
                           " in their checkouts, and come back if they do not buy; try again"
                           " while your token lasts",
                           (long long)(s.held + s.in_flight));
    }
    *out = (struct flash_claim){.sale_id = sale_id,
                                .variant_id = s.variant_id,
                                .product_id = s.product_id,
                                .price_cents = s.price_cents,
                                .quantity = quantity,
                                .entry_held = held};
    snprintf(out->currency, sizeof out->currency, "%s", s.currency);
    return SHOP_OK;
}

enum shop_err flashsale_take(struct db *db, const struct flash_claim *c, int64_t user_id,
                             int64_t order_id, int64_t expires_at, struct problem *pb)
{
    /* The hold is given up whole; units beyond it come from what is left. */
    struct stmt *st =
        db_prepare(db, "UPDATE flash_sales SET held = held - ?1, in_flight = in_flight + ?2"
                       " WHERE id = ?3 AND held >= ?1 AND quantity - sold - in_flight -"
                       " (held - ?1) >= ?2");
    if (!st)
        return db_fail(db, pb, "claiming units");
    stmt_bind_i64(st, 1, c->entry_held);
    stmt_bind_i64(st, 2, c->quantity);
    stmt_bind_i64(st, 3, c->sale_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "claiming units");
    if (db_changes(db) != 1) {
        problem_extra(pb, "code", json_string(PROBLEM_CODE_SOLD_OUT));
        return problem_set(pb, SHOP_CONFLICT, "sold out");
    }
    st = db_prepare(db, "UPDATE flash_sale_queue SET status = 'purchasing', held = 0, order_id = ?"
                        " WHERE sale_id = ? AND user_id = ?"
                        " AND status IN ('admitted', 'purchased')");
    if (!st)
        return db_fail(db, pb, "claiming units");
    stmt_bind_i64(st, 1, order_id);
    stmt_bind_i64(st, 2, c->sale_id);
    stmt_bind_i64(st, 3, user_id);
    if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
        return problem_set(pb, SHOP_CONFLICT, "the token was used meanwhile");
    /* Move the units from the sale's pool to the order's reservations. */
    int64_t need = c->quantity;
    while (need > 0) {
        /* The fullest warehouse, found here: ORDER BY … LIMIT 1 would sort
         * in a temporary table. */
        st = db_prepare(db, "SELECT warehouse_id, left_qty FROM flash_sale_stock WHERE sale_id = ?"
                            " AND left_qty > 0");
        if (!st)
            return db_fail(db, pb, "claiming units");
        stmt_bind_i64(st, 1, c->sale_id);
        int64_t wh = 0, left = 0;
        while (stmt_step(st) == STMT_ROW)
            if (stmt_i64(st, 1) > left) {
                wh = stmt_i64(st, 0);
                left = stmt_i64(st, 1);
            }
        if (left == 0)
            return problem_set(pb, SHOP_INTERNAL, "the sale's pool is short");
        int64_t take = left < need ? left : need;
        st =
            db_prepare(db, "UPDATE flash_sale_stock SET left_qty = left_qty - ?1 WHERE sale_id = ?2"
                           " AND warehouse_id = ?3 AND left_qty >= ?1");
        if (!st)
            return db_fail(db, pb, "claiming units");
        stmt_bind_i64(st, 1, take);
        stmt_bind_i64(st, 2, c->sale_id);
        stmt_bind_i64(st, 3, wh);
        if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
            return problem_set(pb, SHOP_INTERNAL, "the sale's pool changed");
        st = db_prepare(db, "INSERT INTO reservations (order_id, sale_id, variant_id, warehouse_id,"
                            " quantity, status, expires_at, created_at, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "claiming units");
        int64_t now = clock_now_ms();
        stmt_bind_i64(st, 1, order_id);
        stmt_bind_i64(st, 2, c->sale_id);
        stmt_bind_i64(st, 3, c->variant_id);
        stmt_bind_i64(st, 4, wh);
        stmt_bind_i64(st, 5, take);
        stmt_bind_i64(st, 6, expires_at);
        stmt_bind_i64(st, 7, now);
        stmt_bind_i64(st, 8, now);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "claiming units");
        need -= take;
    }
    return SHOP_OK;
}

static enum shop_err settle(struct db *db, int64_t order_id, bool paid, struct problem *pb)
{
    struct stmt *st =
        db_prepare(db, "SELECT o.flash_sale_id, o.user_id, (SELECT sum(quantity) FROM"
                       " order_lines WHERE order_id = o.id) FROM orders o WHERE o.id = ?");
    if (!st)
        return db_fail(db, pb, "settling the sale");
    stmt_bind_i64(st, 1, order_id);
    int rc = stmt_step(st);
    if (rc < 0) /* a failure, not "no sale": the sale would never count the unit sold */
        return db_fail(db, pb, "settling the sale");
    if (rc != STMT_ROW || stmt_is_null(st, 0))
        return SHOP_OK; /* not a flash-sale order */
    int64_t sale = stmt_i64(st, 0), user = stmt_i64(st, 1), q = stmt_i64(st, 2);
    st = paid ? db_prepare(db, "UPDATE flash_sales SET in_flight = in_flight - ?1, sold = sold + ?1"
                               " WHERE id = ?2 AND in_flight >= ?1")
              : db_prepare(db, "UPDATE flash_sales SET in_flight = in_flight - ?1"
                               " WHERE id = ?2 AND in_flight >= ?1");
    if (!st)
        return db_fail(db, pb, "settling the sale");
    stmt_bind_i64(st, 1, q);
    stmt_bind_i64(st, 2, sale);
    if (stmt_step(st) != STMT_DONE || db_changes(db) != 1)
        return problem_set(pb, SHOP_INTERNAL, "flash sale %lld out of balance", (long long)sale);
    st = paid ? db_prepare(db, "UPDATE flash_sale_queue SET status = 'purchased' WHERE sale_id = ?"
                               " AND user_id = ? AND order_id = ?")
              : db_prepare(db, "UPDATE flash_sale_queue SET status = 'admitted', order_id = NULL"
                               " WHERE sale_id = ? AND user_id = ? AND order_id = ?");
    if (!st)
        return db_fail(db, pb, "settling the sale");
    stmt_bind_i64(st, 1, sale);
    stmt_bind_i64(st, 2, user);
    stmt_bind_i64(st, 3, order_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "settling the sale");
}

enum shop_err flashsale_order_paid(struct db *db, int64_t order_id, struct problem *pb)
{
    return settle(db, order_id, true, pb);
}

enum shop_err flashsale_order_failed(struct db *db, int64_t order_id, struct problem *pb)
{
    return settle(db, order_id, false, pb);
}

enum shop_err flashsale_pool_open(struct db *db, int64_t sale_id, bool *open, struct problem *pb)
{
    int64_t n;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM flash_sales WHERE id = ?"
                                  " AND status <> 'ended'",
                              sale_id, 0, &n, pb, "reading a flash sale") != SHOP_OK)
        return pb->err;
    *open = n > 0;
    return SHOP_OK;
}

void flashsale_render_metrics(struct shop *shop, struct buf *out)
{
    struct db *db = store_db(shop->store);
    struct stmt *st =
        db_prepare(db, "SELECT id, quantity, sold, in_flight, held, (SELECT count(*)"
                       " FROM flash_sale_queue q WHERE q.sale_id = s.id AND"
                       " q.status = 'waiting') FROM flash_sales s WHERE status = 'live'"
                       " LIMIT 20");
    buf_puts(out, "# HELP shopd_flash_sale_units Units of live flash sales, by bucket.\n"
                  "# TYPE shopd_flash_sale_units gauge\n"
                  "# HELP shopd_flash_sale_waiting Customers waiting in a live sale's room.\n"
                  "# TYPE shopd_flash_sale_waiting gauge\n");
    while (st && stmt_step(st) == STMT_ROW) {
        long long id = (long long)stmt_i64(st, 0), qty = (long long)stmt_i64(st, 1);
        long long sold = (long long)stmt_i64(st, 2), fl = (long long)stmt_i64(st, 3);
        long long held = (long long)stmt_i64(st, 4);
        buf_printf(out,
                   "shopd_flash_sale_units{sale=\"%lld\",bucket=\"sold\"} %lld\n"
                   "shopd_flash_sale_units{sale=\"%lld\",bucket=\"in_flight\"} %lld\n"
                   "shopd_flash_sale_units{sale=\"%lld\",bucket=\"held\"} %lld\n"
                   "shopd_flash_sale_units{sale=\"%lld\",bucket=\"remaining\"} %lld\n"
                   "shopd_flash_sale_waiting{sale=\"%lld\"} %lld\n",
                   id, sold, id, fl, id, held, id, qty - sold - fl - held, id,
                   (long long)stmt_i64(st, 5));
    }
    db_release(db);
}
