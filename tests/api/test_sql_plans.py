"""No query scans a table that grows with the business.

The server writes the query plan of every statement it prepared when
SHOPD_SQL_AUDIT names a file (src/store/sqlite.c). After a workload that
touches accounts, catalog, carts, checkout, cancellation, declines and flash
sales, any full SCAN of a large table is a missing index (a completed
checkout once updated idempotency_keys by an unindexed column)."""
import os
import re

import pytest

from conftest import BACKEND, SMALL_TABLES, Server
from shop_fixtures import Buyer, Shop

SMALL = SMALL_TABLES


# The audit reads SQLite's own query plans; PostgreSQL's planner is checked by
# the same workload's speed there (bench/), not here.
pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite query plans")


def test_no_full_scans_of_large_tables(make_server):
    s = make_server(start=False)
    plans = os.path.join(s.dir, "plans.txt")
    s.env["SHOPD_SQL_AUDIT"] = plans
    s.start()
    shop = Shop(s)
    p = shop.product(stock=20)
    vid = p["variants"][0]["id"]
    b = Buyer(s)
    b.add(vid, 2)
    o = b.checkout()
    assert o.status == 201
    s.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token)
    declined = Buyer(s, "declined")
    declined.add(vid)
    assert declined.checkout().status == 402
    s.get(f"/v1/products/{p['id']}")
    s.get("/v1/cart", token=b.token)
    s.get("/v1/orders", token=b.token)
    s.get(f"/v1/inventory/{vid}", token=shop.admin)
    s.get("/metrics")
    s.stop()
    scans = set()
    with open(plans) as f:
        rows = [line.rstrip("\n").partition("\t")[::2] for line in f]
    # A subquery in FROM (a LIMIT-ed range, a handful of bound values) is read
    # by a scan of its own rows under its alias: not a table's.
    subqueries = {(sql, m.group(2)) for detail, sql in rows
                  if (m := re.match(r"(CO-ROUTINE|MATERIALIZE) (\w+)", detail))}
    for detail, sql in rows:
        m = re.match(r"SCAN (\w+)", detail)
        if not m or m.group(1) in SMALL or "USING COVERING INDEX" in detail:
            continue
        if (sql, m.group(1)) in subqueries:
            continue
        # A parent-row INSERT lists its children's foreign keys: not a scan it runs.
        if sql.lstrip().upper().startswith("INSERT") and m.group(1) not in sql:
            continue
        if "orders_pending" in detail:  # a partial index of pending orders only
            continue
        scans.add(f"{detail} :: {sql[:120]}")
    assert not scans, "full scans:\n" + "\n".join(sorted(scans))


# Statements that run once per timer tick or per batch of many rows, not per
# request: a temporary table there costs nothing worth a less clear query.
BATCHED = (
    "SELECT a.id, a.refund_id, p.order_id",        # refund retries, each housekeeping tick
    "UPDATE notifications SET state = 1",          # claims up to 64 notifications at once
    "SELECT * FROM (SELECT txid, id, topic",       # the outbox's readers, a batch of events a read
    "SELECT * FROM (SELECT txid, id, kind",        # recommendations' reader, a batch of events a read
    "DELETE FROM rec_events WHERE id IN",          # their retention: 5,000 old events a write
    "UPDATE products SET sales_count = sales_count + CASE",  # the sales fold: 8 products a statement, once a slice
    # The simulated gateway stands for an outside provider: on SQLite it has a
    # database and a writer of its own, and its RETURNING saves PostgreSQL a
    # statement per charge.
    "INSERT INTO gw_sim_charges",
    # The notifications of a batch of order events, up to 16 users a statement:
    # their (user, event) pairs are a subquery SQLite materializes.
    "INSERT INTO notifications (message_id, user_id, channel, state, attempts, next_at,"
    " created_at, updated_at) SELECT m.id, u.id, 0, 0, 0, ?1, ?2, ?2 FROM (SELECT CAST(?3",
    # Analytics claims a batch's paid orders, up to 32 keys a statement that
    # answers the fresh ones (RETURNING: a temporary table on SQLite).
    "INSERT INTO analytics_applied (key, at) VALUES (?,?)",
    # A batch of notifications' messages and email addresses, 8 to a read.
    "SELECT id, event_key, kind, title, body, data FROM notify_messages WHERE id IN",
    "SELECT u.id, u.email, coalesce(p.email, 1) FROM users u",
)


def test_purchase_path_builds_no_temporary_tables(make_server):
    """SQLite builds a temporary B-tree for an ORDER BY or DISTINCT without an
    index, for RETURNING, and for a CHECK or WHERE with an IN list of more than
    two constants — each time the statement runs. On the purchase path that
    was several per order (see the note in 0001_foundation.sql); here it stays
    at none. The shop is set up first, then the server restarts with the audit
    on, so only the purchase path's statements (and the background work it
    causes) are listed."""
    s = make_server()
    shop = Shop(s)
    p = shop.product(stock=20)
    vid = p["variants"][0]["id"]
    b = Buyer(s)
    s.stop()
    plans = os.path.join(s.dir, "plans.txt")
    s.env["SHOPD_SQL_AUDIT"] = plans
    s.start()
    assert b.add(vid, 2).status == 201
    assert s.get("/v1/cart", token=b.token).status == 200
    o = b.checkout()
    assert o.status == 201, o
    assert s.get(f"/v1/orders/{o['id']}", token=b.token).status == 200
    assert b.buy(vid).status == 201
    s.stop()
    with open(plans) as f:
        temp = {sql for detail, _, sql in (line.rstrip("\n").partition("\t") for line in f)
                if detail == "TEMP TABLE" and not any(sql.startswith(ok) for ok in BATCHED)}
    assert not temp, "temporary tables:\n" + "\n".join(sorted(temp))
