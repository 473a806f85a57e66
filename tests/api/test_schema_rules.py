"""The database's own rules on what an order writes, on either backend: an
enumeration or a bound the domain code keeps is refused by the schema too,
whether it is a table CHECK (SQLite) or a domain (PostgreSQL, migration 0035).
Each bad value is tried alone, after one good order, and changes nothing."""
import sqlite3

import pytest

from shop_fixtures import Buyer, Shop

try:
    import psycopg2
    INTEGRITY = (sqlite3.IntegrityError, psycopg2.IntegrityError)
except ImportError:  # SQLite-only machines
    INTEGRITY = (sqlite3.IntegrityError,)

# (table, column, a value the rules refuse, a value they take)
RULES = [
    ("orders", "status", "lost", "cancelled"),
    ("orders", "refund_status", "some", "refunded"),
    ("order_lines", "status", "gone", "cancelled"),
    ("order_lines", "quantity", 0, 2),
    ("reservations", "status", "kept", "released"),
    ("reservations", "quantity", -1, 2),
    ("payments", "status", "stolen", "voided"),
    ("payments", "tender", "cash", "store_credit"),
    ("payments", "amount_cents", 0, 1),
    ("idempotency_keys", "status", "maybe", "in_progress"),
    ("stock_movements", "kind", "theft", "adjust"),
]


def test_an_orders_rows_refuse_values_outside_their_rules(make_server):
    server = make_server()
    shop = Shop(server)
    p = shop.product(stock=5)
    b = Buyer(server)
    o = b.buy(p["variants"][0]["id"], 1)
    assert o.status == 201, o
    server.stop()
    db = server.database()
    where = {"orders": ("id", o["id"]), "order_lines": ("order_id", o["id"]),
             "reservations": ("order_id", o["id"]), "payments": ("order_id", o["id"]),
             "idempotency_keys": ("order_id", o["id"]),
             "stock_movements": ("variant_id", p["variants"][0]["id"])}
    for table, column, bad, good in RULES:
        col, val = where[table]
        read = f"SELECT {column} FROM {table} WHERE {col} = ? ORDER BY 1"
        before = db.query(read, (val,))
        with pytest.raises(INTEGRITY):
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {col} = ?", (bad, val))
        assert db.query(read, (val,)) == before, (table, column)
    # The rules are no stricter than the code: every value it writes is taken.
    for table, column, bad, good in RULES:
        col, val = where[table]
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {col} = ?", (good, val))
        assert {r[0] for r in db.query(f"SELECT {column} FROM {table} WHERE {col} = ?",
                                       (val,))} == {good}


def test_a_cart_line_and_a_notification_keep_their_bounds(make_server):
    server = make_server()
    shop = Shop(server)
    p = shop.product(stock=5)
    b = Buyer(server)
    assert b.add(p["variants"][0]["id"], 1).status == 201
    server.stop()
    db = server.database()
    for bad in (0, 100):
        with pytest.raises(INTEGRITY):
            db.execute("UPDATE cart_lines SET quantity = ?", (bad,))
    db.execute("UPDATE cart_lines SET quantity = ?", (99,))
    assert db.scalar("SELECT max(quantity) FROM cart_lines") == 99
    user = db.scalar("SELECT id FROM users ORDER BY id LIMIT 1")
    msg_cols = "(event_key, kind, title, body, data, created_at)"
    db.execute(f"INSERT INTO notify_messages {msg_cols} VALUES ('t-1', 'test', 't', 'b', '{{}}', 0)")
    m = db.scalar("SELECT id FROM notify_messages WHERE event_key = 't-1'")
    notif = ("INSERT INTO notifications (message_id, user_id, channel, state, attempts, next_at,"
             " created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, 0, 0)")
    for channel, state in ((3, 0), (-1, 0), (0, 5), (0, -1)):
        with pytest.raises(INTEGRITY):
            db.execute(notif, (m, user, channel, state))
    db.execute(notif, (m, user, 2, 4))
    assert db.scalar("SELECT count(*) FROM notifications WHERE message_id = ?", (m,)) == 1
