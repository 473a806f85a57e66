"""The order a checkout answers is the order as stored.

Checkout renders its 201 from what its steps already hold instead of
reading the order back (shop/order_doc.h). Each test here places an order
of one kind and compares that answer, byte for byte as JSON, with
GET /v1/orders/{id} and with the key's replay: every field, timestamp and
id must be what the database holds."""
import datetime
import time

import pytest

from conftest import Server, uid
from shop_fixtures import ADDRESS, Buyer, Shop

# Fraud on: an order over 1,000.00 from a new account is held, any other
# order is approved. Housekeeping is slow enough that a payment whose
# outcome is unknown is still pending when the test reads it back.
ENV = {"SHOPD_FRAUD": "on", "SHOPD_FRAUD_NEW_ACCOUNT_HOURS": "24",
       "SHOPD_FRAUD_HIGH_VALUE_CENTS": "100000", "SHOPD_FRAUD_POINTS_NEW_ACCOUNT": "50",
       "SHOPD_FRAUD_HOLD_SCORE": "50", "SHOPD_FRAUD_REJECT_SCORE": "100",
       "SHOPD_HOUSEKEEPING_MS": "60000", "SHOPD_GATEWAY_BACKOFF_MS": "5",
       "SHOPD_FLASH_TICK_MS": "20"}


@pytest.fixture(scope="module")
def srv(request):
    s = Server(ENV).start()
    request.addfinalizer(s.cleanup)
    return s


@pytest.fixture(scope="module")
def shop(srv):
    return Shop(srv)


def checkout(buyer, body=None):
    key = "k-" + uid()
    body = body or {"shipping_address_id": buyer.address,
                    "payments": [{"payment_method_id": buyer.card}], "shipping_method": "standard"}
    r = buyer.checkout(key=key, body=body)
    assert r.status == 201, r
    stored = buyer.s.get(f"/v1/orders/{r['id']}", token=buyer.token)
    assert stored.status == 200
    assert r.body == stored.body, "the answer is the order as stored"
    replay = buyer.checkout(key=key, body=body)
    assert replay.status == 201 and replay.body == r.body, "a replay answers the same"
    return r.body


def test_a_paid_order_of_several_lines(srv, shop):
    b = Buyer(srv)
    products = [shop.product(price=p, stock=5) for p in (1999, 250, 4100)]
    for i, p in enumerate(products):
        assert b.add(p["variants"][0]["id"], i + 1).status == 201
    o = checkout(b)
    assert o["status"] == "paid" and len(o["lines"]) == 3
    assert [h["status"] for h in o["history"]] == ["pending_payment", "paid"]
    assert o["paid_at"] == o["updated_at"] and o["cancelled_at"] is None


def test_split_tenders_and_an_inline_address_without_region(srv, shop):
    p = shop.product(price=5000, stock=5)
    b = Buyer(srv)
    srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 1500},
             token=shop.admin)
    b.add(p["variants"][0]["id"])
    o = checkout(b, {"shipping_address": dict(ADDRESS, country="GB", postal_code="SW1A 1AA",
                                              region=None, line2=None, city="London"),
                     "shipping_method": "express",
                     "payments": [{"store_credit": True, "amount_cents": 1500},
                                  {"payment_method_id": b.card}]})
    assert [(t["tender"], t["status"]) for t in o["payments"]] == [
        ("store_credit", "captured"), ("card", "captured")]
    assert o["shipping_address"]["region"] is None


def test_store_credit_only(srv, shop):
    p = shop.product(price=800, stock=5)
    b = Buyer(srv)
    srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 5000},
             token=shop.admin)
    b.add(p["variants"][0]["id"])
    o = checkout(b, {"shipping_address_id": b.address, "payments": [{"store_credit": True}]})
    assert [t["tender"] for t in o["payments"]] == ["store_credit"]


def test_promotions_automatic_and_by_code(srv, shop):
    a = shop.product(price=600, stock=5)
    c = shop.product(price=300, stock=5)
    target = {"product_ids": [a["id"], c["id"]]}
    for body in ({"type": "percentage", "percent_bps": 2000, "target": target},
                 {"type": "free_shipping", "code": "SHIP" + uid(), "stackable": True}):
        r = srv.post("/v1/admin/promotions", dict(body, name="Promo " + uid()), token=shop.admin)
        assert r.status == 201, r
        code = r.body.get("code")
    b = Buyer(srv)
    b.add(a["variants"][0]["id"], 2)
    b.add(c["variants"][0]["id"], 1)
    assert srv.put("/v1/cart/coupon", {"code": code}, token=b.token).status == 200
    o = checkout(b)
    assert len(o["promotions"]) == 2 and o["discount_cents"] > 0
    assert [p["code"] for p in o["promotions"]] == [None, code]


def test_a_held_order(srv, shop):
    p = shop.product(price=150000, stock=5)
    b = Buyer(srv)
    b.add(p["variants"][0]["id"])
    o = checkout(b)
    assert o["status"] == "on_hold"
    assert [t["status"] for t in o["payments"]] == ["authorized"]
    assert [h["status"] for h in o["history"]] == ["pending_payment", "on_hold"]


def test_a_payment_whose_outcome_is_not_known(srv, shop):
    p = shop.product(price=1200, stock=5)
    b = Buyer(srv, "timeout_captured")
    b.add(p["variants"][0]["id"])
    o = checkout(b)
    assert o["status"] == "pending_payment"
    assert [t["status"] for t in o["payments"]] == ["unknown"]


def iso(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_flash_sale_purchase(srv, shop):
    p = shop.product(price=5000, stock=10)
    r = srv.post("/v1/admin/flash-sales",
                 {"variant_id": p["variants"][0]["id"], "quantity": 3, "price_cents": 999,
                  "starts_at": iso(0), "ends_at": iso(600), "per_customer_limit": 1,
                  "admit_per_second": 1000}, token=shop.admin)
    assert r.status == 201, r
    sale = r["id"]
    b = Buyer(srv)
    deadline = time.time() + 10
    while time.time() < deadline:
        j = srv.post(f"/v1/flash-sales/{sale}/queue", token=b.token)
        if j.status == 201:
            break
        time.sleep(0.05)
    assert j.status == 201, j
    entry = {}
    while time.time() < deadline and not entry.get("token"):
        entry = srv.get(f"/v1/flash-sales/{sale}/queue/me", token=b.token).body
        time.sleep(0.05)
    key = "fs-" + uid()
    body = {"token": entry["token"], "shipping_address_id": b.address, "payment_method_id": b.card}
    r = srv.post(f"/v1/flash-sales/{sale}/purchase", body, token=b.token,
                 headers={"Idempotency-Key": key})
    assert r.status == 201, r
    assert r.body == srv.get(f"/v1/orders/{r['id']}", token=b.token).body
    assert r["lines"][0]["unit_price_cents"] == 999
    replay = srv.post(f"/v1/flash-sales/{sale}/purchase", body, token=b.token,
                      headers={"Idempotency-Key": key})
    assert replay.status == 201 and replay.body == r.body


def test_a_line_partly_backordered(srv, shop):
    p = shop.product(price=700, stock=1, allow_backorder=True)
    b = Buyer(srv)
    b.add(p["variants"][0]["id"], 3)
    o = checkout(b)
    assert o["lines"][0]["backordered"] == 2
