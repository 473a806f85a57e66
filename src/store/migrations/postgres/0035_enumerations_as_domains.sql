-- The checkout path's enumerations and bounds, checked through domains.
-- PostgreSQL reads a table's CHECK constraints back from their stored text
-- (stringToNode) and compiles them for every INSERT or UPDATE statement; an
-- eight-way `status = 'a' OR …` cost more than the row it checked, and the
-- CHECKs of the tables an order writes were 8 % of the benchmark's server
-- CPU. A domain's constraint is parsed once into the type cache. Each CHECK
-- below casts its column to a domain that holds the rule: a few nodes to
-- read, and the cast does the checking (a bad value fails it with SQLSTATE
-- 23514, as before). Comparing the cast with the column keeps NULL passing
-- where it did. The columns keep their types, so the statements of a binary
-- from before this migration run unchanged (a rolling upgrade on
-- PostgreSQL, docs/OPERATIONS.md): a parameter both assigned to a domain
-- column and compared with text would have two types. Cross-column checks
-- (stock, carts) stay as they were.
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

ALTER TABLE orders
    DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check CHECK (CAST(status AS order_status) = status),
    DROP CONSTRAINT orders_refund_status_check,
    ADD CONSTRAINT orders_refund_status_check CHECK (CAST(refund_status AS refund_status) = refund_status);
ALTER TABLE order_lines
    DROP CONSTRAINT order_lines_status_check,
    ADD CONSTRAINT order_lines_status_check CHECK (CAST(status AS order_line_status) = status),
    DROP CONSTRAINT order_lines_quantity_check,
    ADD CONSTRAINT order_lines_quantity_check CHECK (CAST(quantity AS positive_count) = quantity);
ALTER TABLE reservations
    DROP CONSTRAINT reservations_status_check,
    ADD CONSTRAINT reservations_status_check CHECK (CAST(status AS reservation_status) = status),
    DROP CONSTRAINT reservations_quantity_check,
    ADD CONSTRAINT reservations_quantity_check CHECK (CAST(quantity AS positive_count) = quantity);
ALTER TABLE payments
    DROP CONSTRAINT payments_status_check,
    ADD CONSTRAINT payments_status_check CHECK (CAST(status AS payment_status) = status),
    DROP CONSTRAINT payments_tender_check,
    ADD CONSTRAINT payments_tender_check CHECK (CAST(tender AS payment_tender) = tender),
    DROP CONSTRAINT payments_amount_cents_check,
    ADD CONSTRAINT payments_amount_cents_check CHECK (CAST(amount_cents AS positive_cents) = amount_cents);
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_status_check,
    ADD CONSTRAINT idempotency_keys_status_check CHECK (CAST(status AS idempotency_status) = status);
ALTER TABLE stock_movements
    DROP CONSTRAINT stock_movements_kind_check,
    ADD CONSTRAINT stock_movements_kind_check CHECK (CAST(kind AS movement_kind) = kind);
ALTER TABLE cart_lines
    DROP CONSTRAINT cart_lines_quantity_check,
    ADD CONSTRAINT cart_lines_quantity_check CHECK (CAST(quantity AS cart_quantity) = quantity);
ALTER TABLE notifications
    DROP CONSTRAINT notifications_channel_check,
    ADD CONSTRAINT notifications_channel_check CHECK (CAST(channel AS notify_channel) = channel),
    DROP CONSTRAINT notifications_state_check,
    ADD CONSTRAINT notifications_state_check CHECK (CAST(state AS notify_state) = state);
