-- PostgreSQL only (its 0035 moves the checkout path's CHECKs into domains,
-- which it checks more cheaply). SQLite compiles a table's CHECKs into each
-- prepared statement once, and keeps them.
SELECT 1;
