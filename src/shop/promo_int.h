/* promo_int.h — what promo.c (promotions for a cart: loading them,
 * recording and giving back uses) and promo_admin.c (administering them)
 * share. Not for use outside them. */
#ifndef SHOP_SHOP_PROMO_INT_H
#define SHOP_SHOP_PROMO_INT_H

/* A promotion row's columns (table alias p), in the order rule_read (promo.c)
 * and promo_json (promo_admin.c) read them. */
#define PROMO_COLS                                                                                \
    "p.id, p.name, p.type, p.percent_bps, p.amount_cents, p.buy_quantity, p.get_quantity,"       \
    " p.get_percent_bps, coalesce(p.tiers, ''), coalesce(p.product_ids, ''),"                    \
    " coalesce(p.category_ids, ''), p.min_subtotal_cents, p.max_discount_cents, p.starts_at,"    \
    " coalesce(p.ends_at, 0), coalesce(p.usage_limit, -1), coalesce(p.per_customer_limit, 0),"   \
    " p.uses, p.priority, p.stackable, p.active, p.automatic, p.created_at, p.updated_at"

#endif
