-- The outbox's horizon (0021) was the oldest transaction still running in
-- the whole PostgreSQL server: a transaction left open in another database
-- on it (another shop, a staging copy, an idle psql that wrote something)
-- held every event of this one back, though it cannot write an event here.
-- The horizon is now the oldest transaction of this snapshot's running ones
-- that may be this database's: a running transaction is left out only when
-- pg_stat_activity shows its backend connected to another database (or to
-- none: a background worker cannot write this outbox). One
-- that has ended since the snapshot was taken is kept (its database is no
-- longer known; it stops counting at the next read): never later than the
-- old horizon's events, only sooner. pg_stat_activity shows every backend's
-- database and transaction id to every role. Transactions without a
-- transaction id (reads) never counted. pg_stat_activity's xids are 32 bits, the
-- snapshot's 64: compared modulo 2^32.
--
-- A function, so that a snapshot with nothing running (an idle shop) costs
-- no read of pg_stat_activity. STABLE: it runs in its caller's snapshot, the
-- one whose running transactions it looks at (a VOLATILE function would take
-- a newer one at READ COMMITTED, and call final what its caller cannot see).
CREATE FUNCTION outbox_horizon_txid() RETURNS BIGINT LANGUAGE plpgsql STABLE AS $$
DECLARE
    s pg_snapshot := pg_current_snapshot();
    h BIGINT;
BEGIN
    IF pg_snapshot_xmin(s) = pg_snapshot_xmax(s) THEN
        RETURN pg_snapshot_xmax(s)::text::bigint;
    END IF;
    SELECT min(x::text::bigint) INTO h FROM pg_snapshot_xip(s) AS x
    WHERE x::text::bigint % 4294967296 NOT IN (
        -- pg_stat_activity's rows, without its joins
        SELECT backend_xid::text::bigint FROM pg_stat_get_activity(NULL)
        WHERE backend_xid IS NOT NULL
          AND datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database()));
    RETURN coalesce(h, pg_snapshot_xmax(s)::text::bigint);
END $$;
CREATE OR REPLACE VIEW outbox_horizon AS SELECT outbox_horizon_txid() AS txid;
