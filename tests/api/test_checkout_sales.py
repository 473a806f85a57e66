"""Products' sales counts after checkout: folded from paid orders by the
"sales" outbox consumer (src/work/sales_fold.h), not counted in the order's
own transaction. A count follows its orders within the consumer's lag, each
paid unit exactly once (replays, declines and held orders add nothing until
paid), and a cancelled line takes its units off again."""
import time

import pytest

from conftest import uid
from shop_fixtures import Buyer, Shop

ENV = {"SHOPD_HOUSEKEEPING_MS": "100", "SHOPD_GATEWAY_BACKOFF_MS": "5"}


@pytest.fixture(scope="module")
def srv(request):
    from conftest import Server
    s = Server(ENV).start()
    request.addfinalizer(s.cleanup)
    return s


@pytest.fixture(scope="module")
def shop(srv):
    return Shop(srv)


def sales(srv, product_id):
    return srv.get(f"/v1/products/{product_id}")["sales_count"]


def settles_at(srv, product_id, want, timeout=10):
    """The product page's count once it reaches `want`; then it must stay."""
    deadline = time.time() + timeout
    while time.time() < deadline and sales(srv, product_id) != want:
        time.sleep(0.05)
    assert sales(srv, product_id) == want
    time.sleep(0.5)  # a second fold of the same orders would show by now
    assert sales(srv, product_id) == want, "each order is counted once"


def test_paid_orders_are_counted_once_each(srv, shop):
    p = shop.product(stock=50)
    vid = p["variants"][0]["id"]
    assert sales(srv, p["id"]) == 0
    for q in (2, 1, 3):
        r = Buyer(srv).buy(vid, q)
        assert r.status == 201 and r["status"] == "paid", r
    settles_at(srv, p["id"], 6)


def test_many_orders_of_many_products_fold_exactly(srv, shop):
    """Several orders of two products in the same slices: one update per
    product per slice must still add every order's quantity."""
    a, b = shop.product(stock=100), shop.product(stock=100)
    va, vb = a["variants"][0]["id"], b["variants"][0]["id"]
    want_a = want_b = 0
    for i in range(12):
        buyer = Buyer(srv)
        assert buyer.add(va, 1 + i % 3).status == 201
        want_a += 1 + i % 3
        if i % 2:
            assert buyer.add(vb, 2).status == 201
            want_b += 2
        r = buyer.checkout()
        assert r.status == 201, r
    settles_at(srv, a["id"], want_a)
    settles_at(srv, b["id"], want_b)


def test_replays_and_declines_add_nothing(srv, shop):
    p = shop.product(stock=20)
    vid = p["variants"][0]["id"]
    b = Buyer(srv)
    key = "k-" + uid()
    b.add(vid, 2)
    first = b.checkout(key=key)
    assert first.status == 201, first
    again = b.checkout(key=key)
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true", again
    declined = Buyer(srv, "declined")
    declined.add(vid, 4)
    assert declined.checkout().status == 402
    settles_at(srv, p["id"], 2)


def test_a_cancelled_order_takes_its_units_off(srv, shop):
    p = shop.product(stock=20)
    vid = p["variants"][0]["id"]
    keep = Buyer(srv).buy(vid, 3)
    assert keep.status == 201, keep
    b = Buyer(srv)
    o = b.buy(vid, 2)
    assert o.status == 201, o
    settles_at(srv, p["id"], 5)
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token)
    assert r.status == 200 and r["status"] == "cancelled", r
    settles_at(srv, p["id"], 3)


def test_a_burst_of_orders_is_counted_and_logged_once_each(srv, shop):
    """Orders placed concurrently reach the consumers in slices of many
    events: every unit is counted once, and every order's events are in its
    log once each, in order (the log is written many rows per statement)."""
    from concurrent.futures import ThreadPoolExecutor
    p = shop.product(stock=200)
    vid = p["variants"][0]["id"]
    buyers = [Buyer(srv) for _ in range(30)]
    for i, b in enumerate(buyers):
        assert b.add(vid, 1 + i % 2).status == 201
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda b: b.checkout(), buyers))
    assert all(r.status == 201 for r in answers), [r.status for r in answers]
    settles_at(srv, p["id"], sum(1 + i % 2 for i in range(30)))
    for r in answers:
        deadline = time.time() + 10
        while True:
            got = [e["topic"] for e in srv.get(f"/v1/admin/orders/{r['id']}/events",
                                               token=shop.admin)["data"]]
            if got == ["order.placed", "order.confirmed"] or time.time() > deadline:
                break
            time.sleep(0.05)
        assert got == ["order.placed", "order.confirmed"], (r["id"], got)


def writer_statements(srv):
    import re
    text = srv.get("/metrics").body
    return int(re.search(r"^shopd_store_writer_statements_total (\d+)$", text, re.M).group(1))


def test_the_writers_statements_are_counted(srv, shop):
    """shopd_store_writer_statements_total: what an order costs the writer,
    on either backend (a checkout is dozens of statements, not none)."""
    p = shop.product(stock=5)
    b = Buyer(srv)
    assert b.add(p["variants"][0]["id"]).status == 201
    before = writer_statements(srv)
    assert b.checkout().status == 201
    assert writer_statements(srv) - before >= 20
