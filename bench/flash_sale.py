#!/usr/bin/env python3
"""Flash-sale benchmark (issue 5): 100,000 buyers join the waiting room of a
sale of 1,000 units; the admitted ones buy as soon as they hold a token.
Reports join throughput and p99 (wrk), purchase p99, the time from the sale's
start until it sold out, the number of orders (must be exactly 1,000), and
GET /v1/products/{id} p99 on another product while the sale runs.

usage: bench/flash_sale.py [BUYERS] [UNITS]   (run by bench/run.py)
"""
import datetime
import http.client
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the shared helpers: Shopd, wrk, paths)

BUYERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
UNITS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None, token=None, headers=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        t0 = time.perf_counter()
        self.c.request(method, path, json.dumps(body) if body is not None else None, h)
        r = self.c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None, (time.perf_counter() - t0) * 1000


def main():
    out = os.path.join(run.OUT, "flash")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "flash.db")
    for f in (db + suffix for base in ("", "-gateway.db") for suffix in (base, base + "-wal", base + "-shm")):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([run.SHOPD, "seed", "--products", "1000", "--users", "100", "--db", db],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(run.BENCH, "setup_buyers.py"), db, out, str(BUYERS), "0"],
                   check=True)
    subprocess.run([run.SHOPD, "user", "create", "--email", "flash-admin@bench.local", "--password",
                    "flash-admin-pass", "--role", "admin", "--db", db], check=True,
                   stdout=subprocess.DEVNULL)
    srv = run.Shopd(db, {"SHOPD_RATE_LIMIT": "off", "SHOPD_FLASH_TICK_MS": "20"})
    try:
        c = Client(srv.port)
        _, login, _ = c.call("POST", "/v1/auth/login", {"email": "flash-admin@bench.local",
                                                        "password": "flash-admin-pass"})
        admin = login["token"]
        products = [int(x) for x in open(os.path.join(out, "products.txt")).read().split()]
        _, page, _ = c.call("GET", f"/v1/products/{products[0]}")
        vid = page["variants"][0]["id"]
        c.call("PUT", f"/v1/inventory/{vid}/1", {"on_hand": UNITS * 2}, admin)
        start = time.time() + 3
        st, sale, _ = c.call("POST", "/v1/admin/flash-sales", {
            "variant_id": vid, "quantity": UNITS, "price_cents": 999, "starts_at": iso(start),
            "ends_at": iso(start + 3600), "per_customer_limit": 1, "admit_per_second": UNITS * 2}, admin)
        assert st == 201, sale
        sid = sale["id"]
        buyers = [line.strip().split(",") for line in open(os.path.join(out, "buyers.csv"))]

        # Everyone joins (the waiting room opens before the sale starts).
        cmd = ["wrk", "-t1", "-c64", f"-d{max(20, BUYERS // 2000)}s", "--latency", "-s",
               os.path.join(run.BENCH, "lua", "flash_join.lua"), srv.url, "--",
               os.path.join(out, "buyers.csv"), str(sid)]
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        lat = dict(re.findall(r"\s+(50|99)%\s+(\S+)", text))
        join = {"p50": run.to_ms(lat["50"]), "p99": run.to_ms(lat["99"])}
        with sqlite3.connect(db) as d:
            n, t0, t1 = d.execute("SELECT count(*), min(joined_at), max(joined_at) FROM flash_sale_queue"
                                  " WHERE sale_id = ?", (sid,)).fetchone()
        join["count"] = n
        join["rate"] = n / max(0.001, (t1 - t0) / 1000)

        # While it sells, measure another product's page.
        probe = {}

        def page_probe():
            probe.update(run.wrk_once(srv.url, 8, "products.lua", [os.path.join(out, "products.txt")]))

        prober = threading.Thread(target=page_probe)
        prober.start()

        # The admitted buy, in position order, until it is sold out.
        lat_buy, lock = [], threading.Lock()
        next_i = [0]
        done = threading.Event()

        def shopper():
            cl = Client(srv.port)
            while not done.is_set():
                with lock:
                    i = next_i[0]
                    next_i[0] += 1
                if i >= len(buyers):
                    return
                tok, addr, card = buyers[i]
                while not done.is_set():
                    st, e, _ = cl.call("GET", f"/v1/flash-sales/{sid}/queue/me", token=tok)
                    if e and e.get("token"):
                        break
                    if e and e.get("status") == "expired":
                        break
                    time.sleep(0.01)
                if not e or not e.get("token") or not e.get("held"):
                    continue  # admitted without a unit: all are held by earlier customers
                st, body, ms = cl.call("POST", f"/v1/flash-sales/{sid}/purchase",
                                       {"token": e["token"], "shipping_address_id": int(addr),
                                        "payment_method_id": int(card)}, tok,
                                       {"Idempotency-Key": f"flash-{i}"})
                with lock:
                    lat_buy.append(ms)

        threads = [threading.Thread(target=shopper) for _ in range(48)]
        for t in threads:
            t.start()
        deadline = time.time() + 120
        while time.time() < deadline:
            _, s, _ = c.call("GET", f"/v1/flash-sales/{sid}")
            if s["status"] == "sold_out":
                break
            time.sleep(0.05)
        done.set()
        for t in threads:
            t.join()
        prober.join()
        with sqlite3.connect(db) as d:
            orders = d.execute("SELECT count(*), max(paid_at) FROM orders WHERE flash_sale_id = ?"
                               " AND status = 'paid'", (sid,)).fetchone()
            started = d.execute("SELECT started_at FROM flash_sales WHERE id = ?", (sid,)).fetchone()[0]
        lat_buy.sort()
        p99 = lat_buy[int(len(lat_buy) * 0.99) - 1] if lat_buy else 0
        print(f"\n## Flash sale: {BUYERS:,} buyers, {UNITS:,} units\n")
        print(f"- joins: {join['count']:,} at {join['rate']:,.0f}/s, p50 {join['p50']:.2f} ms, p99 {join['p99']:.2f} ms")
        print(f"- sold out {(orders[1] - started) / 1000:.2f} s after the sale started; {orders[0]:,} orders"
              f" (exactly {UNITS:,}: {'yes' if orders[0] == UNITS else 'NO'})")
        print(f"- purchases: {len(lat_buy):,} attempts, p50 {statistics.median(lat_buy):.2f} ms, p99 {p99:.2f} ms")
        print(f"- GET /v1/products/{{id}} during the sale: {probe.get('ok_rps', 0):,.0f} req/s,"
              f" p99 {probe.get('p99', 0):.2f} ms (target < 20 ms)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
