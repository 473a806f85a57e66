"""bench/pg.py measures PostgreSQL alone running shopd's order: pgbench
replays its statements (bench/pg_checkout.sql) and writes the same rows
set-wise (bench/pg_checkout_setwise.sql) on buyers bench/pg_checkout_init.sql
makes. Those scripts name the shop's tables and columns; this keeps them
running on the schema as the migrations leave it, and checks that what they
write is a whole order, as shopd would have written it."""
import os
import subprocess

import pytest

from conftest import BACKEND, ROOT
from shop_fixtures import Shop

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="pgbench scripts: PostgreSQL")

BENCH = os.path.join(ROOT, "bench")


def pgbench(url, script, clients, passes, base, g):
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "1",
                          "-t", str(passes), "-D", "k=0", "-D", f"clients={clients}",
                          "-D", f"base={base}", "-D", f"g={g}",
                          "-f", os.path.join(BENCH, script), url],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed transactions: 0 " in out.stdout, out.stdout


def test_the_benchmarks_order_replays_run_on_the_schema_and_write_whole_orders(make_server):
    s = make_server(prism=False)
    shop = Shop(s)
    variants = [shop.product(stock=5)["variants"][0]["id"] for _ in range(4)]
    s.stop()  # the scripts' events are for no consumer: no shopd reads them
    db = s.database()
    # bench/setup_buyers.py gives the variants the buyers order ample stock in
    # the first warehouse.
    for v in variants:
        db.execute("INSERT INTO stock (variant_id, warehouse_id, on_hand, reserved, updated_at)"
                   " VALUES (?, (SELECT min(id) FROM warehouses), 1000000000, 0, 0)"
                   " ON CONFLICT (variant_id, warehouse_id) DO UPDATE SET on_hand = 1000000000",
                   (v,))
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-v", "buyers=12", s.db,
                    "-f", os.path.join(BENCH, "pg_checkout_init.sql")],
                   check=True, capture_output=True)

    pgbench(s.db, "pg_checkout.sql", clients=2, passes=2, base=0, g=1)  # buyers 1..4
    pgbench(s.db, "pg_checkout_setwise.sql", clients=1, passes=2, base=4, g=4)  # 5..12

    rows = db.query("SELECT b.n, o.status, o.total_cents, p.status, p.amount_cents, r.status,"
                    " k.status, c.checkout_key,"
                    " (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id),"
                    " (SELECT count(*) FROM order_history h WHERE h.order_id = o.id),"
                    " (SELECT count(*) FROM cart_lines l WHERE l.cart_id = b.cart_id)"
                    " FROM c_buyers b JOIN orders o ON o.user_id = b.user_id"
                    " JOIN payments p ON p.order_id = o.id"
                    " JOIN reservations r ON r.order_id = o.id"
                    " JOIN idempotency_keys k ON k.user_id = b.user_id AND k.order_id = o.id"
                    " JOIN carts c ON c.id = b.cart_id ORDER BY b.n")
    assert [r[0] for r in rows] == list(range(1, 13)), rows
    for n, order, total, pay, amount, res, key, lock, lines, history, cart in rows:
        assert (order, pay, res, key, lock) == ("paid", "captured", "consumed", "done", None), n
        assert amount == total > 0 and lines == 1 and history == 2 and cart == 0, n
    # Every order took one unit, reserved and then consumed, with its two
    # movements chained onto the stock row's.
    stock = db.query("SELECT variant_id, on_hand, reserved FROM stock WHERE on_hand > 900000000")
    assert sum(1000000000 - on_hand for _, on_hand, _ in stock) == 12
    assert all(reserved == 0 for _, _, reserved in stock)
    for v, _, _ in stock:
        moves = db.query("SELECT id, prev_id FROM stock_movements WHERE variant_id = ?"
                         " AND ref = 'order' ORDER BY id", (v,))
        assert all(b[1] == a[0] for a, b in zip(moves, moves[1:])), moves
