-- PostgreSQL only (its 0036 makes the outbox's horizon this database's, not
-- the whole server's). Here one writer at a time makes ids the commit order,
-- and the horizon is a constant (0021).
SELECT 1;
