#!/usr/bin/env python3
"""Fulfil benchmark (issue 11): 10,000 paid orders, fulfilled by admin
POST /v1/admin/orders/{id}/fulfil calls from 16 connections (wrk); reports
orders fulfilled per second and p99 over a measured window, beside the
checkout rate that placed them on the same server. Every fulfil records its
shipment, asks the simulated carrier for a label (a write of the carrier's
own) and records the tracking number. Orders the window did not reach are
fulfilled after it, and the script checks every order got its shipment.

usage: bench/fulfil.py [ORDERS]   (run by bench/run.py)
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the shared helpers: Shopd, wrk, paths)

ORDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
WINDOW = 1  # second: ends before the list does below 10,000 orders/s


def query(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def main():
    out = os.path.join(run.OUT, "fulfil")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "fulfil.db")
    for f in (db + s for base in ("", "-gateway.db") for s in (base, base + "-wal", base + "-shm")):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([run.SHOPD, "seed", "--products", "1000", "--users", "100", "--db", db],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(run.BENCH, "setup_buyers.py"), db, out,
                    str(ORDERS + ORDERS // 5), "0"], check=True)
    subprocess.run([run.SHOPD, "user", "create", "--email", "fulfil-admin@bench.local",
                    "--password", "fulfil-admin-pass", "--role", "admin", "--db", db],
                   check=True, stdout=subprocess.DEVNULL)
    srv = run.Shopd(db, {"SHOPD_RATE_LIMIT": "off", "SHOPD_FRAUD": "off"})
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)

        def call(path, body, token=None, key=None):
            h = {"Content-Type": "application/json"}
            if token:
                h["Authorization"] = "Bearer " + token
            if key:
                h["Idempotency-Key"] = key
            c.request("POST", path, json.dumps(body), h)
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        _, login = call("/v1/auth/login", {"email": "fulfil-admin@bench.local",
                                           "password": "fulfil-admin-pass"})
        admin = login["token"]

        def paid():
            return [r[0] for r in query(db, "SELECT id FROM orders WHERE status = 'paid'"
                                            " ORDER BY id")]
        placed, first = [], 0
        while len(placed) < 30 and len(paid()) < ORDERS:  # placed by the checkout load
            m = run.wrk_once(srv.url, 3, "checkout.lua",
                             [os.path.join(out, "buyers.csv"), str(first)])
            first += m["total"]
            placed.append(m)
        ids = paid()[:ORDERS]
        assert len(ids) == ORDERS, f"only {len(ids)} paid orders"
        with open(os.path.join(out, "orders.txt"), "w") as f:
            f.write("\n".join(map(str, ids)) + "\n")
        checkout = max(placed, key=lambda x: x["ok_rps"])

        m = run.wrk_once(srv.url, WINDOW, "fulfil.lua",
                         [os.path.join(out, "orders.txt"), admin, "0"], connections=16)
        wanted, rest = set(ids), 0
        for oid in paid():
            if oid in wanted:
                st, _ = call(f"/v1/admin/orders/{oid}/fulfil", {}, admin, f"rest-{oid}")
                assert st == 201, (oid, st)
                rest += 1
        shipped = query(db, "SELECT count(DISTINCT order_id) FROM shipments"
                            " WHERE tracking_number IS NOT NULL")[0][0]
        statuses = dict(query(db, "SELECT status, count(*) FROM orders GROUP BY status"))
        ok = m["total"] - m["non2xx"]
        print(f"| POST /v1/admin/orders/{{id}}/fulfil, {ORDERS:,} paid orders, 16 connections |"
              f" {m['ok_rps']:,.0f} orders/s | p50 {m['p50']:.2f} ms | p99 {m['p99']:.2f} ms |"
              f" target ≥ 2,000 orders/s |")
        print(f"| reference: POST /v1/orders placing them, same server, 64 connections |"
              f" {checkout['ok_rps']:,.0f} orders/s | p50 {checkout['p50']:.2f} ms |"
              f" p99 {checkout['p99']:.2f} ms | |")
        print(f"\nfulfil: {ok:,} orders fulfilled in the {WINDOW} s window"
              f" ({m['non2xx']} non-2xx{': the list ran out, the rate is a floor' if m['non2xx'] else ''}),"
              f" {rest:,} after it; {shipped:,} orders have a labelled shipment; orders by"
              f" status {statuses}\n")
        assert shipped == ORDERS, f"{shipped} of {ORDERS} orders shipped"
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
