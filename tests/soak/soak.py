#!/usr/bin/python3
"""make soak: a long crash loop (issue 17). Mixed load against a real shopd
— checkouts, cancellations (whole orders and single lines, which refund),
flash-sale purchases, cart writes — while the server is SIGKILLed at random
moments and started again, --kills times (default 100). Then, once the shop
has settled what the kills left (reconciliation, refund retries, expired
holds), the invariants:

  - no acknowledged order lost: every order answered 201 exists, is paid or
    further on, or cancelled when its cancellation was answered 200;
  - the shop's invariants (tests/api/saga_faults.check_invariants, shared
    with the fault sweeps and generalising the storm test's checks): no
    half order, no charge without an order and never two captures for one
    (the simulated gateway's books), no refund twice, stock conserved per
    variant and accounted per warehouse, flash-sale units never oversold;
  - idempotency keys answer the same: every acknowledged checkout and
    flash-sale purchase, asked again with its key, names the same order;
  - `shopd doctor` finds nothing.

The backend is SQLite unless SHOPD_TEST_PG names a PostgreSQL server (run it
under scripts/pgtmp.sh, as `make soak` does after the SQLite run). The binary is SHOPD_BIN or
./shopd. Prints one summary line (kills, orders, duration, result) and exits
nonzero on any failure.
"""
import argparse
import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))

from conftest import BACKEND, BIN, Server, uid, wait_for  # noqa: E402
from saga_faults import check_invariants  # noqa: E402
from shop_fixtures import Buyer, Shop  # noqa: E402
from test_flash_sales import iso  # noqa: E402

ENV = {"SHOPD_HOUSEKEEPING_MS": "100", "SHOPD_PAYMENT_DEADLINE": "2",
       "SHOPD_FLASH_TICK_MS": "20", "SHOPD_GATEWAY_BACKOFF_MS": "0",
       "SHOPD_BREAKER_FAILURES": "100000", "SHOPD_LOG_LEVEL": "error",
       # Buyers come back after a kill at once: no rate limit in their way.
       "SHOPD_RATE_LIMIT": "off"}

STOCK = 1_000_000
FLASH_UNITS = 150


class Books:
    """What the clients were told (2xx answers only), from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.orders = {}      # order id → (buyer, key, body) of the acknowledged checkout
        self.cancelled = set()
        self.flash = {}       # order id → (buyer, key, token)
        self.counts = {}

    def note(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1


def checkout_body(b):
    return {"shipping_address_id": b.address, "payments": [{"payment_method_id": b.card}],
            "shipping_method": "standard"}


def shopper(s, b, variants, books, rng, stop):
    """One customer's loop: cart writes, checkouts, cancellations."""
    mine = []
    while not stop.is_set():
        try:
            act = rng.random()
            if act < 0.15:  # cart writes: add, change, remove
                r = b.add(rng.choice(variants), rng.randint(1, 3))
                if r.status == 201:
                    books.note("cart")
                    lines = s.get("/v1/cart", token=b.token).get("lines", [])
                    if lines:
                        line = rng.choice(lines)
                        if rng.random() < 0.5:
                            s.patch(f"/v1/cart/lines/{line['id']}", {"quantity": 1}, token=b.token)
                        else:
                            s.delete(f"/v1/cart/lines/{line['id']}", token=b.token)
            elif act < 0.75 or not mine:  # checkout
                for v in rng.sample(variants, rng.randint(1, 2)):
                    b.add(v, 1)
                key = "soak-" + uid()
                body = checkout_body(b)
                r = s.post("/v1/orders", body, token=b.token, headers={"Idempotency-Key": key})
                if r.status == 201:
                    with books.lock:
                        books.orders[r["id"]] = (b, key, body)
                    books.note("checkout")
                    mine.append(r["id"])
            else:  # cancel a whole order, or one line (a partial refund)
                oid = mine.pop(rng.randrange(len(mine)))
                doc = s.get(f"/v1/orders/{oid}", token=b.token)
                if doc.status != 200 or doc["status"] != "paid":
                    continue
                open_lines = [l["id"] for l in doc["lines"] if l["status"] == "open"]
                body = {}
                if len(open_lines) > 1 and rng.random() < 0.5:
                    body = {"line_ids": [open_lines[0]]}
                    mine.append(oid)
                r = s.post(f"/v1/orders/{oid}/cancel", body, token=b.token)
                if r.status == 200:
                    books.note("cancel_line" if body else "cancel")
                    if r["status"] == "cancelled":
                        with books.lock:
                            books.cancelled.add(oid)
        except Exception:  # the server died under us: try again
            time.sleep(0.02)


def flash_buyer(s, sale, b, books, stop):
    """Joins the sale's room once, and buys when admitted."""
    key, token = "fs-" + uid(), None
    while not stop.is_set():
        try:
            if token is None:
                j = s.post(f"/v1/flash-sales/{sale}/queue", token=b.token)
                if j.status == 409:  # sold out or over
                    return
                me = s.get(f"/v1/flash-sales/{sale}/queue/me", token=b.token)
                token = me.get("token")
                if token is None:
                    if me.get("status") in ("purchased", "expired"):
                        return
                    time.sleep(0.05)
                    continue
            r = s.post(f"/v1/flash-sales/{sale}/purchase",
                       {"token": token, "shipping_address_id": b.address,
                        "payment_method_id": b.card},
                       token=b.token, headers={"Idempotency-Key": key})
            if r.status == 201:
                with books.lock:
                    books.flash[r["id"]] = (b, key, token)
                books.note("flash")
                return
            if r.status in (403, 409, 410):
                return
            token = None if r.status == 403 else token
        except Exception:
            time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--shoppers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--min-run", type=float, default=0.3, help="seconds of load before a kill")
    ap.add_argument("--max-run", type=float, default=0.9)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    began = time.time()

    s = Server(ENV).start()
    failed = True
    books = Books()
    try:
        shop = Shop(s)
        variants = [shop.product(price=rng.choice((700, 1500, 2599)), stock=STOCK)
                    ["variants"][0]["id"] for _ in range(3)]
        fp = shop.product(price=5000, stock=1000)
        fv = fp["variants"][0]["id"]
        sale = s.post("/v1/admin/flash-sales",
                      {"variant_id": fv, "quantity": FLASH_UNITS, "price_cents": 999,
                       "starts_at": iso(0), "ends_at": iso(86400), "per_customer_limit": 1,
                       "admit_per_second": 50}, token=shop.admin)
        assert sale.status == 201, sale
        with ThreadPoolExecutor(16) as ex:
            shoppers = list(ex.map(lambda _: Buyer(s), range(args.shoppers)))
            # More flash buyers than units: the sale sells out under the kills.
            waiting = list(ex.map(lambda _: Buyer(s), range(FLASH_UNITS * 3)))

        kills = 0
        for _ in range(args.kills):
            stop = threading.Event()
            threads = [threading.Thread(target=shopper,
                                        args=(s, b, variants, books, random.Random(rng.random()),
                                              stop)) for b in shoppers]
            for _ in range(8):
                if waiting:
                    threads.append(threading.Thread(target=flash_buyer,
                                                    args=(s, sale["id"], waiting.pop(), books,
                                                          stop)))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(args.min_run, args.max_run))
            s.kill()
            kills += 1
            stop.set()
            for t in threads:
                t.join()
            s.start()

        # The shop settles what the kills left; then every invariant.
        check_invariants(s, {**{v: STOCK for v in variants}, fv: 1000})
        db = s.database()
        statuses = dict(db.query("SELECT id, status FROM orders"))
        for oid in list(books.orders) + list(books.flash):
            st = statuses.get(oid)
            assert st is not None, f"acknowledged order {oid} is lost"
            if oid in books.cancelled:
                assert st == "cancelled", f"order {oid} was cancelled (200) and is {st}"
            else:
                assert st not in ("pending_payment",), f"acknowledged order {oid} is {st}"
        # The same key, the same order.
        for oid, (b, key, body) in books.orders.items():
            r = s.post("/v1/orders", body, token=b.token, headers={"Idempotency-Key": key})
            assert r.status in (200, 201) and r["id"] == oid, (oid, r)
        for oid, (b, key, token) in books.flash.items():
            r = s.post(f"/v1/flash-sales/{sale['id']}/purchase",
                       {"token": token, "shipping_address_id": b.address,
                        "payment_method_id": b.card},
                       token=b.token, headers={"Idempotency-Key": key})
            assert r.status in (200, 201) and r["id"] == oid, (oid, r)
        sold = s.get(f"/v1/flash-sales/{sale['id']}")["sold"]
        assert sold <= FLASH_UNITS and sold >= len(books.flash), (sold, len(books.flash))
        s.stop()
        doctor = subprocess.run([BIN, "doctor", "--db", s.db], capture_output=True, text=True,
                                env=s.env)
        assert doctor.returncode == 0, f"shopd doctor: {doctor.stdout}{doctor.stderr}"
        failed = False
        print(f"soak ({BACKEND}): {kills} kills, {len(statuses)} orders"
              f" ({len(books.orders)} checkouts and {len(books.flash)} flash-sale purchases"
              f" acknowledged, {len(books.cancelled)} cancelled; {sold} of {FLASH_UNITS} flash"
              f" units sold), {books.counts}, {time.time() - began:.0f} s: PASS")
    except AssertionError as e:
        print(f"soak ({BACKEND}): FAIL after {time.time() - began:.0f} s: {e}"
              f" (logs in {s.dir})", file=sys.stderr)
    finally:
        if not failed:
            s.cleanup()
        else:
            s.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
