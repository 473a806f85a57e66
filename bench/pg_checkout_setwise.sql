-- pgbench script: the rows of bench/pg_checkout.sql's orders, written
-- set-wise: -D g=G orders of G different buyers a pass (-D k=0 -D clients=C
-- -D base=B, as there), each table's rows for all of them in one statement,
-- the begin's writes in one statement of data-modifying CTEs and the
-- settle's in another, the stock and its movements apart (the movements'
-- chain trigger updates the stock row). A pass's buyers must order
-- different variants (pg_checkout_init.sql deals them round the stocked
-- ones: fewer than G of those, and a stock row would move once for two
-- orders). The same reads, rows, indexes,
-- triggers and commits an order; not a design shopd has: what PostgreSQL
-- would spend an order if it did (docs/SCALING.md, item 9).
\set k :k + 1
\set n0 :base + ((:k - 1) * :clients + :client_id) * :g + 1
\set n1 :n0 + :g - 1
\set now 1796587335397
SELECT s.id, s.user_id, s.kind, s.expires_at, s.revoked_at, u.role, u.trusted FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash IN (SELECT token_hash FROM c_buyers WHERE n BETWEEN :n0 AND :n1);
BEGIN;
SELECT count(pg_advisory_xact_lock(n)) FROM generate_series(:n0::bigint, :n1::bigint) n;
SELECT request_hash, status, coalesce(outcome, 0), coalesce(response_body, ''), coalesce(order_id, 0) FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, n::text FROM c_buyers WHERE n BETWEEN :n0 AND :n1);
SELECT id, coalesce(checkout_key, ''), coalesce(currency, ''), coalesce(coupon_code, ''), updated_at FROM carts WHERE user_id IN (SELECT user_id FROM c_buyers WHERE n BETWEEN :n0 AND :n1);
SELECT l.variant_id, v.product_id, l.quantity, v.price_cents, v.weight_grams, v.sku, p.title, v.options, p.status, p.category_id, p.currency, p.seller_id FROM cart_lines l JOIN variants v ON v.id = l.variant_id JOIN products p ON p.id = v.product_id WHERE l.cart_id IN (SELECT cart_id FROM c_buyers WHERE n BETWEEN :n0 AND :n1) AND l.saved_for_later = 0 ORDER BY l.cart_id, l.id;
SELECT id, user_id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at FROM addresses WHERE id IN (SELECT address_id FROM c_buyers WHERE n BETWEEN :n0 AND :n1);
SELECT * FROM (SELECT p.id, p.name, p.type, p.percent_bps, p.amount_cents, p.buy_quantity, p.get_quantity, p.get_percent_bps, coalesce(p.tiers, ''), coalesce(p.product_ids, ''), coalesce(p.category_ids, ''), p.min_subtotal_cents, p.max_discount_cents, p.starts_at, coalesce(p.ends_at, 0), coalesce(p.usage_limit, -1), coalesce(p.per_customer_limit, 0), p.uses, p.priority, p.stackable, p.active, p.automatic, p.created_at, p.updated_at FROM promotions p WHERE p.automatic = 1 AND p.active = 1 AND p.starts_at <= :now::bigint AND (p.ends_at IS NULL OR p.ends_at > :now::bigint) AND (p.usage_limit IS NULL OR p.uses < p.usage_limit OR p.limit_reached_at > :now::bigint) LIMIT 31) AS live UNION ALL SELECT * FROM (SELECT p.id, p.name, p.type, p.percent_bps, p.amount_cents, p.buy_quantity, p.get_quantity, p.get_percent_bps, coalesce(p.tiers, ''), coalesce(p.product_ids, ''), coalesce(p.category_ids, ''), p.min_subtotal_cents, p.max_discount_cents, p.starts_at, coalesce(p.ends_at, 0), coalesce(p.usage_limit, -1), coalesce(p.per_customer_limit, 0), p.uses, p.priority, p.stackable, p.active, p.automatic, p.created_at, p.updated_at FROM promotions p WHERE p.automatic = 1 AND p.active = 0 AND p.ends_at > :now::bigint AND p.starts_at < p.ends_at LIMIT 31) AS off;
SELECT id, user_id, gateway_token, brand, last4, exp_month, exp_year, billing_country FROM payment_methods WHERE id IN (SELECT card_id FROM c_buyers WHERE n BETWEEN :n0 AND :n1) AND deleted_at IS NULL;
SELECT s.variant_id, s.warehouse_id, s.on_hand, s.reserved, w.lat, w.lon, w.open_shipments FROM stock s JOIN warehouses w ON w.id = s.warehouse_id WHERE s.variant_id IN (SELECT variant_id FROM c_buyers WHERE n BETWEEN :n0 AND :n1) AND s.on_hand - s.reserved > 0;
UPDATE stock SET reserved = reserved + 1, updated_at = :now::bigint FROM c_buyers b WHERE b.n BETWEEN :n0 AND :n1 AND stock.variant_id = b.variant_id AND stock.warehouse_id = b.warehouse_id AND on_hand - reserved >= 1;
INSERT INTO stock_movements (variant_id, warehouse_id, kind, on_hand_before, on_hand_after, reserved_before, reserved_after, actor_user_id, ref, at, prev_id) SELECT b.variant_id, b.warehouse_id, 'reserve', 0, 0, 0, 1, b.user_id, 'order', :now::bigint, (SELECT last_movement_id FROM stock WHERE variant_id = b.variant_id AND warehouse_id = b.warehouse_id) FROM c_buyers b WHERE b.n BETWEEN :n0 AND :n1;
WITH b AS (SELECT c.*, v.price_cents, v.product_id, v.sku, p.title, v.options, p.seller_id, p.currency FROM c_buyers c JOIN variants v ON v.id = c.variant_id JOIN products p ON p.id = v.product_id WHERE c.n BETWEEN :n0 AND :n1),
o AS (INSERT INTO orders (user_id, status, currency, subtotal_cents, shipping_cents, tax_cents, total_cents, shipping_method, ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal, ship_country, ship_phone, idempotency_key, created_at, updated_at, client_ip, card_token, discount_cents) SELECT user_id, 'pending_payment', currency, price_cents, 0, 0, price_cents, 'standard', 'Bench Buyer', '1 Pike St', NULL, 'Seattle', 'WA', '98101', 'US', NULL, n::text, :now::bigint, :now::bigint, '127.0.0.1', 'tok_ceiling', 0 FROM b RETURNING id, user_id),
bo AS (SELECT b.*, o.id AS order_id FROM b JOIN o USING (user_id)),
h AS (INSERT INTO order_history (order_id, status, at) SELECT order_id, 'pending_payment', :now::bigint FROM bo),
l AS (INSERT INTO order_lines (order_id, product_id, variant_id, sku, title, options, quantity, unit_price_cents, tax_cents, discount_cents, seller_id) SELECT order_id, product_id, variant_id, sku, title, options, 1, price_cents, 0, 0, seller_id FROM bo),
r AS (INSERT INTO reservations (order_id, variant_id, warehouse_id, quantity, status, expires_at, created_at, updated_at) SELECT order_id, variant_id, warehouse_id, 1, 'active', :now::bigint, :now::bigint, :now::bigint FROM bo),
p AS (INSERT INTO payments (order_id, tender, payment_method_id, brand, last4, amount_cents, currency, status, idempotency_key, owner_instance, deadline_at, created_at, updated_at) SELECT order_id, 'card', card_id, 'visa', '4242', price_cents, currency, 'pending', order_id::text, 1, :now::bigint, :now::bigint, :now::bigint FROM bo),
i AS (INSERT INTO idempotency_keys (user_id, key, request_hash, status, order_id, created_at) SELECT user_id, n::text, 'hash', 'in_progress', order_id, :now::bigint FROM bo),
c AS (UPDATE carts SET checkout_key = bo.n::text FROM bo WHERE carts.id = bo.cart_id),
e AS (INSERT INTO outbox (topic, aggregate_id, payload, origin, created_at) SELECT t, order_id, '{"order_id":5227,"user_id":40001,"total_cents":61769,"currency":"USD"}', 1, :now::bigint FROM bo, (VALUES ('stock.changed'), ('order.placed')) AS ts(t))
SELECT count(*) FROM bo;
COMMIT;
BEGIN;
WITH bo AS (SELECT b.*, o.id AS order_id FROM c_buyers b JOIN orders o ON o.user_id = b.user_id WHERE b.n BETWEEN :n0 AND :n1),
pay AS (UPDATE payments SET status = 'captured', gateway_ref = 'ch_01a24cf32ee8fadc2c64ef2a', updated_at = :now::bigint FROM bo WHERE payments.order_id = bo.order_id AND (payments.status = 'pending' OR payments.status = 'unknown')),
ord AS (UPDATE orders SET status = 'paid', updated_at = :now::bigint, paid_at = :now::bigint FROM bo WHERE orders.id = bo.order_id AND orders.status = 'pending_payment'),
h AS (INSERT INTO order_history (order_id, status, note, at) SELECT order_id, 'paid', 'payment captured', :now::bigint FROM bo),
res AS (UPDATE reservations SET status = 'consumed', updated_at = :now::bigint FROM bo WHERE reservations.order_id = bo.order_id AND reservations.status = 'active'),
del AS (DELETE FROM cart_lines USING bo WHERE cart_lines.cart_id = bo.cart_id AND cart_lines.variant_id = bo.variant_id AND saved_for_later = 0),
c AS (UPDATE carts SET checkout_key = NULL, updated_at = :now::bigint FROM bo WHERE carts.id = bo.cart_id),
ik AS (UPDATE idempotency_keys SET status = 'done', outcome = 0, response_body = '{"id":5227,"user_id":40001,"status":"paid","refund_status":"none","currency":"USD","subtotal_cents":57999,"discount_cents":0,"shipping_cents":0,"tax_cents":3770,"total_cents":61769,"refunded_cents":0,"shipping_method":"standard"}' FROM bo WHERE idempotency_keys.user_id = bo.user_id AND idempotency_keys.key = bo.n::text AND idempotency_keys.status <> 'done'),
e AS (INSERT INTO outbox (topic, aggregate_id, payload, origin, created_at) SELECT 'order.confirmed', order_id, '{"order_id":5227,"user_id":40001,"total_cents":61769,"currency":"USD"}', 1, :now::bigint FROM bo)
SELECT count(*) FROM bo;
UPDATE stock SET on_hand = on_hand - 1, reserved = reserved - 1, updated_at = :now::bigint FROM c_buyers b WHERE b.n BETWEEN :n0 AND :n1 AND stock.variant_id = b.variant_id AND stock.warehouse_id = b.warehouse_id AND reserved >= 1;
INSERT INTO stock_movements (variant_id, warehouse_id, kind, on_hand_before, on_hand_after, reserved_before, reserved_after, actor_user_id, ref, at, prev_id) SELECT b.variant_id, b.warehouse_id, 'consume', 1, 0, 1, 0, NULL, 'order', :now::bigint, (SELECT last_movement_id FROM stock WHERE variant_id = b.variant_id AND warehouse_id = b.warehouse_id) FROM c_buyers b WHERE b.n BETWEEN :n0 AND :n1;
COMMIT;
