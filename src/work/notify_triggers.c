#include "work/notify_triggers.h"

#include <stdio.h>
#include <string.h>

#include "shop/notify.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/log.h"

/* An integer member, or -1 when absent or not an integer. */
static json_int_t member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static void skip(const struct outbox_event *ev, const char *why)
{
    log_event(LOG_INFO, "notify.trigger_skipped", "{s:I, s:s, s:s}", "event", (json_int_t)ev->id,
              "topic", ev->topic, "why", why);
}

struct product_info {
    char title[NOTIFY_TITLE_MAX * 4 + 1];
    char currency[8];
    bool published;
};

static bool product_read(struct shop *shop, int64_t id, struct product_info *p)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT title, currency, status = 'published'"
                                     " FROM products WHERE id = ?");
    bool found = false;
    if (st) {
        stmt_bind_i64(st, 1, id);
        found = stmt_step(st) == STMT_ROW;
    }
    if (found) {
        snprintf(p->title, sizeof p->title, "%s", stmt_text(st, 0));
        snprintf(p->currency, sizeof p->currency, "%s", stmt_text(st, 1));
        p->published = stmt_i64(st, 2) != 0;
    }
    db_release(db); /* no snapshot held while the handler waits on the writer */
    return found;
}

enum shop_err notify_on_wishlist_event(struct shop *shop, const struct outbox_event *ev, void *cls,
                                       struct problem *pb)
{
    (void)cls;
    json_t *o = json_loads(ev->payload, 0, NULL);
    json_int_t product = member(o, "product_id"), variant = member(o, "variant_id");
    struct product_info p;
    enum shop_err e = SHOP_OK;
    if (!strcmp(ev->topic, "flash_sale.started")) {
        json_int_t sale = member(o, "sale_id");
        if (sale > 0 && product > 0)
            e = notify_flash_sale_started(shop, sale, product, pb);
        else
            skip(ev, "no sale_id or product_id");
        if (e == SHOP_NOT_FOUND || e == SHOP_CONFLICT) {
            skip(ev, pb->detail); /* never retried into success */
            problem_clear(pb);
            e = SHOP_OK;
        }
        goto done;
    }
    if (product <= 0 || variant <= 0) {
        skip(ev, "no product_id or variant_id");
        goto done;
    }
    if (!product_read(shop, product, &p) || !p.published) {
        skip(ev, "product not published");
        goto done;
    }
    char key[96], title[sizeof p.title + 32], body[160];
    struct notify_spec spec = {.key = key, .title = title, .body = body};
    if (!strcmp(ev->topic, "price.changed")) {
        json_int_t was = member(o, "old_price_cents"), now = member(o, "new_price_cents");
        if (was < 0 || now < 0 || now >= was)
            goto done; /* not a drop */
        char a[64], b[64];
        snprintf(key, sizeof key, "price_drop:%lld:%lld:%lld", (long long)variant, (long long)now,
                 (long long)(ev->created_at / 86400000));
        snprintf(title, sizeof title, "Price drop: %s", p.title);
        snprintf(body, sizeof body, "Now %s (was %s).", notify_money(now, p.currency, a),
                 notify_money(was, p.currency, b));
        spec.kind = "price_drop";
        spec.data =
            json_pack("{s:I, s:I, s:I, s:I, s:s}", "product_id", product, "variant_id", variant,
                      "old_price_cents", was, "new_price_cents", now, "currency", p.currency);
    } else {
        json_int_t available = member(o, "available");
        /* Wishlists hold products: the product being back is the news, once a
         * day, however many of its variants return (the first one's figures). */
        snprintf(key, sizeof key, "back_in_stock:%lld:%lld", (long long)product,
                 (long long)(ev->created_at / 86400000));
        snprintf(title, sizeof title, "Back in stock: %s", p.title);
        snprintf(body, sizeof body, "It is available again%s.",
                 available > 0 && available < 10 ? ", while few last" : "");
        spec.kind = "back_in_stock";
        spec.data = json_pack("{s:I, s:I, s:I}", "product_id", product, "variant_id", variant,
                              "available", available < 0 ? 0 : available);
    }
    int64_t id;
    bool created;
    e = notify_fanout_create(shop, product, &spec, &id, &created, pb);
    json_decref(spec.data);
done:
    json_decref(o);
    return e;
}

/* Title "Order #<id> <verb>"; body before + amount + after. */
static const struct {
    const char *topic, *kind, *verb, *before, *after;
    bool per_event; /* several per order: the event id joins the key */
} order_texts[] = {
    {"order.confirmed", "order_confirmed", "confirmed", "We have your order of ", ".", false},
    {"order.cancelled", "order_cancelled", "cancelled",
     "Your order was cancelled; anything charged (", ") is refunded.", true},
    {"order.refunded", "order_refunded", "refunded", "We refunded ", " to you.", true},
    /* A shipment's news: once per shipment and status (the event id). */
    {"order.shipped", "order_shipped", "shipped", "A parcel of your order is on its way.", "",
     true},
    {"order.out_for_delivery", "order_out_for_delivery", "out for delivery",
     "A parcel of your order will arrive today.", "", true},
    {"order.delivered", "order_delivered", "delivered", "A parcel of your order was delivered.",
     "", true},
    {"order.delivery_failed", "order_delivery_failed", "not delivered",
     "We could not deliver a parcel of your order; the carrier will try again.", "", true},
    {"order.returned_to_sender", "order_returned_to_sender", "returned to us",
     "A parcel could not be delivered and came back to us; we refund it.", "", true},
    {"order.return_approved", "return_approved", "return approved",
     "Your return was approved: send the items back to us.", "", true},
    {"order.return_rejected", "return_rejected", "return rejected",
     "We could not accept your return; see your order for details.", "", true},
};

/* What one order event tells its user: the spec (its strings in here) and
 * the user. */
struct order_note {
    char key[96], title[96], body[200];
    struct notify_spec spec; /* spec.data is the caller's to release */
    int64_t user;
};

/* Fills `n` from `ev`; false when the event tells nobody. */
static bool order_note(const struct outbox_event *ev, struct order_note *n)
{
    size_t k = 0, count = sizeof order_texts / sizeof order_texts[0];
    while (k < count && strcmp(order_texts[k].topic, ev->topic))
        k++;
    if (k == count)
        return false; /* an order event nobody is told about */
    json_t *o = json_loads(ev->payload, 0, NULL);
    json_int_t order = member(o, "order_id"), user = member(o, "user_id");
    if (order <= 0 || user <= 0) {
        skip(ev, "no order_id or user_id");
        json_decref(o);
        return false;
    }
    json_int_t amount = member(o, "amount_cents");
    if (amount < 0)
        amount = member(o, "refund_cents");
    if (amount < 0)
        amount = member(o, "total_cents");
    bool partly = json_is_false(json_object_get(o, "whole"));
    const char *currency = json_string_value(json_object_get(o, "currency"));
    char money[64] = "";
    if (order_texts[k].per_event)
        snprintf(n->key, sizeof n->key, "%s:%lld:%lld", ev->topic, (long long)order,
                 (long long)ev->id);
    else
        snprintf(n->key, sizeof n->key, "%s:%lld", ev->topic, (long long)order);
    bool shipment = json_object_get(o, "shipment_id") || json_object_get(o, "return_id");
    if (shipment && strcmp(ev->topic, "order.refunded"))
        amount = -1; /* a parcel's or a return's news: no amount to tell */
    if (amount >= 0)
        notify_money(amount, currency && strlen(currency) < 8 ? currency : "", money);
    snprintf(n->title, sizeof n->title, "Order #%lld %s%s", (long long)order,
             partly ? "partly " : "", order_texts[k].verb);
    if (amount >= 0 || !*order_texts[k].after)
        snprintf(n->body, sizeof n->body, "%s%s%s", order_texts[k].before, amount >= 0 ? money : "",
                 order_texts[k].after);
    else
        snprintf(n->body, sizeof n->body, "%s%s%s", order_texts[k].before, "the amount",
                 order_texts[k].after);
    json_t *data = json_pack("{s:I}", "order_id", order);
    if (amount >= 0)
        json_object_set_new(data, "amount_cents", json_integer(amount));
    if (currency)
        json_object_set_new(data, "currency", json_string(currency));
    json_decref(o);
    n->spec = (struct notify_spec){.key = n->key,
                                   .kind = order_texts[k].kind,
                                   .title = n->title,
                                   .body = n->body,
                                   .data = data};
    n->user = user;
    return true;
}

enum shop_err notify_on_order_slice(struct shop *shop, const struct outbox_event *const *evs, int n,
                                    void *cls, struct problem *pb)
{
    (void)cls;
    struct order_note notes[DISPATCH_SLICE];
    struct notify_spec specs[DISPATCH_SLICE];
    int64_t users[DISPATCH_SLICE];
    int k = 0;
    for (int i = 0; i < n && k < DISPATCH_SLICE; i++)
        if (order_note(evs[i], &notes[k])) {
            specs[k] = notes[k].spec;
            users[k] = notes[k].user;
            k++;
        }
    enum shop_err e = k ? notify_users_in(store_db(shop->store), specs, users, k, pb) : SHOP_OK;
    for (int i = 0; i < k; i++)
        json_decref(specs[i].data);
    return e;
}

/* review.approved | review.rejected → the author, once per event (a review
 * may be approved again after an edit). */
enum shop_err notify_on_review_event(struct shop *shop, const struct outbox_event *ev, void *cls,
                                     struct problem *pb)
{
    (void)cls;
    bool approved = !strcmp(ev->topic, "review.approved");
    if (!approved && strcmp(ev->topic, "review.rejected"))
        return SHOP_OK; /* review.changed: nobody is told */
    json_t *o = json_loads(ev->payload, 0, NULL);
    json_int_t review = member(o, "review_id"), product = member(o, "product_id");
    json_int_t user = member(o, "user_id");
    const char *note = json_string_value(json_object_get(o, "note"));
    enum shop_err e = SHOP_OK;
    struct product_info p;
    if (review <= 0 || product <= 0 || user <= 0) {
        skip(ev, "no review_id, product_id or user_id");
    } else {
        if (!product_read(shop, product, &p))
            snprintf(p.title, sizeof p.title, "product %lld", (long long)product);
        char key[96], title[sizeof p.title + 40];
        snprintf(key, sizeof key, "%s:%lld:%lld", ev->topic, (long long)review, (long long)ev->id);
        snprintf(title, sizeof title, "Your review of %s was %s", p.title,
                 approved ? "published" : "not published");
        /* The moderator's note travels in data, whole (up to 500 characters). */
        json_t *data = json_pack("{s:I, s:I}", "review_id", review, "product_id", product);
        if (note)
            json_object_set_new(data, "note", json_string(note));
        struct notify_spec spec = {
            .key = key,
            .kind = approved ? "review_approved" : "review_rejected",
            .title = title,
            .body = approved ? "Thank you: it is now public." : "A moderator declined it.",
            .data = data};
        e = notify_user(shop, user, &spec, pb);
        json_decref(data);
    }
    json_decref(o);
    return e;
}
