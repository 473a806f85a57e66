"""Concurrency on the purchase path: never oversell, never charge twice,
lose nothing when the server is killed at random moments."""
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from conftest import Server, at_once
from shop_fixtures import Buyer, Shop, stock_of

ENV = {"SHOPD_HOUSEKEEPING_MS": "100", "SHOPD_PAYMENT_DEADLINE": "2"}


def audit_sums(server, variant_id):
    """(units reserved, released, consumed) according to the audit log."""
    rows = server.database().query("SELECT kind, sum(reserved_after - reserved_before),"
                                   " sum(on_hand_before - on_hand_after) FROM stock_movements"
                                   " WHERE variant_id = ? GROUP BY kind", (variant_id,))
    return {k: (int(r), int(h)) for k, r, h in rows}


def test_200_buyers_50_units(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    p = shop.product(price=1999, stock=50)
    vid = p["variants"][0]["id"]
    with ThreadPoolExecutor(32) as ex:
        buyers = list(ex.map(lambda _: Buyer(s), range(200)))
        assert all(b.add(vid).status == 201 for b in buyers)
    results = at_once(lambda b: b.checkout(), buyers)
    codes = [r.status for r in results]
    assert codes.count(201) == 50 and codes.count(409) == 150, sorted(set(codes))
    assert all(r["status"] == "paid" for r in results if r.status == 201)
    assert stock_of(s, shop, vid) == {"on_hand": 0, "reserved": 0, "available": 0}
    sums = audit_sums(s, vid)
    assert sums["reserve"][0] == 50 and sums["consume"] == (-50, 50)
    assert "release" not in sums
    db = s.database()
    assert db.scalar("SELECT count(*) FROM orders WHERE status = 'paid'") == 50
    low_on_hand, low_reserved = db.one("SELECT min(on_hand), min(reserved) FROM stock")
    assert low_on_hand >= 0 and low_reserved >= 0
    assert s.gateway_database().scalar(
        "SELECT count(*) FROM gw_sim_charges WHERE status = 'captured'") == 50


def test_same_key_twenty_times_at_once(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    p = shop.product(stock=10)
    b = Buyer(s)
    b.add(p["variants"][0]["id"])
    key = "same-" + uuid.uuid4().hex
    start = threading.Barrier(20)

    def go(_):
        start.wait(timeout=10)
        return b.checkout(key=key)

    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(go, range(20)))
    ok = [r for r in results if r.status == 201]
    assert ok and all(r.status in (201, 409) for r in results), [r.status for r in results]
    assert len({r["id"] for r in ok}) == 1, "one order"
    assert s.database().scalar("SELECT count(*) FROM orders") == 1
    assert s.gateway_database().scalar("SELECT count(*) FROM gw_sim_charges") == 1, "one charge"
    assert stock_of(s, shop, p["variants"][0]["id"])["on_hand"] == 9


def test_checkout_storm_with_sigkills(make_server):
    """Checkouts run while the server is SIGKILLed at random moments (≥ 20
    times). Afterwards: every 201 has its order; gateway captures equal
    paid orders; initial stock = on hand + units sold; no reservation left."""
    initial = 100000
    s = make_server(ENV)
    shop = Shop(s)
    p = shop.product(price=1000, stock=initial)
    vid = p["variants"][0]["id"]
    with ThreadPoolExecutor(16) as ex:
        buyers = list(ex.map(lambda _: Buyer(s), range(24)))
    acked = {}
    lock = threading.Lock()
    rng = random.Random(7)

    def shopper(i, stop):
        b = buyers[i]
        while not stop.is_set():
            try:
                if b.add(vid).status != 201:
                    time.sleep(0.01)
                    continue
                r = b.checkout()
                if r.status == 201:
                    with lock:
                        acked[r["id"]] = r["status"]
            except Exception:  # the server died under us: try again
                time.sleep(0.02)

    kills = 0
    for _ in range(21):
        stop = threading.Event()
        threads = [threading.Thread(target=shopper, args=(i, stop)) for i in range(len(buyers))]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.6))
        s.kill()
        kills += 1
        stop.set()
        for t in threads:
            t.join()
        s.start()
    assert kills >= 20 and len(acked) > 20, (kills, len(acked))

    # Let reconciliation settle whatever the kills left behind.
    deadline = time.time() + 30
    while time.time() < deadline:
        pending = s.database().scalar("SELECT count(*) FROM orders WHERE status = 'pending_payment'")
        active = s.database().scalar("SELECT count(*) FROM reservations WHERE status = 'active'")
        if pending == 0 and active == 0:
            break
        time.sleep(0.2)
    assert pending == 0 and active == 0, "no reservation outlives the settling of its order"

    statuses = dict(s.database().query("SELECT id, status FROM orders"))
    for oid in acked:
        assert statuses.get(oid) == "paid", f"acknowledged order {oid} is {statuses.get(oid)}"
    paid = {oid for oid, st in statuses.items() if st == "paid"}
    captured = s.gateway_database().query("SELECT order_ref, count(*) FROM gw_sim_charges WHERE"
                                          " status = 'captured' GROUP BY order_ref")
    assert all(n == 1 for _, n in captured), "never two charges for one order"
    charged = {int(ref.split("-")[1]) for ref, _ in captured}
    assert charged == paid, "a charge for every paid order and no charge without one"
    sold = int(s.database().scalar("SELECT coalesce(sum(l.quantity), 0) FROM order_lines l"
                                   " JOIN orders o ON o.id = l.order_id WHERE o.status = 'paid'"))
    on_hand, reserved = s.database().one("SELECT sum(on_hand), sum(reserved) FROM stock"
                                         " WHERE variant_id = ?", (vid,))
    on_hand, reserved = int(on_hand), int(reserved)
    assert reserved == 0
    assert initial == on_hand + sold, (initial, on_hand, sold)
