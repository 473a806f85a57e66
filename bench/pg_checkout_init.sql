-- Buyers for bench/pg_checkout.sql, made in the shop's own database after
-- shopd's checkout runs (psql -v buyers=N): as bench/setup_buyers.py makes
-- them, each with a session, an address, a card and a one-line cart of one of
-- the variants given ample stock. c_buyers numbers them 1..N for the script.
DROP TABLE IF EXISTS c_buyers;
CREATE TABLE c_buyers (n BIGINT PRIMARY KEY, token_hash TEXT, user_id BIGINT, cart_id BIGINT,
                       address_id BIGINT, card_id BIGINT, variant_id BIGINT,
                       warehouse_id BIGINT);

WITH stocked AS (
    SELECT variant_id, row_number() OVER (ORDER BY variant_id) - 1 AS i, count(*) OVER () AS k
    FROM stock WHERE on_hand > 900000000 AND warehouse_id = (SELECT min(id) FROM warehouses)
), made AS (
    INSERT INTO users (email, name, password_hash, role, trusted, created_at)
    SELECT 'ceiling' || g || '@bench.local', 'Ceiling ' || g,
           (SELECT password_hash FROM users ORDER BY id LIMIT 1), 'customer', 0, 0
    FROM generate_series(1, :buyers) g
    RETURNING id, substr(email, 8, position('@' IN email) - 8)::BIGINT AS n
)
INSERT INTO c_buyers (n, user_id, variant_id, warehouse_id)
SELECT m.n, m.id, s.variant_id, (SELECT min(id) FROM warehouses)
FROM made m JOIN stocked s ON s.i = m.n % s.k;

UPDATE c_buyers SET token_hash = md5('ceiling' || n) || md5('token' || n);
INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at)
SELECT token_hash, user_id, 'user', 0, 4102444800000 FROM c_buyers;
INSERT INTO addresses (user_id, name, line1, city, region, postal_code, country, is_default,
                       created_at, updated_at)
SELECT user_id, 'Bench Buyer', '1 Pike St', 'Seattle', 'WA', '98101', 'US', 1, 0, 0 FROM c_buyers;
INSERT INTO payment_methods (user_id, gateway_token, brand, last4, exp_month, exp_year, created_at)
SELECT user_id, 'tok_ceiling_' || n, 'visa', '4242', 12, 2031, 0 FROM c_buyers;
INSERT INTO carts (user_id, currency, created_at, updated_at)
SELECT user_id, 'USD', 0, 0 FROM c_buyers;
UPDATE c_buyers b SET cart_id = c.id FROM carts c WHERE c.user_id = b.user_id;
UPDATE c_buyers b SET address_id = a.id FROM addresses a WHERE a.user_id = b.user_id;
UPDATE c_buyers b SET card_id = p.id FROM payment_methods p WHERE p.user_id = b.user_id;
INSERT INTO cart_lines (cart_id, variant_id, quantity, price_at_add_cents, created_at, updated_at)
SELECT b.cart_id, b.variant_id, 1, v.price_cents, 0, 0
FROM c_buyers b JOIN variants v ON v.id = b.variant_id;
VACUUM ANALYZE c_buyers;
ANALYZE;
