-- pgbench script: one order as shopd places it on PostgreSQL, statement for
-- statement (their texts as pg_stat_statements lists them, bench/pg.py
-- PG_BENCH_STATEMENTS=1), on the shop's own tables, indexes and triggers:
-- the buyer's session read, the begin transaction (idempotency key, cart,
-- address, card, promotions, the order, its line and history, the stock
-- reserved, the movement, the reservation, the payment, the events), and,
-- after the gateway's charge, the settle transaction (payment captured,
-- order paid, stock taken, reservation consumed, cart emptied, key done).
-- Each pass is a different buyer of bench/pg_checkout_init.sql's (-D k=0
-- -D clients=C -D base=B); the one read of c_buyers that finds it is the
-- only statement shopd does not run. Left out, as shopd does them later and
-- batched across orders: analytics, notifications, recommendations' events.
\set k :k + 1
\set n :base + (:k - 1) * :clients + :client_id + 1
\set now 1796587335397
SELECT token_hash, user_id AS uid, cart_id AS cid, address_id AS aid, card_id AS pmid, warehouse_id AS wh FROM c_buyers WHERE n = :n \gset
SELECT s.id, s.user_id, s.kind, s.expires_at, s.revoked_at, u.role, u.trusted FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = :token_hash;
BEGIN;
SELECT pg_advisory_xact_lock(:n);
SELECT request_hash, status, coalesce(outcome, 0), coalesce(response_body, ''), coalesce(order_id, 0) FROM idempotency_keys WHERE user_id = :uid AND key = :n;
SELECT id, coalesce(checkout_key, ''), coalesce(currency, ''), coalesce(coupon_code, ''), updated_at FROM carts WHERE user_id = :uid;
SELECT l.variant_id, v.product_id, l.quantity, v.price_cents, v.weight_grams, v.sku, p.title, v.options, p.status, p.category_id, p.currency, p.seller_id FROM cart_lines l JOIN variants v ON v.id = l.variant_id JOIN products p ON p.id = v.product_id WHERE l.cart_id = :cid AND l.saved_for_later = 0 ORDER BY l.id LIMIT 100 \gset l_
SELECT id, user_id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at FROM addresses WHERE id = :aid AND user_id = :uid;
SELECT * FROM (SELECT p.id, p.name, p.type, p.percent_bps, p.amount_cents, p.buy_quantity, p.get_quantity, p.get_percent_bps, coalesce(p.tiers, ''), coalesce(p.product_ids, ''), coalesce(p.category_ids, ''), p.min_subtotal_cents, p.max_discount_cents, p.starts_at, coalesce(p.ends_at, 0), coalesce(p.usage_limit, -1), coalesce(p.per_customer_limit, 0), p.uses, p.priority, p.stackable, p.active, p.automatic, p.created_at, p.updated_at FROM promotions p WHERE p.automatic = 1 AND p.active = 1 AND p.starts_at <= :now AND (p.ends_at IS NULL OR p.ends_at > :now) AND (p.usage_limit IS NULL OR p.uses < p.usage_limit OR p.limit_reached_at > :now) LIMIT 31) AS live UNION ALL SELECT * FROM (SELECT p.id, p.name, p.type, p.percent_bps, p.amount_cents, p.buy_quantity, p.get_quantity, p.get_percent_bps, coalesce(p.tiers, ''), coalesce(p.product_ids, ''), coalesce(p.category_ids, ''), p.min_subtotal_cents, p.max_discount_cents, p.starts_at, coalesce(p.ends_at, 0), coalesce(p.usage_limit, -1), coalesce(p.per_customer_limit, 0), p.uses, p.priority, p.stackable, p.active, p.automatic, p.created_at, p.updated_at FROM promotions p WHERE p.automatic = 1 AND p.active = 0 AND p.ends_at > :now AND p.starts_at < p.ends_at LIMIT 31) AS off;
SELECT id, user_id, gateway_token, brand, last4, exp_month, exp_year, billing_country FROM payment_methods WHERE id = :pmid AND user_id = :uid AND deleted_at IS NULL;
INSERT INTO orders (user_id, status, currency, subtotal_cents, shipping_cents, tax_cents, total_cents, shipping_method, ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal, ship_country, ship_phone, idempotency_key, created_at, updated_at, flash_sale_id, fraud_decision, fraud_score, fraud_reasons, client_ip, card_token, discount_cents) VALUES (:uid, 'pending_payment', :l_currency, :l_price_cents, 0, 0, :l_price_cents, 'standard', 'Bench Buyer', '1 Pike St', NULL, 'Seattle', 'WA', '98101', 'US', NULL, :n, :now, :now, NULL, NULL, NULL, NULL, '127.0.0.1', 'tok_ceiling', 0) RETURNING id \gset o_
INSERT INTO order_history (order_id, status, at) VALUES (:o_id, 'pending_payment', :now) RETURNING id;
INSERT INTO order_lines (order_id, product_id, variant_id, sku, title, options, quantity, unit_price_cents, tax_cents, discount_cents, seller_id) VALUES (:o_id, :l_product_id, :l_variant_id, :l_sku, :l_title, :l_options, 1, :l_price_cents, 0, 0, :l_seller_id) RETURNING id;
SELECT s.warehouse_id, s.on_hand, s.reserved, w.lat, w.lon, w.open_shipments FROM stock s JOIN warehouses w ON w.id = s.warehouse_id WHERE s.variant_id = :l_variant_id AND s.on_hand - s.reserved > 0;
UPDATE stock SET reserved = reserved + 1, updated_at = :now WHERE variant_id = :l_variant_id AND warehouse_id = :wh AND on_hand - reserved >= 1 RETURNING on_hand, reserved;
INSERT INTO stock_movements (variant_id, warehouse_id, kind, on_hand_before, on_hand_after, reserved_before, reserved_after, actor_user_id, ref, at, prev_id) VALUES (:l_variant_id, :wh, 'reserve', 0, 0, 0, 1, :uid, 'order', :now, (SELECT last_movement_id FROM stock WHERE variant_id = :l_variant_id AND warehouse_id = :wh)) RETURNING id;
INSERT INTO reservations (order_id, variant_id, warehouse_id, quantity, status, expires_at, created_at, updated_at) VALUES (:o_id, :l_variant_id, :wh, 1, 'active', :now, :now, :now) RETURNING id \gset r_
INSERT INTO payments (order_id, tender, payment_method_id, brand, last4, amount_cents, currency, status, idempotency_key, owner_instance, deadline_at, created_at, updated_at) VALUES (:o_id, 'card', :pmid, 'visa', '4242', :l_price_cents, :l_currency, 'pending', :o_id, 1, :now, :now, :now) RETURNING id \gset p_
INSERT INTO idempotency_keys (user_id, key, request_hash, status, order_id, created_at) VALUES (:uid, :n, 'hash', 'in_progress', :o_id, :now);
UPDATE carts SET checkout_key = :n WHERE id = :cid;
INSERT INTO outbox (topic, aggregate_id, payload, origin, created_at) VALUES ('stock.changed', :l_variant_id, '{"variant_id":1,"product_id":1,"available":1000000269}', 1, :now), ('order.placed', :o_id, '{"order_id":5227,"user_id":40001,"total_cents":61769,"currency":"USD"}', 1, :now) RETURNING id;
COMMIT;
BEGIN;
UPDATE payments SET status = 'captured', gateway_ref = 'ch_01a24cf32ee8fadc2c64ef2a', updated_at = :now WHERE id = :p_id AND (status = 'pending' OR status = 'unknown' OR status = 'authorized');
UPDATE orders SET status = 'paid', updated_at = :now, paid_at = CASE WHEN 'paid' = 'paid' THEN :now ELSE paid_at END, cancelled_at = CASE WHEN 'paid' = 'cancelled' THEN :now ELSE cancelled_at END WHERE id = :o_id AND status = 'pending_payment';
INSERT INTO order_history (order_id, status, note, at) VALUES (:o_id, 'paid', 'payment captured', :now) RETURNING id;
UPDATE stock SET on_hand = on_hand - 1, reserved = reserved - 1, updated_at = :now WHERE variant_id = :l_variant_id AND warehouse_id = :wh AND reserved >= 1 RETURNING on_hand, reserved;
INSERT INTO stock_movements (variant_id, warehouse_id, kind, on_hand_before, on_hand_after, reserved_before, reserved_after, actor_user_id, ref, at, prev_id) VALUES (:l_variant_id, :wh, 'consume', 1, 0, 1, 0, NULL, 'order', :now, (SELECT last_movement_id FROM stock WHERE variant_id = :l_variant_id AND warehouse_id = :wh)) RETURNING id;
UPDATE reservations SET status = 'consumed', updated_at = :now WHERE id = :r_id AND status = 'active';
DELETE FROM cart_lines WHERE cart_id = :cid AND variant_id = :l_variant_id AND saved_for_later = 0;
UPDATE carts SET checkout_key = NULL, updated_at = :now WHERE id = :cid;
UPDATE idempotency_keys SET status = 'done', outcome = 0, response_body = '{"id":5227,"user_id":40001,"status":"paid","refund_status":"none","currency":"USD","subtotal_cents":57999,"discount_cents":0,"shipping_cents":0,"tax_cents":3770,"total_cents":61769,"refunded_cents":0,"shipping_method":"standard"}' WHERE user_id = :uid AND key = :n AND status <> 'done';
INSERT INTO outbox (topic, aggregate_id, payload, origin, created_at) VALUES ('order.confirmed', :o_id, '{"order_id":5227,"user_id":40001,"total_cents":61769,"currency":"USD"}', 1, :now) RETURNING id;
COMMIT;
