/* handlers.h — every API handler, grouped by the file that defines it.
 * Each takes the request and returns SHOP_OK after answering, or an error
 * with r->pb filled (http/req.h).
 */
#ifndef SHOP_API_HANDLERS_H
#define SHOP_API_HANDLERS_H

#include "http/req.h"

/* fulfilment.c */
enum shop_err api_admin_fulfil(struct req *r);
enum shop_err api_seller_fulfil(struct req *r);
enum shop_err api_admin_orders_list(struct req *r);
enum shop_err api_seller_orders_list(struct req *r);
enum shop_err api_admin_shipment_update(struct req *r);
enum shop_err api_shipment_get(struct req *r);
enum shop_err api_carrier_event(struct req *r);

/* returns.c */
enum shop_err api_return_create(struct req *r);
enum shop_err api_return_get(struct req *r);
enum shop_err api_my_returns(struct req *r);
enum shop_err api_admin_returns(struct req *r);
enum shop_err api_admin_return_update(struct req *r);

/* promotions.c (ENG-3) */
enum shop_err api_webhook_create(struct req *r);
enum shop_err api_webhooks_list(struct req *r);
enum shop_err api_webhook_delete(struct req *r);
enum shop_err api_webhook_rotate(struct req *r);
enum shop_err api_webhook_deliveries(struct req *r);
enum shop_err api_load_shedding_get(struct req *r);
enum shop_err api_load_shedding_put(struct req *r);
enum shop_err api_promotion_create(struct req *r);
enum shop_err api_promotions_list(struct req *r);
enum shop_err api_promotion_get(struct req *r);
enum shop_err api_promotion_update(struct req *r);
enum shop_err api_promotion_codes(struct req *r);
enum shop_err api_cart_coupon_put(struct req *r);
enum shop_err api_cart_coupon_delete(struct req *r);

/* health.c */
enum shop_err api_healthz(struct req *r);

/* web.c: the storefront and admin console (WEB-1, WEB-2) */
enum shop_err api_web_storefront(struct req *r);
enum shop_err api_web_admin(struct req *r);
enum shop_err api_web_admin_redirect(struct req *r);
enum shop_err api_web_asset(struct req *r);
enum shop_err api_readyz(struct req *r);
enum shop_err api_metrics(struct req *r);

/* auth.c */
enum shop_err api_register(struct req *r);
enum shop_err api_login(struct req *r);
enum shop_err api_logout(struct req *r);
enum shop_err api_guest_new(struct req *r);
enum shop_err api_me(struct req *r);

/* addresses.c */
enum shop_err api_addresses_list(struct req *r);
enum shop_err api_address_create(struct req *r);
enum shop_err api_address_update(struct req *r);
enum shop_err api_address_delete(struct req *r);

/* catalog.c */
enum shop_err api_categories_list(struct req *r);
enum shop_err api_category_create(struct req *r);
enum shop_err api_product_get(struct req *r);

/* recs.c (ENG-4) */
enum shop_err api_events_post(struct req *r);
enum shop_err api_recs_bought_together(struct req *r);
enum shop_err api_recs_also_viewed(struct req *r);
enum shop_err api_recs_popular(struct req *r);
enum shop_err api_recs_personal(struct req *r);
/** Published page `b` with its `recommendations` member spliced in, with a
 *  reference (recs_page_release), or NULL when shedding load. */
struct product_blob;
struct recs_page *api_recs_detail_page(struct req *r, const struct product_blob *b);
enum shop_err api_product_create(struct req *r);
enum shop_err api_product_update(struct req *r);
enum shop_err api_variant_update(struct req *r);
enum shop_err api_product_submit(struct req *r);
enum shop_err api_product_unpublish(struct req *r);
enum shop_err api_product_approve(struct req *r);
enum shop_err api_product_reject(struct req *r);
enum shop_err api_seller_products(struct req *r);

/* inventory.c */
enum shop_err api_warehouse_create(struct req *r);
enum shop_err api_warehouses_list(struct req *r);
enum shop_err api_stock_put(struct req *r);
enum shop_err api_stock_get(struct req *r);

/* browse.c */
enum shop_err api_products_browse(struct req *r);

/* search.c */
enum shop_err api_search(struct req *r);
enum shop_err api_search_suggest(struct req *r);
/* cart.c */
enum shop_err api_cart_get(struct req *r);
enum shop_err api_cart_add(struct req *r);
enum shop_err api_cart_line_update(struct req *r);
enum shop_err api_cart_line_delete(struct req *r);
enum shop_err api_cart_save_for_later(struct req *r);
enum shop_err api_cart_move_to_cart(struct req *r);

/* payments.c */
enum shop_err api_payment_methods_list(struct req *r);
enum shop_err api_payment_method_add(struct req *r);
enum shop_err api_payment_method_delete(struct req *r);
enum shop_err api_store_credit_get(struct req *r);
enum shop_err api_store_credit_grant(struct req *r);

/* orders.c */
struct checkout_result;
enum shop_err api_order_create(struct req *r);
/** Answers a checkout (also a flash-sale purchase): Idempotent-Replayed on
 *  a replay, then the error `e`, or 201 with the order and its Location. */
enum shop_err api_checkout_answer(struct req *r, enum shop_err e,
                                  const struct checkout_result *res);
enum shop_err api_orders_list(struct req *r);
enum shop_err api_order_get(struct req *r);
enum shop_err api_order_cancel(struct req *r);
enum shop_err api_admin_order_events(struct req *r);
/* analytics.c: sales reports (OPS-2) */
enum shop_err api_admin_analytics(struct req *r);
enum shop_err api_seller_analytics(struct req *r);

/* fraud.c: the review of held orders (CHK-5) */
enum shop_err api_admin_fraud_holds(struct req *r);
enum shop_err api_admin_order_approve(struct req *r);
enum shop_err api_admin_order_reject(struct req *r);
enum shop_err api_admin_payments(struct req *r);

/* faults.c (SHOPD_FAULTS_API=1 only) */
enum shop_err api_admin_faults_arm(struct req *r);
enum shop_err api_admin_faults_list(struct req *r);
enum shop_err api_admin_faults_clear(struct req *r);

/* flashsales.c */
enum shop_err api_flash_sale_create(struct req *r);
enum shop_err api_flash_sales_list(struct req *r);
enum shop_err api_flash_sale_get(struct req *r);
enum shop_err api_flash_sale_end(struct req *r);
enum shop_err api_flash_queue_join(struct req *r);
enum shop_err api_flash_queue_me(struct req *r);
enum shop_err api_flash_purchase(struct req *r);

/* wishlist.c */
enum shop_err api_wishlist_list(struct req *r);
enum shop_err api_wishlist_put(struct req *r);
enum shop_err api_wishlist_delete(struct req *r);

/* notifications.c */
enum shop_err api_device_register(struct req *r);
enum shop_err api_devices_list(struct req *r);
enum shop_err api_device_delete(struct req *r);
enum shop_err api_notify_prefs_get(struct req *r);
enum shop_err api_notify_prefs_put(struct req *r);
enum shop_err api_fanout_create(struct req *r);
enum shop_err api_fanout_get(struct req *r);
enum shop_err api_dead_letters_list(struct req *r);
enum shop_err api_dead_letter_retry(struct req *r);

/* reviews.c */
enum shop_err api_reviews_list(struct req *r);
enum shop_err api_review_create(struct req *r);
enum shop_err api_review_update(struct req *r);
enum shop_err api_review_delete(struct req *r);
enum shop_err api_review_helpful(struct req *r);
enum shop_err api_review_reply(struct req *r);
enum shop_err api_admin_reviews_list(struct req *r);
enum shop_err api_admin_review_approve(struct req *r);
enum shop_err api_admin_review_reject(struct req *r);

#endif
