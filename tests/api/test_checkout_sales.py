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
