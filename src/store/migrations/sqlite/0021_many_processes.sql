-- Many processes on one database (STO-3): what the first half assumed of a
-- single writer, made to hold with several. The PostgreSQL twin of this file
-- differs where the backends do (the outbox's transaction ids).

-- A waiting room's positions come from its sale's own counter, taken under
-- the sale row's lock: max(position) + 1 gave two concurrent joins the same
-- place.
ALTER TABLE flash_sales ADD COLUMN queue_length INTEGER NOT NULL DEFAULT 0;
UPDATE flash_sales SET queue_length =
    (SELECT coalesce(max(position), 0) FROM flash_sale_queue q WHERE q.sale_id = flash_sales.id);

-- The outbox in commit order. Readers follow (txid, id): txid is the writing
-- transaction's id where transactions commit side by side (PostgreSQL) and 0
-- here, where one writer at a time makes ids follow commit order already.
-- outbox_horizon is the lowest txid a transaction still running could have:
-- events below it are final, so a reader never moves past one that could
-- still appear (here: all of them are).
ALTER TABLE outbox ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_order ON outbox (txid, id);
CREATE VIEW outbox_horizon AS SELECT 9223372036854775807 AS txid;
ALTER TABLE outbox_consumers ADD COLUMN position_txid INTEGER NOT NULL DEFAULT 0;

-- Roles that run once per shop, whichever process holds their lease
-- (work/leases.h): the scheduler, housekeeping, the notification pump, each
-- outbox consumer.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     INTEGER NOT NULL,                 -- the holding process's instance id
    expires_at INTEGER NOT NULL
);

-- Every running process, with its heartbeat: a payment whose process has
-- stopped beating is settled by reconciliation.
CREATE TABLE instances (
    id           INTEGER PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
