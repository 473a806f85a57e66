/* routes.c — the API: method, path, handler, who may call it, rate class.
 * Keep it in the order of API.md; docs/openapi.yaml describes each entry.
 */
#include "api/routes.h"

#include "api/handlers.h"

const struct route api_routes[] = {
    /* operations */
    {HTTP_GET, "/healthz", api_healthz, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/readyz", api_readyz, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/metrics", api_metrics, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/v1/admin/analytics", api_admin_analytics, AUTH_ADMIN, RATE_READ},
    {HTTP_GET, "/v1/seller/analytics", api_seller_analytics, AUTH_SELLER, RATE_READ},

    /* web pages (WEB-1, WEB-2): the API's first client, served from the binary */
    {HTTP_GET, "/", api_web_storefront, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/admin/", api_web_admin, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/admin", api_web_admin_redirect, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/assets/{version}/{name}", api_web_asset, AUTH_NONE, RATE_NONE},

    /* accounts */
    {HTTP_POST, "/v1/auth/register", api_register, AUTH_NONE, RATE_AUTH},
    {HTTP_POST, "/v1/auth/login", api_login, AUTH_NONE, RATE_AUTH},
    {HTTP_POST, "/v1/auth/logout", api_logout, AUTH_USER, RATE_WRITE},
    {HTTP_POST, "/v1/guest", api_guest_new, AUTH_NONE, RATE_AUTH},
    {HTTP_GET, "/v1/me", api_me, AUTH_USER, RATE_READ},
    {HTTP_GET, "/v1/me/addresses", api_addresses_list, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/me/addresses", api_address_create, AUTH_USER, RATE_WRITE},
    {HTTP_PATCH, "/v1/me/addresses/{id}", api_address_update, AUTH_USER, RATE_WRITE},
    {HTTP_DELETE, "/v1/me/addresses/{id}", api_address_delete, AUTH_USER, RATE_WRITE},
    {HTTP_GET, "/v1/me/payment-methods", api_payment_methods_list, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/me/payment-methods", api_payment_method_add, AUTH_USER, RATE_WRITE},
    {HTTP_DELETE, "/v1/me/payment-methods/{id}", api_payment_method_delete, AUTH_USER, RATE_WRITE},
    {HTTP_GET, "/v1/me/store-credit", api_store_credit_get, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/admin/users/{id}/store-credit", api_store_credit_grant, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/me/wishlist", api_wishlist_list, AUTH_USER, RATE_READ},
    {HTTP_PUT, "/v1/me/wishlist/{product_id}", api_wishlist_put, AUTH_USER, RATE_WRITE},
    {HTTP_DELETE, "/v1/me/wishlist/{product_id}", api_wishlist_delete, AUTH_USER, RATE_WRITE},
    {HTTP_GET, "/v1/me/devices", api_devices_list, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/me/devices", api_device_register, AUTH_USER, RATE_WRITE},
    {HTTP_DELETE, "/v1/me/devices/{id}", api_device_delete, AUTH_USER, RATE_WRITE},
    {HTTP_GET, "/v1/me/notification-preferences", api_notify_prefs_get, AUTH_USER, RATE_READ},
    {HTTP_PUT, "/v1/me/notification-preferences", api_notify_prefs_put, AUTH_USER, RATE_WRITE},

    /* catalog */
    {HTTP_GET, "/v1/categories", api_categories_list, AUTH_NONE, RATE_READ},
    {HTTP_POST, "/v1/categories", api_category_create, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/products", api_products_browse, AUTH_NONE, RATE_SEARCH},
    {HTTP_GET, "/v1/products/popular", api_recs_popular, AUTH_NONE, RATE_READ},
    {HTTP_GET, "/v1/products/{id}", api_product_get, AUTH_NONE, RATE_READ},
    {HTTP_POST, "/v1/products", api_product_create, AUTH_SELLER, RATE_WRITE},
    {HTTP_PATCH, "/v1/products/{id}", api_product_update, AUTH_SELLER, RATE_WRITE},
    {HTTP_PATCH, "/v1/variants/{id}", api_variant_update, AUTH_SELLER, RATE_WRITE},
    {HTTP_POST, "/v1/products/{id}/submit", api_product_submit, AUTH_SELLER, RATE_WRITE},
    {HTTP_POST, "/v1/products/{id}/unpublish", api_product_unpublish, AUTH_SELLER, RATE_WRITE},
    {HTTP_POST, "/v1/admin/products/{id}/approve", api_product_approve, AUTH_ADMIN, RATE_WRITE},
    {HTTP_POST, "/v1/admin/products/{id}/reject", api_product_reject, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/seller/products", api_seller_products, AUTH_SELLER, RATE_READ},

    /* warehouses and stock */
    {HTTP_POST, "/v1/warehouses", api_warehouse_create, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/warehouses", api_warehouses_list, AUTH_SELLER, RATE_READ},
    {HTTP_PUT, "/v1/inventory/{variant_id}/{warehouse_id}", api_stock_put, AUTH_SELLER, RATE_WRITE},
    {HTTP_GET, "/v1/inventory/{variant_id}", api_stock_get, AUTH_SELLER, RATE_READ},

    /* search */
    {HTTP_GET, "/v1/search", api_search, AUTH_NONE, RATE_SEARCH},
    {HTTP_GET, "/v1/search/suggest", api_search_suggest, AUTH_NONE, RATE_SEARCH},
    /* cart */
    {HTTP_GET, "/v1/cart", api_cart_get, AUTH_ANY, RATE_READ},
    {HTTP_POST, "/v1/cart/lines", api_cart_add, AUTH_ANY, RATE_WRITE},
    {HTTP_PATCH, "/v1/cart/lines/{id}", api_cart_line_update, AUTH_ANY, RATE_WRITE},
    {HTTP_DELETE, "/v1/cart/lines/{id}", api_cart_line_delete, AUTH_ANY, RATE_WRITE},
    {HTTP_POST, "/v1/cart/lines/{id}/save-for-later", api_cart_save_for_later, AUTH_ANY, RATE_WRITE},
    {HTTP_POST, "/v1/cart/lines/{id}/move-to-cart", api_cart_move_to_cart, AUTH_ANY, RATE_WRITE},
    {HTTP_PUT, "/v1/cart/coupon", api_cart_coupon_put, AUTH_ANY, RATE_WRITE},
    {HTTP_DELETE, "/v1/cart/coupon", api_cart_coupon_delete, AUTH_ANY, RATE_WRITE},

    /* orders */
    {HTTP_POST, "/v1/orders", api_order_create, AUTH_USER, RATE_CHECKOUT},
    {HTTP_GET, "/v1/orders", api_orders_list, AUTH_USER, RATE_READ},
    {HTTP_GET, "/v1/orders/{id}", api_order_get, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/orders/{id}/cancel", api_order_cancel, AUTH_USER, RATE_WRITE},
    {HTTP_GET, "/v1/admin/orders/{id}/events", api_admin_order_events, AUTH_ADMIN, RATE_READ},
    {HTTP_GET, "/v1/admin/fraud/holds", api_admin_fraud_holds, AUTH_ADMIN, RATE_READ},
    {HTTP_POST, "/v1/admin/orders/{id}/approve", api_admin_order_approve, AUTH_ADMIN, RATE_WRITE},
    {HTTP_POST, "/v1/admin/orders/{id}/reject", api_admin_order_reject, AUTH_ADMIN, RATE_WRITE},

    /* fulfilment */
    {HTTP_POST, "/v1/admin/orders/{id}/fulfil", api_admin_fulfil, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/orders", api_admin_orders_list, AUTH_ADMIN, RATE_READ},
    {HTTP_PATCH, "/v1/admin/shipments/{id}", api_admin_shipment_update, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/shipments/{id}", api_shipment_get, AUTH_USER, RATE_READ},
    {HTTP_POST, "/v1/carrier/events", api_carrier_event, AUTH_NONE, RATE_NONE},
    {HTTP_GET, "/v1/seller/orders", api_seller_orders_list, AUTH_SELLER, RATE_READ},
    {HTTP_POST, "/v1/seller/orders/{id}/fulfil", api_seller_fulfil, AUTH_SELLER, RATE_WRITE},

    /* returns */
    {HTTP_POST, "/v1/orders/{id}/returns", api_return_create, AUTH_USER, RATE_WRITE},
    {HTTP_GET, "/v1/returns/{id}", api_return_get, AUTH_USER, RATE_READ},
    {HTTP_GET, "/v1/me/returns", api_my_returns, AUTH_USER, RATE_READ},
    {HTTP_GET, "/v1/admin/returns", api_admin_returns, AUTH_ADMIN, RATE_READ},
    {HTTP_PATCH, "/v1/admin/returns/{id}", api_admin_return_update, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/payments", api_admin_payments, AUTH_ADMIN, RATE_READ},

    /* failures on demand (tests only: SHOPD_FAULTS_API=1, else 404) */
    {HTTP_POST, "/v1/admin/faults", api_admin_faults_arm, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/faults", api_admin_faults_list, AUTH_ADMIN, RATE_READ},
    {HTTP_DELETE, "/v1/admin/faults", api_admin_faults_clear, AUTH_ADMIN, RATE_WRITE},

    /* flash sales */
    {HTTP_POST, "/v1/admin/flash-sales", api_flash_sale_create, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/flash-sales", api_flash_sales_list, AUTH_ADMIN, RATE_READ},
    {HTTP_POST, "/v1/admin/flash-sales/{id}/end", api_flash_sale_end, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/flash-sales/{id}", api_flash_sale_get, AUTH_NONE, RATE_READ},
    {HTTP_POST, "/v1/flash-sales/{id}/queue", api_flash_queue_join, AUTH_USER, RATE_QUEUE},
    {HTTP_GET, "/v1/flash-sales/{id}/queue/me", api_flash_queue_me, AUTH_USER, RATE_QUEUE},
    {HTTP_POST, "/v1/flash-sales/{id}/purchase", api_flash_purchase, AUTH_USER, RATE_CHECKOUT},

    /* reviews (ENG-1) */
    {HTTP_GET, "/v1/products/{id}/reviews", api_reviews_list, AUTH_NONE, RATE_READ},
    {HTTP_POST, "/v1/products/{id}/reviews", api_review_create, AUTH_USER, RATE_WRITE},
    {HTTP_PATCH, "/v1/reviews/{id}", api_review_update, AUTH_USER, RATE_WRITE},
    {HTTP_DELETE, "/v1/reviews/{id}", api_review_delete, AUTH_USER, RATE_WRITE},
    {HTTP_POST, "/v1/reviews/{id}/helpful", api_review_helpful, AUTH_USER, RATE_WRITE},
    {HTTP_POST, "/v1/reviews/{id}/reply", api_review_reply, AUTH_SELLER, RATE_WRITE},
    {HTTP_GET, "/v1/admin/reviews", api_admin_reviews_list, AUTH_ADMIN, RATE_READ},
    {HTTP_POST, "/v1/admin/reviews/{id}/approve", api_admin_review_approve, AUTH_ADMIN, RATE_WRITE},
    {HTTP_POST, "/v1/admin/reviews/{id}/reject", api_admin_review_reject, AUTH_ADMIN, RATE_WRITE},

    /* promotions (ENG-3) */
    {HTTP_POST, "/v1/admin/promotions", api_promotion_create, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/promotions", api_promotions_list, AUTH_ADMIN, RATE_READ},
    {HTTP_GET, "/v1/admin/promotions/{id}", api_promotion_get, AUTH_ADMIN, RATE_READ},
    {HTTP_PATCH, "/v1/admin/promotions/{id}", api_promotion_update, AUTH_ADMIN, RATE_WRITE},
    {HTTP_POST, "/v1/admin/promotions/{id}/codes", api_promotion_codes, AUTH_ADMIN, RATE_WRITE},

    /* recommendations (ENG-4) */
    {HTTP_POST, "/v1/events", api_events_post, AUTH_ANY, RATE_WRITE},
    {HTTP_GET, "/v1/products/{id}/frequently-bought-together", api_recs_bought_together, AUTH_NONE,
     RATE_READ},
    {HTTP_GET, "/v1/products/{id}/also-viewed", api_recs_also_viewed, AUTH_NONE, RATE_READ},
    {HTTP_GET, "/v1/recommendations", api_recs_personal, AUTH_USER, RATE_READ},

    /* operations (OPS-3, OPS-4) */
    {HTTP_POST, "/v1/admin/webhooks", api_webhook_create, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/webhooks", api_webhooks_list, AUTH_ADMIN, RATE_READ},
    {HTTP_DELETE, "/v1/admin/webhooks/{id}", api_webhook_delete, AUTH_ADMIN, RATE_WRITE},
    {HTTP_POST, "/v1/admin/webhooks/{id}/rotate-secret", api_webhook_rotate, AUTH_ADMIN,
     RATE_WRITE},
    {HTTP_GET, "/v1/admin/webhooks/{id}/deliveries", api_webhook_deliveries, AUTH_ADMIN,
     RATE_READ},
    {HTTP_GET, "/v1/admin/load-shedding", api_load_shedding_get, AUTH_ADMIN, RATE_READ},
    {HTTP_PUT, "/v1/admin/load-shedding", api_load_shedding_put, AUTH_ADMIN, RATE_WRITE},

    /* notifications (admin) */
    {HTTP_POST, "/v1/admin/notifications/fanout", api_fanout_create, AUTH_ADMIN, RATE_WRITE},
    {HTTP_GET, "/v1/admin/notifications/fanouts/{id}", api_fanout_get, AUTH_ADMIN, RATE_READ},
    {HTTP_GET, "/v1/admin/notifications/dead-letters", api_dead_letters_list, AUTH_ADMIN,
     RATE_READ},
    {HTTP_POST, "/v1/admin/notifications/dead-letters/{id}/retry", api_dead_letter_retry,
     AUTH_ADMIN, RATE_WRITE},
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];

const route_handler api_inline_writes[] = {api_events_post, NULL};
