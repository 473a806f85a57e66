-- The purchase path: carts, payment methods, store credit, orders,
-- reservations, payments, refunds, idempotency keys, and the simulated
-- payment gateway's own ledger.

CREATE TABLE carts (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    guest_id     INTEGER UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    currency     TEXT,                           -- set by the first line
    checkout_key TEXT,                           -- the Idempotency-Key of a checkout in flight
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (guest_id IS NULL))
);
CREATE INDEX carts_updated ON carts (updated_at);

CREATE TABLE cart_lines (
    id                 INTEGER PRIMARY KEY,
    cart_id            INTEGER NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id         INTEGER NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    quantity           INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    price_at_add_cents INTEGER NOT NULL,         -- for "the price changed" warnings
    saved_for_later    INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (cart_id, variant_id)
);
CREATE INDEX cart_lines_cart ON cart_lines (cart_id, id); -- a cart in the order it was filled

CREATE TABLE payment_methods (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    gateway_token TEXT NOT NULL,                 -- never the card number or CVC
    brand         TEXT NOT NULL,
    last4         TEXT NOT NULL,
    exp_month     INTEGER NOT NULL,
    exp_year      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE INDEX payment_methods_user ON payment_methods (user_id);

-- Store credit is a ledger: the balance is the sum of the entries.
CREATE TABLE store_credit_entries (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount_cents INTEGER NOT NULL,               -- + credit, - spend
    currency     TEXT NOT NULL,
    reason       TEXT NOT NULL,                  -- grant, order, order_failed, refund
    order_id     INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX store_credit_user ON store_credit_entries (user_id, id);

-- AUTOINCREMENT: an order deleted after a failed payment never lends its id
-- (and so its gateway idempotency key) to a later order.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    status          TEXT NOT NULL
                    CHECK (status = 'pending_payment' OR status = 'paid' OR status = 'fulfilling' OR
                           status = 'partially_shipped' OR status = 'shipped' OR
                           status = 'delivered' OR status = 'cancelled'),
    refund_status   TEXT NOT NULL DEFAULT 'none'
                    CHECK (refund_status = 'none' OR refund_status = 'partially_refunded' OR
                           refund_status = 'refunded'),
    currency        TEXT NOT NULL,
    subtotal_cents  INTEGER NOT NULL,
    discount_cents  INTEGER NOT NULL DEFAULT 0,
    shipping_cents  INTEGER NOT NULL,
    tax_cents       INTEGER NOT NULL,
    total_cents     INTEGER NOT NULL,
    refunded_cents  INTEGER NOT NULL DEFAULT 0,
    shipping_method TEXT NOT NULL,
    ship_name       TEXT NOT NULL,
    ship_line1      TEXT NOT NULL,
    ship_line2      TEXT,
    ship_city       TEXT NOT NULL,
    ship_region     TEXT,
    ship_postal     TEXT NOT NULL,
    ship_country    TEXT NOT NULL,
    ship_phone      TEXT,
    idempotency_key TEXT NOT NULL,
    flash_sale_id   INTEGER,                     -- bought in a flash sale
    cancel_reason   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    paid_at         INTEGER,
    cancelled_at    INTEGER
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_pending ON orders (id) WHERE status = 'pending_payment';

CREATE TABLE order_lines (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       INTEGER NOT NULL,
    variant_id       INTEGER NOT NULL,
    sku              TEXT NOT NULL,              -- snapshots: the listing may change later
    title            TEXT NOT NULL,
    options          TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    tax_cents        INTEGER NOT NULL,           -- this line's share of the order's tax
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status = 'open' OR status = 'cancelled' OR status = 'shipped'),
    cancelled_at     INTEGER
);
CREATE INDEX order_lines_order ON order_lines (order_id);

CREATE TABLE order_history (
    id       INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status   TEXT NOT NULL,
    note     TEXT,
    at       INTEGER NOT NULL
);
CREATE INDEX order_history_order ON order_history (order_id, id);

-- INV-2: stock held for an order between checkout and payment. A row with
-- a sale_id took its units from that flash sale's set-aside pool, and a
-- released one gives them back to the pool, not to general stock.
CREATE TABLE reservations (
    id           INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL,
    sale_id      INTEGER,
    variant_id   INTEGER NOT NULL,
    warehouse_id INTEGER NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    status       TEXT NOT NULL CHECK (status = 'active' OR status = 'consumed' OR
                                      status = 'released'),
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX reservations_order ON reservations (order_id);
CREATE INDEX reservations_active ON reservations (expires_at) WHERE status = 'active';

-- One row per tender of an order (store credit first, then a card).
CREATE TABLE payments (
    id                INTEGER PRIMARY KEY,
    order_id          INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    tender            TEXT NOT NULL CHECK (tender IN ('card', 'store_credit')),
    payment_method_id INTEGER,
    brand             TEXT,
    last4             TEXT,
    amount_cents      INTEGER NOT NULL CHECK (amount_cents > 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL
                      CHECK (status = 'pending' OR status = 'unknown' OR status = 'captured' OR
                             status = 'failed' OR status = 'voided'),
    gateway_ref       TEXT,                      -- the gateway's charge id
    idempotency_key   TEXT NOT NULL,             -- sent with every gateway call for this tender
    failure_code      TEXT,
    refunded_cents    INTEGER NOT NULL DEFAULT 0,
    owner_instance    INTEGER NOT NULL,          -- the process running the saga
    deadline_at       INTEGER NOT NULL,          -- after this, reconciliation may settle it
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_open ON payments (order_id) WHERE status IN ('pending', 'unknown');

CREATE TABLE refunds (
    id           INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);

-- A refund split over the order's original tenders.
CREATE TABLE refund_allocations (
    id              INTEGER PRIMARY KEY,
    refund_id       INTEGER NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    payment_id      INTEGER NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded')),
    gateway_ref     TEXT,
    idempotency_key TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refund_allocations_refund ON refund_allocations (refund_id);
CREATE INDEX refund_allocations_payment ON refund_allocations (payment_id);
CREATE INDEX refund_allocations_pending ON refund_allocations (status, next_attempt_at);

-- Idempotency-Key (IETF draft): the first request's outcome, kept 24 h.
CREATE TABLE idempotency_keys (
    user_id         INTEGER NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
    order_id        INTEGER,
    outcome         INTEGER,                     -- 0: the order was created; else a shop_err
    response_body   TEXT,                        -- the order, or {detail, extra} of the problem
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

-- The proof that the outbox dispatcher delivers: a consumer that records
-- every order event once (its primary key makes redelivery harmless).
CREATE TABLE order_event_log (
    event_id    INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    topic       TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX order_event_log_order ON order_event_log (order_id);
