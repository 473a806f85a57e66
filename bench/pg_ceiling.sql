-- pgbench script: one checkout-like transaction (bench/sqlite_ceiling.c's):
-- reserve stock conditionally, insert an order, a line, a reservation, a
-- payment and an event, commit (synchronous_commit on).
\set v random(1, 1000)
\set u random(1, 100000)
BEGIN;
UPDATE c_stock SET reserved = reserved + 1 WHERE id = :v AND on_hand - reserved >= 1;
INSERT INTO c_orders (user_id, total, status, created_at) VALUES (:u, 1999, 'paid', 0) RETURNING id \gset o_
INSERT INTO c_lines (order_id, variant, qty, price) VALUES (:o_id, :v, 1, 1999);
INSERT INTO c_reservations (order_id, variant, qty, status) VALUES (:o_id, :v, 1, 'active');
INSERT INTO c_payments (order_id, amount, status) VALUES (:o_id, 1999, 'captured');
INSERT INTO c_events (topic, payload) VALUES ('order.confirmed', '{"order_id":1}');
COMMIT;
