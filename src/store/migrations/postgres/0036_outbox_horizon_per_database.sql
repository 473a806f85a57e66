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
CREATE OR REPLACE VIEW outbox_horizon AS
WITH snap AS (SELECT pg_current_snapshot() AS s),
elsewhere AS (  -- pg_stat_activity's rows, without its joins (~15 us a read)
    SELECT backend_xid::text::bigint AS xid FROM pg_stat_get_activity(NULL)
    WHERE backend_xid IS NOT NULL
      AND datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT coalesce(
    (SELECT min(x::text::bigint) FROM snap, pg_snapshot_xip(snap.s) AS x
     WHERE x::text::bigint % 4294967296 NOT IN (SELECT xid FROM elsewhere)),
    (SELECT pg_snapshot_xmax(s)::text::bigint FROM snap)) AS txid;
