-- PostgreSQL twin of ../sqlite/0021_many_processes.sql (the comments there
-- say why each part exists).

ALTER TABLE flash_sales ADD COLUMN queue_length BIGINT NOT NULL DEFAULT 0;
UPDATE flash_sales SET queue_length =
    (SELECT coalesce(max(position), 0) FROM flash_sale_queue q WHERE q.sale_id = flash_sales.id);

-- Writers commit side by side here, so ids do not follow commit order: an
-- event can commit after one with a higher id was already read. Each event
-- carries its transaction's id, and readers take only events below the
-- oldest transaction still running (pg_snapshot_xmin): no event can appear
-- there later. Events written before this migration are all final (txid 0).
ALTER TABLE outbox ADD COLUMN txid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX outbox_order ON outbox (txid, id);
CREATE VIEW outbox_horizon AS
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS txid;
ALTER TABLE outbox_consumers ADD COLUMN position_txid BIGINT NOT NULL DEFAULT 0;

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE instances (
    id           BIGINT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
