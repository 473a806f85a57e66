#!/usr/bin/env python3
"""Analytics benchmark (OPS-2): a year's report over 1,000,000 orders.

The history is made the way a shop that upgrades would have it: 1,000,000
paid orders (1–3 lines over 1,000 products of 50 sellers, paid_at spread
over the last 365 days) and refunds for 2 % of them are written straight into
the orders tables, then `shopd analytics rebuild` folds them into the daily
rollups through the same code the outbox consumer runs. The report for the
year is checked against sums computed here from the orders, then wrk
measures GET /v1/admin/analytics for 365 days shop-wide and for one seller
(which includes top products), beside two references measured in the same
run: the same report for one day, and nginx serving a static file.

usage: bench/analytics.py [ORDERS]   (run by bench/run.py; target p99 < 20 ms)
"""
import datetime
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

import_csv = __import__("import")  # bench/import.py: its product CSV generator

ORDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
PRODUCTS, SELLERS, DAY_MS = 1000, 50, 86400000


def seed_orders(db, pids, owner, n):
    """Paid orders, their lines and some refunds; returns the sums a report
    for the year must show (shop-wide and for the first seller)."""
    rng = random.Random(11)
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous = OFF")
    uid = con.execute("SELECT id FROM users WHERE role = 'admin'").fetchone()[0]
    want = {"orders": 0, "revenue_cents": 0, "refunds_cents": 0, "units": 0}
    first = sorted(set(owner.values()))[0]
    mine = {"orders": 0, "revenue_cents": 0, "units": 0}
    oid = con.execute("SELECT coalesce(max(id), 0) FROM orders").fetchone()[0]
    lid = con.execute("SELECT coalesce(max(id), 0) FROM order_lines").fetchone()[0]
    chunk = 50000
    for start in range(0, n, chunk):
        orders, lines, refunds = [], [], []
        for _ in range(min(chunk, n - start)):
            oid += 1
            # Whole days back, plus an hour inside the day: nothing falls on tomorrow.
            paid = now - rng.randrange(1, 364) * DAY_MS - rng.randrange(0, 3600000)
            sub, units, seller_cents, seller_units = 0, 0, 0, 0
            for _ in range(rng.choice((1, 1, 2, 3))):
                p = pids[int(rng.paretovariate(1.2)) % len(pids)]
                q, price = rng.randint(1, 3), rng.randint(500, 20000)
                lid += 1
                lines.append((lid, oid, p, p, f"SKU{p}", f"Product {p}", "{}", q, price, 0))
                sub += q * price
                units += q
                if owner[p] == first:
                    seller_cents += q * price
                    seller_units += q
            total = sub + 499
            refunded = rng.randint(1, total) if rng.random() < 0.02 else 0
            orders.append((oid, uid, total, refunded, f"bench-{oid}", paid - 5000, paid, paid))
            want["orders"] += 1
            want["revenue_cents"] += total
            want["units"] += units
            if seller_units:
                mine["orders"] += 1
                mine["revenue_cents"] += seller_cents
                mine["units"] += seller_units
            if refunded:
                refunds.append((oid, refunded, paid + 60000, paid + 60000))
                want["refunds_cents"] += refunded
        con.executemany(
            "INSERT INTO orders (id, user_id, status, currency, subtotal_cents, shipping_cents,"
            " tax_cents, total_cents, refunded_cents, refund_status, shipping_method, ship_name,"
            " ship_line1, ship_city, ship_postal, ship_country, idempotency_key, created_at,"
            " updated_at, paid_at) VALUES (?, ?, 'delivered', 'USD', ?, 499, 0, ?, ?,"
            " CASE WHEN ?5 = 0 THEN 'none' WHEN ?5 < ?4 THEN 'partially_refunded' ELSE 'refunded' END,"
            " 'standard', 'Bench Buyer', '1 Bench St', 'Springfield', '12345', 'US', ?, ?, ?, ?)",
            [(o[0], o[1], o[2] - 499, o[2], o[3], o[4], o[5], o[6], o[7]) for o in orders])
        con.executemany(
            "INSERT INTO order_lines (id, order_id, product_id, variant_id, sku, title, options,"
            " quantity, unit_price_cents, tax_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", lines)
        con.execute("UPDATE order_lines SET seller_id = (SELECT p.seller_id FROM products p"
                    " WHERE p.id = order_lines.product_id) WHERE seller_id IS NULL")
        con.executemany(
            "INSERT INTO refunds (order_id, amount_cents, reason, status, created_at, updated_at)"
            " VALUES (?, ?, 'bench', 'succeeded', ?, ?)", refunds)
        con.commit()
    con.close()
    return want, first, mine


def main():
    out = os.path.join(run.OUT, "analytics")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "analytics.db")
    for s in ("", "-wal", "-shm"):
        if os.path.exists(db + s):
            os.remove(db + s)
    env = dict(os.environ, SHOPD_LOG_LEVEL="warn")
    shopd = lambda *a: subprocess.run([run.SHOPD, *a, "--db", db], check=True, env=env,  # noqa: E731
                                      capture_output=True, text=True).stdout
    shopd("user", "create", "--email", "admin@bench.test", "--password", "bench-password",
          "--role", "admin")
    for i in range(SELLERS):
        shopd("user", "create", "--email", f"seller{i}@bench.test", "--password", "bench-password",
              "--role", "seller")
    csv_path = os.path.join(out, "products.csv")
    import_csv.generate(csv_path, PRODUCTS)
    shopd("import", "products", csv_path)
    con = sqlite3.connect(db)
    sellers = [r[0] for r in con.execute("SELECT id FROM users WHERE role = 'seller' ORDER BY id")]
    pids = [r[0] for r in con.execute("SELECT id FROM products ORDER BY id")]
    owner = {p: sellers[i % len(sellers)] for i, p in enumerate(pids)}
    con.executemany("UPDATE products SET seller_id = ? WHERE id = ?", [(s, p) for p, s in owner.items()])
    con.commit()
    con.close()

    t0 = time.time()
    want, first, mine = seed_orders(db, pids, owner, ORDERS)
    seed_s = time.time() - t0
    t0 = time.time()
    rebuilt = shopd("analytics", "rebuild").strip()
    rebuild_s = time.time() - t0

    today = datetime.datetime.now(datetime.timezone.utc).date()
    frm, to = (today - datetime.timedelta(days=364)).isoformat(), today.isoformat()
    srv = run.Shopd(db, {"SHOPD_RATE_LIMIT": "off"})
    nginx = None
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.request("POST", "/v1/auth/login", json.dumps({"email": "admin@bench.test",
                                                         "password": "bench-password"}),
                  {"Content-Type": "application/json"})
        token = json.loads(c.getresponse().read())["token"]
        path = f"/v1/admin/analytics?from={frm}&to={to}"
        c.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        body = json.loads(r.read())
        assert r.status == 200, body
        for k, v in want.items():
            assert body["totals"][k] == v, (k, body["totals"], want)
        spath = path + f"&seller_id={first}"
        c.request("GET", spath, headers={"Authorization": "Bearer " + token})
        sb = json.loads(c.getresponse().read())
        for k, v in mine.items():
            assert sb["totals"][k] == v, (k, sb["totals"], mine)
        assert len(body["top_products"]) == 10 and body["top_products"][0]["units"] > 0
        dpath = f"/v1/admin/analytics?from={to}&to={to}"
        nginx = run.Nginx(json.dumps(body).encode())
        res = {}
        for rnd in range(3):  # alternate the scenarios: A B C D, A B C D, …
            for name, url, script, args in (
                    ("year", srv.url, "analytics.lua", [token, path]),
                    ("seller", srv.url, "analytics.lua", [token, spath]),
                    ("day", srv.url, "analytics.lua", [token, dpath]),
                    ("nginx", nginx.url, None, [])):
                res.setdefault(name, []).append(run.wrk_once(url, 5, script, args, connections=16))
    finally:
        srv.stop()
        if nginx:
            nginx.stop()
    med = {n: {k: sorted(x[k] for x in v)[1] for k in ("ok_rps", "p50", "p99")} for n, v in res.items()}
    print(f"\n## Analytics (bench/analytics.py)\n\n"
          f"{ORDERS:,} paid orders over 365 days (1,000 products, 50 sellers, 2 % refunded) written"
          f" in {seed_s:.0f} s, then `shopd analytics rebuild` in {rebuild_s:.0f} s"
          f" ({ORDERS / rebuild_s:,.0f} orders/s: {rebuilt}); the year's totals equal the sums of"
          f" the orders. wrk -c16, 5 s × 3 alternated rounds, medians:\n\n"
          f"| GET | req/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for n, label in (("year", "/v1/admin/analytics, 365 days, shop-wide"),
                     ("seller", "the same, one seller"), ("day", "reference: the same, one day"),
                     ("nginx", "reference: nginx, the year's report as a static file")):
        m = med[n]
        print(f"| {label} | {m['ok_rps']:,.0f} | {m['p50']:.2f} | {m['p99']:.2f} |")
    print("\ntarget: p99 < 20 ms for 365 days\n")


if __name__ == "__main__":
    main()
