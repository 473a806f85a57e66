"""shopd backup and shopd doctor (OPS-6): a backup taken while a checkout
storm runs is a consistent copy that doctor finds clean; doctor finds a
planted inconsistency; on PostgreSQL backup points at pg_dump."""
import os
import subprocess
import threading

import pytest

from conftest import BIN, PG_BASE, Database
from shop_fixtures import Buyer, Shop


def test_backup_during_a_checkout_storm_is_consistent(make_server):
    if PG_BASE:
        pytest.skip("backup copies a SQLite file; PostgreSQL uses pg_dump")
    s = make_server()
    shop = Shop(s)
    p = shop.product(stock=500, price=1500)
    v = p["variants"][0]["id"]
    buyers = [Buyer(s) for _ in range(6)]
    stop = threading.Event()
    placed = []

    def storm(b):
        while not stop.is_set():
            r = b.buy(v, 1)
            placed.append(r.status)
    threads = [threading.Thread(target=storm, args=(b,)) for b in buyers]
    for t in threads:
        t.start()
    copies = []
    try:
        for i in range(3):
            dest = os.path.join(s.dir, f"copy{i}.db")
            r = s.cli("backup", dest)
            assert "backed up" in r.stdout
            copies.append(dest)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert placed.count(201) > 0
    for dest in copies:
        r = subprocess.run([BIN, "doctor", "--db", dest], capture_output=True, text=True,
                           env=s.env, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "no problems found" in r.stdout
        copy = Database(dest)
        # Stock is conserved in the copy: what is on hand plus what paid orders consumed.
        sold = copy.scalar("SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o"
                           " ON o.id = l.order_id WHERE o.paid_at IS NOT NULL")
        on_hand = copy.scalar("SELECT sum(on_hand) FROM stock WHERE variant_id = ?", (v,))
        assert on_hand + sold == 500
    r = s.cli("doctor")
    assert r.returncode == 0, r.stdout


def test_doctor_finds_planted_problems(make_server):
    s = make_server()
    shop = Shop(s)
    p = shop.product(stock=10, price=1000)
    v = p["variants"][0]["id"]
    b = Buyer(s)
    o = b.buy(v, 2)
    assert o.status == 201
    assert s.cli("doctor").returncode == 0
    db = s.database()
    db.execute("UPDATE stock SET reserved = 3 WHERE variant_id = ?", (v,))
    db.execute("UPDATE orders SET total_cents = total_cents + 1 WHERE id = ?", (o["id"],))
    db.execute("INSERT INTO store_credit_entries (user_id, amount_cents, currency, reason, created_at)"
               " VALUES (?, -500, 'USD', 'grant', 0)", (b.user["id"],))
    r = s.cli("doctor", check=False)
    assert r.returncode == 1, r.stdout
    out = r.stdout
    assert f"variant {v} at warehouse {shop.warehouse}: reserved 3 but" in out
    assert f"order {o['id']}:" in out and "captured" in out
    assert f"user {b.user['id']}: store credit balance -500" in out
    assert "3 problems found" in out


def test_backup_on_postgres_points_at_pg_dump(make_server):
    if not PG_BASE:
        pytest.skip("PostgreSQL only")
    s = make_server()
    r = s.cli("backup", os.path.join(s.dir, "x.db"), check=False)
    assert r.returncode == 2 and "pg_dump" in r.stderr


def test_commands_that_read_a_shop_refuse_a_database_file_that_does_not_exist(tmp_path):
    """A mistyped --db (or a forgotten one, from the wrong directory) is not an
    empty shop: backup used to report "backed up" a new empty file, and
    doctor, export and analytics rebuild to create one and ask for a
    migration. Each must fail and create nothing. (migrate, seed, serve,
    import and user create make a new shop: they migrate what they open.)"""
    missing = tmp_path / "no-such-shop.db"
    dest = tmp_path / "copy.db"
    env = dict(os.environ, SHOPD_LOG_LEVEL="off")
    env.pop("SHOPD_DB", None)
    r = subprocess.run([BIN, "backup", str(dest), "--db", str(missing)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "backed up" not in r.stdout
    assert "no such database" in r.stderr
    r = subprocess.run([BIN, "doctor", "--db", str(missing)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no such database" in r.stderr
    month = ["--from", "2026-01-01", "--to", "2026-01-31"]
    for verb in (["export", "products", "--out", str(dest)],
                 ["export", "orders", *month, "--out", str(dest)], ["analytics", "rebuild"]):
        r = subprocess.run([BIN, *verb, "--db", str(missing)], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 2 and "no such database" in r.stderr, (verb, r.stderr)
    assert not missing.exists() and not dest.exists()


def test_doctor_on_a_newer_schema_says_so(make_server):
    """A database migrated by a newer shopd: doctor must not tell the operator
    to run `shopd migrate` (this binary has nothing to apply) but say the
    database is newer than the binary."""
    if PG_BASE:
        pytest.skip("the planted version is written with SQLite")
    s = make_server()
    s.stop()
    db = s.database()
    latest = db.scalar("SELECT max(version) FROM schema_migrations")
    db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)",
               (latest + 1,))
    r = s.cli("doctor", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "newer" in r.stderr, r.stderr
    assert "run shopd migrate" not in r.stderr, r.stderr
