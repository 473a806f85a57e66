-- Fulfilment and returns (INV-4, ORD-2, ORD-4, ORD-5): shipments with their
-- lines and events, backorders, the simulated carrier's books, returns.
-- shop/shipment.h and shop/returns.h are the essays.

-- Open shipments per warehouse (label created, not yet delivered or back):
-- the load term of the allocation score (shop/allocation.c).
ALTER TABLE warehouses ADD COLUMN open_shipments INTEGER NOT NULL DEFAULT 0;

-- Shopify's "continue selling when out of stock": a checkout may take more
-- units than there are; the rest is backordered and a later fulfil ships it.
ALTER TABLE products ADD COLUMN allow_backorder INTEGER NOT NULL DEFAULT 0;

-- Units of a line by where they are: `backordered` were sold with no stock
-- behind them (none taken yet); `shipped_qty` are in shipments;
-- `undelivered_qty` came back to the sender (restocked and refunded);
-- `delivered_qty` reached the buyer;
-- `returned_qty` are in returns (RMA); `refunded_cents` is what refunds of
-- this line paid back (a return never refunds more than the line paid).
ALTER TABLE order_lines ADD COLUMN backordered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN shipped_qty INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN undelivered_qty INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN delivered_qty INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN returned_qty INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0;

-- AUTOINCREMENT: a label's idempotency key is "shipment-<id>", so an id is
-- never lent again after a shipment was undone.
CREATE TABLE shipments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    warehouse_id    INTEGER NOT NULL REFERENCES warehouses (id),
    seller_id       INTEGER,                     -- a seller shipped their own lines
    carrier         TEXT NOT NULL,
    service         TEXT NOT NULL,
    tracking_number TEXT UNIQUE,                 -- NULL until the carrier made the label
    label_attempts  INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL
                    CHECK (status = 'label_created' OR status = 'in_transit' OR
                           status = 'out_for_delivery' OR status = 'delivered' OR
                           status = 'delivery_failed' OR status = 'returned_to_sender'),
    attempts        INTEGER NOT NULL DEFAULT 0,  -- delivery attempts made
    failures        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX shipments_order ON shipments (order_id, id);
CREATE INDEX shipments_no_label ON shipments (id) WHERE tracking_number IS NULL;
CREATE INDEX shipments_moving ON shipments (updated_at)
    WHERE status = 'label_created' OR status = 'in_transit' OR status = 'out_for_delivery' OR
          status = 'delivery_failed';

-- Work queues: an admin's orders by status (oldest first), a seller's
-- orders (those holding their products).
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX order_lines_product ON order_lines (product_id, order_id);

CREATE TABLE shipment_lines (
    shipment_id   INTEGER NOT NULL REFERENCES shipments (id),
    order_line_id INTEGER NOT NULL,
    variant_id    INTEGER NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, order_line_id)
);
CREATE INDEX shipment_lines_line ON shipment_lines (order_line_id);

-- event_key: a carrier callback's digest, so a replayed one changes nothing.
CREATE TABLE shipment_events (
    id          INTEGER PRIMARY KEY,
    shipment_id INTEGER NOT NULL REFERENCES shipments (id),
    status      TEXT NOT NULL,
    detail      TEXT,
    at          INTEGER NOT NULL,
    event_key   TEXT UNIQUE
);
CREATE INDEX shipment_events_shipment ON shipment_events (shipment_id, id);

-- Idempotency-Key of fulfil calls: the first call's answer, kept 24 h.
CREATE TABLE fulfil_requests (
    user_id    INTEGER NOT NULL,
    key        TEXT NOT NULL,
    order_id   INTEGER NOT NULL,
    scope      INTEGER NOT NULL,                 -- the seller fulfilling, 0 for the shop
    response   TEXT,                             -- NULL while the first call runs
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX fulfil_requests_created ON fulfil_requests (created_at);

-- The simulated carrier's books (ext/carrier_sim.c): one label per
-- idempotency key, however often creating it is retried, and the parcel's
-- journey as the carrier sees it (it calls the shop back at each step).
CREATE TABLE carrier_sim_labels (
    key             TEXT PRIMARY KEY,
    tracking_number TEXT NOT NULL UNIQUE,
    service         TEXT NOT NULL,
    status          TEXT NOT NULL,
    fail_deliveries INTEGER NOT NULL DEFAULT 0,   -- attempts that will fail
    failures        INTEGER NOT NULL DEFAULT 0,
    cancelled       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_at         INTEGER NOT NULL              -- when it moves on (auto mode)
);
CREATE INDEX carrier_sim_labels_due ON carrier_sim_labels (next_at);

-- Returns (RMA). See shop/returns.h for the state machine.
CREATE TABLE returns (
    id            INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders (id),
    user_id       INTEGER NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status = 'requested' OR status = 'approved' OR status = 'rejected' OR
                         status = 'received' OR status = 'inspected' OR status = 'refunded' OR
                         status = 'partially_refunded'),
    reason        TEXT NOT NULL,
    refund_cents  INTEGER NOT NULL DEFAULT 0,
    refund_id     INTEGER,                       -- the refund it paid, once
    idempotency_key TEXT NOT NULL,
    request_hash  TEXT NOT NULL,                 -- a replayed key must carry the same request
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX returns_order ON returns (order_id);
CREATE INDEX returns_user ON returns (user_id, id);
CREATE INDEX returns_status ON returns (status, id);

CREATE TABLE return_lines (
    return_id        INTEGER NOT NULL REFERENCES returns (id),
    order_line_id    INTEGER NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (return_id, order_line_id)
);

CREATE TABLE return_history (
    id        INTEGER PRIMARY KEY,
    return_id INTEGER NOT NULL REFERENCES returns (id),
    status    TEXT NOT NULL,
    note      TEXT,
    at        INTEGER NOT NULL
);
CREATE INDEX return_history_return ON return_history (return_id, id);

-- Which refund a refund row belongs to when it is not a cancellation.
ALTER TABLE refunds ADD COLUMN return_id INTEGER;

-- NTF-2: a stored card about to expire is announced once (work/housekeeping).
ALTER TABLE payment_methods ADD COLUMN expiry_notified INTEGER NOT NULL DEFAULT 0;
CREATE INDEX payment_methods_expiry ON payment_methods (exp_year, exp_month, expiry_notified);
