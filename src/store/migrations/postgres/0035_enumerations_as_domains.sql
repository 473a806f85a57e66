-- The checkout path's enumerations and bounds as domains, not table CHECKs.
-- PostgreSQL reads a table's CHECK constraints back from their stored text
-- (stringToNode) and compiles them for every INSERT or UPDATE statement; an
-- eight-way `status = 'a' OR …` cost more than the row it checked, and the
-- CHECKs of the tables an order writes were 8 % of the benchmark's server
-- CPU. A domain's constraint is parsed once into the type cache and checked
-- where a value becomes the domain. Same rules, same SQLSTATE (23514) on a
-- bad value. Cross-column checks (stock, carts) stay on their tables.
CREATE DOMAIN order_status AS TEXT CHECK (VALUE IN ('pending_payment', 'paid', 'fulfilling',
    'partially_shipped', 'shipped', 'delivered', 'cancelled', 'on_hold'));
CREATE DOMAIN refund_status AS TEXT
    CHECK (VALUE IN ('none', 'partially_refunded', 'refunded'));
CREATE DOMAIN order_line_status AS TEXT CHECK (VALUE IN ('open', 'cancelled', 'shipped'));
CREATE DOMAIN reservation_status AS TEXT CHECK (VALUE IN ('active', 'consumed', 'released'));
CREATE DOMAIN payment_status AS TEXT CHECK (VALUE IN ('pending', 'unknown', 'captured',
    'failed', 'voided', 'authorized'));
CREATE DOMAIN payment_tender AS TEXT CHECK (VALUE IN ('card', 'store_credit'));
CREATE DOMAIN idempotency_status AS TEXT CHECK (VALUE IN ('in_progress', 'done'));
CREATE DOMAIN movement_kind AS TEXT CHECK (VALUE IN ('adjust', 'reserve', 'release', 'consume',
    'restock', 'return'));
CREATE DOMAIN positive_count AS BIGINT CHECK (VALUE > 0);
CREATE DOMAIN positive_cents AS BIGINT CHECK (VALUE > 0);
CREATE DOMAIN cart_quantity AS BIGINT CHECK (VALUE BETWEEN 1 AND 99);
CREATE DOMAIN notify_channel AS BIGINT CHECK (VALUE BETWEEN 0 AND 2);
CREATE DOMAIN notify_state AS BIGINT CHECK (VALUE BETWEEN 0 AND 4);

ALTER TABLE orders DROP CONSTRAINT orders_status_check,
    DROP CONSTRAINT orders_refund_status_check,
    ALTER COLUMN status TYPE order_status,
    ALTER COLUMN refund_status TYPE refund_status;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_status_check,
    DROP CONSTRAINT order_lines_quantity_check,
    ALTER COLUMN status TYPE order_line_status,
    ALTER COLUMN quantity TYPE positive_count;
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check,
    DROP CONSTRAINT reservations_quantity_check,
    ALTER COLUMN status TYPE reservation_status,
    ALTER COLUMN quantity TYPE positive_count;
ALTER TABLE payments DROP CONSTRAINT payments_status_check,
    DROP CONSTRAINT payments_tender_check,
    DROP CONSTRAINT payments_amount_cents_check,
    ALTER COLUMN status TYPE payment_status,
    ALTER COLUMN tender TYPE payment_tender,
    ALTER COLUMN amount_cents TYPE positive_cents;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_status_check,
    ALTER COLUMN status TYPE idempotency_status;
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check,
    ALTER COLUMN kind TYPE movement_kind;
ALTER TABLE cart_lines DROP CONSTRAINT cart_lines_quantity_check,
    ALTER COLUMN quantity TYPE cart_quantity;
ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check,
    DROP CONSTRAINT notifications_state_check,
    ALTER COLUMN channel TYPE notify_channel,
    ALTER COLUMN state TYPE notify_state;
