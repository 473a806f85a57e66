/* order_doc.h — the order document (Order in docs/openapi.yaml) from
 * values.
 *
 * order_doc.c writes the document one part at a time from these structs.
 * order_text (shop/order.h) fills them from the order's rows; checkout's
 * settle step fills them from what its own steps wrote (checkout_steps.h),
 * so that the answer it stores with the Idempotency-Key costs the database
 * writer no read of the order it has just written. One renderer, two
 * sources: tests/api/test_order_answer.py holds them to the same text.
 *
 * Strings are borrowed (NULL renders null). Times are UTC milliseconds,
 * 0 for "never" (null).
 */
#ifndef SHOP_SHOP_ORDER_DOC_H
#define SHOP_SHOP_ORDER_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "shop/address.h"

struct order_doc_line {
    int64_t id, product_id, variant_id;
    const char *sku, *title;
    const char *options; /* the variant's options as stored: a JSON object */
    int64_t quantity, unit_price_cents, discount_cents, tax_cents;
    const char *status;
    int64_t shipped, backordered, undelivered, returned;
};

/* What a promotion gave the order (shop/promo.h). */
struct order_doc_promotion {
    int64_t id; /* the promotion's */
    const char *name, *code, *type;
    int64_t discount_cents, shipping_discount_cents;
};

struct order_doc_payment {
    int64_t id;
    const char *tender;
    int64_t method_id; /* 0: not a card (then no brand or last4) */
    const char *brand, *last4;
    int64_t amount_cents;
    const char *status, *failure_code;
    int64_t refunded_cents, created_at;
};

/* One entry of the order's history. */
struct order_doc_event {
    const char *status, *note;
    int64_t at;
};

struct order_doc {
    int64_t id, user_id;
    const char *status, *refund_status, *currency, *shipping_method, *cancel_reason;
    int64_t subtotal_cents, discount_cents, shipping_cents, tax_cents, total_cents;
    int64_t refunded_cents;
    struct address ship; /* name … phone; its id and the rest are not shown */
    int64_t created_at, updated_at, paid_at, cancelled_at;
    const struct order_doc_line *lines;
    const struct order_doc_promotion *promotions;
    const struct order_doc_payment *payments;
    const struct order_doc_event *history;
    int nlines, npromotions, npayments, nhistory;
};

/** The document of `o`, an order that has no refunds and no shipments yet
 *  (a checkout's), as JSON text (malloc'd, `len` bytes); NULL when it would
 *  exceed the document's bound. */
char *order_doc_text(const struct order_doc *o, size_t *len);

#endif
