#!/usr/bin/env python3
"""Fulfil benchmark (issue 11): 10,000 paid orders, each fulfilled by an
admin POST /v1/admin/orders/{id}/fulfil from 16 connections (wrk); reports
orders fulfilled per second and p99, beside the checkout rate that placed
them in the same run. Every fulfil records its shipment, asks the simulated
carrier for a label (a write of its own) and records the tracking number.

usage: bench/fulfil.py [ORDERS]   (run by bench/run.py)
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the shared helpers: Shopd, wrk, paths)

ORDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 10000


def main():
    out = os.path.join(run.OUT, "fulfil")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "fulfil.db")
    for f in (db + s for base in ("", "-gateway.db") for s in (base, base + "-wal", base + "-shm")):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([run.SHOPD, "seed", "--products", "1000", "--users", "100", "--db", db],
                   check=True, stdout=subprocess.DEVNULL)
    buyers = ORDERS + ORDERS // 5
    subprocess.run([sys.executable, os.path.join(run.BENCH, "setup_buyers.py"), db, out,
                    str(buyers), "0"], check=True)
    subprocess.run([run.SHOPD, "user", "create", "--email", "fulfil-admin@bench.local",
                    "--password", "fulfil-admin-pass", "--role", "admin", "--db", db],
                   check=True, stdout=subprocess.DEVNULL)
    srv = run.Shopd(db, {"SHOPD_RATE_LIMIT": "off", "SHOPD_FRAUD": "off"})
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.request("POST", "/v1/auth/login", json.dumps({"email": "fulfil-admin@bench.local",
                                                        "password": "fulfil-admin-pass"}),
                  {"Content-Type": "application/json"})
        admin = json.loads(c.getresponse().read())["token"]

        def paid():
            con = sqlite3.connect(db)
            try:
                return [r[0] for r in con.execute(
                    "SELECT id FROM orders WHERE status = 'paid' ORDER BY id")]
            finally:
                con.close()
        placed, first = [], 0
        while len(placed) < 30 and len(paid()) < ORDERS:  # place them with the checkout load
            m = run.wrk_once(srv.url, 3, "checkout.lua",
                             [os.path.join(out, "buyers.csv"), str(first)])
            first += m["total"]
            placed.append(m)
        ids = paid()[:ORDERS]
        assert len(ids) == ORDERS, f"only {len(ids)} paid orders"
        with open(os.path.join(out, "orders.txt"), "w") as f:
            f.write("\n".join(map(str, ids)) + "\n")
        checkout = max(placed, key=lambda m: m["ok_rps"])

        t0 = time.time()
        m = run.wrk_once(srv.url, 120, "fulfil.lua", [os.path.join(out, "orders.txt"), admin],
                         connections=16)
        wall = time.time() - t0
        con = sqlite3.connect(db)
        shipped = con.execute("SELECT count(DISTINCT order_id) FROM shipments"
                              " WHERE tracking_number IS NOT NULL").fetchone()[0]
        statuses = dict(con.execute("SELECT status, count(*) FROM orders GROUP BY status"))
        con.close()
        ok = m["total"] - m["non2xx"]
        print(f"| POST /v1/admin/orders/{{id}}/fulfil, {ORDERS:,} paid orders, 16 connections |"
              f" {m['ok_rps']:,.0f} orders/s | p50 {m['p50']:.2f} ms | p99 {m['p99']:.2f} ms |"
              f" target ≥ 2,000 orders/s |")
        print(f"| reference: POST /v1/orders placing them, same server, 64 connections |"
              f" {checkout['ok_rps']:,.0f} orders/s | p50 {checkout['p50']:.2f} ms |"
              f" p99 {checkout['p99']:.2f} ms | |")
        print(f"fulfil: {ok:,} answered 201 ({m['non2xx']} past the end answered 409) in"
              f" {wall:.1f} s; {shipped:,} orders have a labelled shipment; orders by status"
              f" {statuses}")
        assert shipped == ORDERS, f"{shipped} of {ORDERS} orders shipped"
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
