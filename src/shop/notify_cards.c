/* notify_cards.c — NTF-2: "your card ending 4242 expires at the end of the
 * month". A stored card is announced once, when the end of its expiry month
 * is at most 30 days away: housekeeping calls this every
 * SHOPD_CARD_EXPIRY_SCAN_MS; each card is looked up by its expiry month
 * (an index on exp_year, exp_month, expiry_notified), notified through the
 * user's preferences (notify_user, keyed per card and expiry, so a crash
 * between the notification and the mark sends nothing twice), then marked. */
#include <stdio.h>
#include <time.h>

#include "shop/notify.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"

#define DAY_MS INT64_C(86400000)

/* The first moment after a card expiring in (year, month) stops working. */
static int64_t expiry_end(int year, int month)
{
    struct tm t = {.tm_year = year - 1900 + (month == 12), .tm_mon = month % 12, .tm_mday = 1};
    return (int64_t)timegm(&t) * 1000;
}

struct mark_job {
    int64_t id;
};

static enum shop_err mark_write(struct db *db, void *arg, struct problem *pb)
{
    struct mark_job *j = arg;
    struct stmt *st = db_prepare(db, "UPDATE payment_methods SET expiry_notified = 1 WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "marking a card");
    stmt_bind_i64(st, 1, j->id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "marking a card");
}

int notify_cards_expiring(struct shop *shop)
{
    int64_t now = clock_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm t;
    gmtime_r(&secs, &t);
    int sent = 0;
    for (int k = 0; k < 2; k++) { /* this month, and next */
        int month = (t.tm_mon + k) % 12 + 1, year = t.tm_year + 1900 + (t.tm_mon + k) / 12;
        int64_t end = expiry_end(year, month);
        if (end <= now || end - now > 30 * DAY_MS)
            continue;
        struct {
            int64_t id, user;
            char brand[16], last4[5];
        } cards[256];
        int n = 0;
        struct db *db = store_db(shop->store);
        struct stmt *st = db_prepare(db, "SELECT id, user_id, brand, last4 FROM payment_methods"
                                         " WHERE exp_year = ? AND exp_month = ?"
                                         " AND expiry_notified = 0 AND deleted_at IS NULL"
                                         " LIMIT 256");
        if (st) {
            stmt_bind_i64(st, 1, year);
            stmt_bind_i64(st, 2, month);
            while (n < 256 && stmt_step(st) == STMT_ROW) {
                cards[n].id = stmt_i64(st, 0);
                cards[n].user = stmt_i64(st, 1);
                snprintf(cards[n].brand, sizeof cards[n].brand, "%s", stmt_text(st, 2));
                snprintf(cards[n].last4, sizeof cards[n].last4, "%s", stmt_text(st, 3));
                n++;
            }
        }
        db_release(db);
        for (int i = 0; i < n; i++) {
            char key[64], body[160];
            snprintf(key, sizeof key, "card_expiring:%lld:%04d-%02d", (long long)cards[i].id,
                     year, month);
            snprintf(body, sizeof body,
                     "Your %s card ending %s expires at the end of %04d-%02d; add a new one to"
                     " keep checking out in one click.",
                     cards[i].brand, cards[i].last4, year, month);
            json_t *data = json_pack("{s:I, s:s, s:i, s:i}", "payment_method_id",
                                     (json_int_t)cards[i].id, "last4", cards[i].last4,
                                     "exp_month", month, "exp_year", year);
            struct notify_spec spec = {.key = key, .kind = "card_expiring",
                                       .title = "Your card expires soon", .body = body,
                                       .data = data};
            struct problem pb = {0};
            struct mark_job j = {cards[i].id};
            if (notify_user(shop, cards[i].user, &spec, &pb) == SHOP_OK &&
                store_write(shop->store, mark_write, &j, &pb) == SHOP_OK)
                sent++;
            problem_clear(&pb);
            json_decref(data);
        }
    }
    return sent;
}
