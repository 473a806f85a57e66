-- Behaviour events for recommendations (ENG-4); recs/recs.c is the essay.
--
-- One row per event: a product view or an add to cart (buffered in memory
-- by the process that served it and written in batches), or a product of a
-- paid order (written once per order line by the outbox consumer
-- "recs.purchases": the unique key makes a replay a no-op). Every process
-- follows the table in commit order — (txid, id) below outbox_horizon, as
-- the outbox (shop/outbox.h) — to update its in-memory model, and reads it
-- whole at start.
--
-- kind: 1 view, 2 add to cart, 3 purchase. user_key: a user's id, or minus
-- a guest session's id.
CREATE TABLE rec_events (
    id         INTEGER PRIMARY KEY,
    txid       INTEGER NOT NULL DEFAULT 0,
    kind       INTEGER NOT NULL CHECK (kind = 1 OR kind = 2 OR kind = 3),
    user_key   INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    order_id   INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX rec_events_order ON rec_events (txid, id);
CREATE INDEX rec_events_time ON rec_events (created_at);
CREATE UNIQUE INDEX rec_events_purchase ON rec_events (order_id, product_id);
