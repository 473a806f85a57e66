"""Checkout: the saga with every test card, Idempotency-Key semantics, split
tenders, and bad input that must change nothing (no stock moved, no charge,
no order)."""
import os
import time

import pytest

from conftest import assert_problem, uid
from shop_fixtures import ADDRESS, Buyer, Shop, ledger, stock_of

ENV = {"SHOPD_HOUSEKEEPING_MS": "100", "SHOPD_GATEWAY_BACKOFF_MS": "5"}


@pytest.fixture(scope="module")
def srv(request):
    from conftest import Server
    s = Server(ENV, prism=True).start()
    request.addfinalizer(s.cleanup)
    return s


@pytest.fixture(scope="module")
def shop(srv):
    return Shop(srv)


def wait_for(fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def test_happy_path(srv, shop):
    p = shop.product(price=2599, stock=10)
    vid = p["variants"][0]["id"]
    b = Buyer(srv)
    cart = b.add(vid, 2)
    r = b.checkout()
    assert r.status == 201, r
    o = r.body
    assert o["status"] == "paid" and r.headers["location"] == f"/v1/orders/{o['id']}"
    assert o["total_cents"] == cart["subtotal_cents"] + cart["shipping_cents"] + 338
    assert o["tax_cents"] == 338, "6.5 % Washington tax on 51.98"
    assert [(l["variant_id"], l["quantity"], l["unit_price_cents"]) for l in o["lines"]] == [(vid, 2, 2599)]
    assert [p["status"] for p in o["payments"]] == ["captured"]
    assert [h["status"] for h in o["history"]] == ["pending_payment", "paid"]
    assert stock_of(srv, shop, vid) == {"on_hand": 8, "reserved": 0, "available": 8}
    assert srv.get("/v1/cart", token=b.token)["lines"] == [], "bought lines leave the cart"
    assert srv.get(f"/v1/products/{p['id']}")["variants"][0]["available"] == 8
    assert srv.get("/v1/orders", token=b.token)["data"][0]["id"] == o["id"]
    charges = ledger(srv, shop, o["id"])
    assert [(c["type"], c["status"], c["amount_cents"]) for c in charges] == [
        ("charge", "captured", o["total_cents"])]


def test_gateway_db_moves_the_simulated_gateways_books(make_server, tmp_path):
    """SHOPD_GATEWAY_DB puts the simulated gateway's books in a SQLite file
    of their own, on either backend: the charge is recorded there, and
    neither a file beside the shop's database nor its tables in the shop's
    database appear. The admin's payments ledger reads the same books."""
    from conftest import PG_BASE, Database
    books = str(tmp_path / "books.db")
    s = make_server({**ENV, "SHOPD_GATEWAY_DB": books})
    shop = Shop(s)
    p = shop.product(price=1500, stock=5)
    r = Buyer(s).buy(p["variants"][0]["id"])
    assert r.status == 201, r
    assert Database(books).query("SELECT order_ref, status, amount_cents FROM gw_sim_charges") == [
        (f"order-{r['id']}", "captured", r["total_cents"])]
    assert [(c["type"], c["status"]) for c in ledger(s, shop, r["id"])] == [("charge", "captured")]
    if PG_BASE:
        assert s.database().scalar("SELECT count(*) FROM information_schema.tables"
                                   " WHERE table_name LIKE 'gw_sim_%'") == 0
    else:
        assert not os.path.exists(s.db + "-gateway.db")


@pytest.mark.parametrize("card", ["visa", "mastercard", "amex", "flaky"])
def test_cards_that_succeed(srv, shop, card):
    p = shop.product(stock=5)
    b = Buyer(srv, card)
    r = b.buy(p["variants"][0]["id"])
    assert r.status == 201 and r["status"] == "paid", r


@pytest.mark.parametrize("card,code", [("declined", "card_declined"),
                                       ("insufficient", "insufficient_funds"),
                                       ("expired", "expired_card"), ("cvc", "incorrect_cvc")])
def test_declines_change_nothing(srv, shop, card, code):
    p = shop.product(stock=5)
    vid = p["variants"][0]["id"]
    b = Buyer(srv, card)
    b.add(vid, 2)
    key = "k-" + uid()
    r = b.checkout(key=key)
    assert_problem(r, 402)
    assert r["code"] == code
    assert stock_of(srv, shop, vid) == {"on_hand": 5, "reserved": 0, "available": 5}
    assert srv.get("/v1/orders", token=b.token)["data"] == [], "no order"
    assert len(srv.get("/v1/cart", token=b.token)["lines"]) == 1, "the cart is intact"
    again = b.checkout(key=key)
    assert_problem(again, 402)
    assert again.headers.get("idempotent-replayed") == "true"
    # a new key and a good card succeed with the same cart
    b.card = b.add_card("visa")
    assert b.checkout().status == 201


def test_gateway_down_is_503_and_retryable(srv, shop):
    p = shop.product(stock=5)
    vid = p["variants"][0]["id"]
    b = Buyer(srv, "error")
    b.add(vid)
    key = "k-" + uid()
    r = b.checkout(key=key)
    assert_problem(r, 503)
    assert int(r.headers["retry-after"]) > 0
    assert stock_of(srv, shop, vid)["reserved"] == 0
    assert srv.get("/v1/orders", token=b.token)["data"] == []
    # the key was not spent on a transient failure
    assert_problem(b.checkout(key=key), 503)


def test_timeout_captured_is_reconciled_to_paid(srv, shop):
    p = shop.product(stock=5)
    vid = p["variants"][0]["id"]
    b = Buyer(srv, "timeout_captured")
    key = "k-" + uid()
    b.add(vid)
    r = b.checkout(key=key)
    assert r.status == 201 and r["status"] == "pending_payment"
    assert r["payments"][0]["status"] == "unknown"
    # The unit stays held: reserved while the payment is unknown, or taken
    # already if housekeeping (every 100 ms here) has reconciled the order
    # since — either way not available to anyone else.
    assert stock_of(srv, shop, vid)["available"] == 4
    paid = wait_for(lambda: srv.get(f"/v1/orders/{r['id']}", token=b.token)["status"] == "paid")
    assert paid
    assert stock_of(srv, shop, vid) == {"on_hand": 4, "reserved": 0, "available": 4}
    assert len(ledger(srv, shop, r["id"])) == 1, "charged once"
    # A replay answers what the first request did (SPEC §0: the stored first
    # response), however reconciliation settled the order since.
    replay = b.checkout(key=key)
    assert replay.status == 201 and replay.body == r.body, replay
    assert replay.headers.get("idempotent-replayed") == "true"


def test_timeout_not_captured_is_reconciled_to_cancelled(srv, shop):
    p = shop.product(stock=5)
    vid = p["variants"][0]["id"]
    b = Buyer(srv, "timeout_none")
    key = "k-" + uid()
    assert b.add(vid, 2).status == 201
    r = b.checkout(key=key)
    assert r.status == 201 and r["status"] == "pending_payment"
    # Before reconciliation or after it, a replay is the first answer (no 409).
    assert b.checkout(key=key).body == r.body
    done = wait_for(lambda: srv.get(f"/v1/orders/{r['id']}", token=b.token)["status"] == "cancelled")
    assert done
    assert b.checkout(key=key).body == r.body
    o = srv.get(f"/v1/orders/{r['id']}", token=b.token)
    assert o["cancel_reason"] == "payment_not_captured"
    assert stock_of(srv, shop, vid) == {"on_hand": 5, "reserved": 0, "available": 5}
    assert ledger(srv, shop, r["id"]) == [], "nothing was charged"
    assert len(srv.get("/v1/cart", token=b.token)["lines"]) == 1, "the cart is back"


def test_idempotency_key_rules(srv, shop):
    p = shop.product(stock=5)
    b = Buyer(srv)
    b.add(p["variants"][0]["id"])
    body = {"shipping_address_id": b.address, "payments": [{"payment_method_id": b.card}]}
    assert_problem(srv.post("/v1/orders", body, token=b.token), 400, "Idempotency-Key")
    assert_problem(srv.post("/v1/orders", body, token=b.token,
                            headers={"Idempotency-Key": "x" * 256}), 400, "Idempotency-Key")
    key = "k-" + uid()
    first = b.checkout(key=key, body=body)
    assert first.status == 201 and "idempotent-replayed" not in first.headers
    # same key, same request (other key order): the stored answer
    same = b.checkout(key=key, body={"payments": body["payments"],
                                     "shipping_address_id": b.address})
    assert same.status == 201 and same.headers["idempotent-replayed"] == "true"
    assert same["id"] == first["id"]
    # same key, different request
    other = dict(body, shipping_method="express")
    assert_problem(b.checkout(key=key, body=other), 422, "Idempotency-Key")
    assert len(srv.get("/v1/orders", token=b.token)["data"]) == 1
    assert len(ledger(srv, shop, first["id"])) == 1
    # the stored first response, whatever became of the order since (SPEC §0)
    assert srv.post(f"/v1/orders/{first['id']}/cancel", {}, token=b.token).status == 200
    later = b.checkout(key=key, body=body)
    assert later.status == 201 and later.headers["idempotent-replayed"] == "true"
    assert later.body == first.body and later["status"] == "paid"
    # keys are per user: another user's identical key is a new request
    b2 = Buyer(srv)
    b2.add(p["variants"][0]["id"])
    assert b2.checkout(key=key).status == 201


def test_out_of_stock_lists_each_short_line(srv, shop):
    a, c = shop.product(stock=1), shop.product(stock=3)
    va, vc = a["variants"][0]["id"], c["variants"][0]["id"]
    b = Buyer(srv)
    b.add(va, 1)
    b.add(vc, 3)
    srv.put(f"/v1/inventory/{va}/{shop.warehouse}", {"on_hand": 0}, token=shop.trusted)
    srv.put(f"/v1/inventory/{vc}/{shop.warehouse}", {"on_hand": 2}, token=shop.trusted)
    r = b.checkout()
    assert_problem(r, 409)
    assert sorted((l["variant_id"], l["requested"], l["available"]) for l in r["lines"]) == sorted(
        [(va, 1, 0), (vc, 3, 2)])
    assert stock_of(srv, shop, vc) == {"on_hand": 2, "reserved": 0, "available": 2}
    assert srv.get("/v1/orders", token=b.token)["data"] == []


def test_stock_conflicts_carry_a_code_and_are_counted(srv, shop):
    """SPEC OPS-5: /metrics counts stock conflicts. A 409 for want of stock
    says so in `code` (out_of_stock), and shopd_stock_conflicts_total counts
    it by route; other 409s (a key in flight, a promotion's limit) do not."""
    def counted():
        text = srv.get("/metrics").body
        found = {}
        for line in text.splitlines():
            if line.startswith("shopd_stock_conflicts_total{"):
                route = line.split('route="')[1].split('"')[0]
                found[route] = int(line.rsplit(" ", 1)[1])
        return found

    before = counted()
    p = shop.product(stock=1)
    vid = p["variants"][0]["id"]
    b, other = Buyer(srv), Buyer(srv)
    r = srv.post("/v1/cart/lines", {"variant_id": vid, "quantity": 2}, token=b.token)
    assert_problem(r, 409, "quantity")
    assert r["code"] == "out_of_stock" and r["available"] == 1, r
    assert b.add(vid, 1).status == 201 and other.add(vid, 1).status == 201
    assert other.checkout().status == 201
    r = b.checkout()
    assert_problem(r, 409)
    assert r["code"] == "out_of_stock" and r["lines"][0]["available"] == 0, r
    after = counted()
    assert after.get("POST /v1/cart/lines", 0) - before.get("POST /v1/cart/lines", 0) == 1
    assert after.get("POST /v1/orders", 0) - before.get("POST /v1/orders", 0) == 1
    assert "# TYPE shopd_stock_conflicts_total counter" in srv.get("/metrics").body


def test_bad_checkout_input_changes_nothing(srv, shop):
    p = shop.product(stock=5)
    vid = p["variants"][0]["id"]
    b = Buyer(srv)
    other = Buyer(srv)
    assert_problem(b.checkout(), 422)  # empty cart
    b.add(vid, 1)
    addr = b.address
    card = {"payment_method_id": b.card}
    cases = [
        ({"payments": [card]}, "shipping_address_id"),
        ({"shipping_address_id": addr, "shipping_address": ADDRESS, "payments": [card]},
         "shipping_address"),
        ({"shipping_address_id": 999999, "payments": [card]}, "shipping_address_id"),
        ({"shipping_address_id": other.address, "payments": [card]}, "shipping_address_id"),
        ({"shipping_address": dict(ADDRESS, postal_code="nope"), "payments": [card]},
         "shipping_address.postal_code"),
        ({"shipping_address_id": addr, "payments": []}, "payments"),
        ({"shipping_address_id": addr}, "payments"),
        ({"shipping_address_id": addr, "payments": [card], "shipping_method": "boat"},
         "shipping_method"),
        ({"shipping_address_id": addr, "payments": [{"payment_method_id": 999999}]},
         "payments[0].payment_method_id"),
        ({"shipping_address_id": addr, "payments": [{"payment_method_id": other.card}]},
         "payments[0].payment_method_id"),
        ({"shipping_address_id": addr, "payments": [{"amount_cents": 5}]},
         "payments[0].payment_method_id"),
        ({"shipping_address_id": addr, "payments": [card, {"payment_method_id": b.card}]},
         "payments"),
        ({"shipping_address_id": addr, "payments": [dict(card, amount_cents=1)]}, "payments"),
        ({"shipping_address_id": addr, "payments": [{"store_credit": True}]},
         "payments[0].store_credit"),
        ({"shipping_address_id": "1", "payments": [card]}, "shipping_address_id"),
    ]
    for body, field in cases:
        assert_problem(b.checkout(body=body), 422, field)
    assert_problem(srv.post("/v1/orders", raw=b"{", token=b.token,
                            headers={"Idempotency-Key": "x", "Content-Type": "application/json"}), 400)
    assert stock_of(srv, shop, vid) == {"on_hand": 5, "reserved": 0, "available": 5}
    assert srv.get("/v1/orders", token=b.token)["data"] == []
    assert srv.get("/v1/cart", token=b.token)["lines"][0]["quantity"] == 1


def test_stored_card_expired_since_added(srv, shop):
    p = shop.product(stock=5)
    b = Buyer(srv)
    b.add(p["variants"][0]["id"])
    srv.database().execute("UPDATE payment_methods SET exp_year = 2020 WHERE id = ?", (b.card,))
    r = b.checkout()
    assert_problem(r, 422, "payments[0].payment_method_id")
    assert "expired" in r["detail"]
    assert srv.get("/v1/orders", token=b.token)["data"] == []


def test_payment_methods(srv, shop):
    b = Buyer(srv)
    lst = srv.get("/v1/me/payment-methods", token=b.token)
    assert [(m["brand"], m["last4"]) for m in lst["data"]] == [("visa", "4242")]
    assert "number" not in lst["data"][0] and "cvc" not in lst["data"][0]
    good = {"type": "card", "number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2031,
            "cvc": "123"}
    for patch, field in [({"number": "4242424242424241"}, "number"), ({"number": "12"}, "number"),
                         ({"number": "4242-abcd"}, "number"), ({"exp_month": 13}, "exp_month"),
                         ({"exp_year": 2020}, "exp_year"), ({"cvc": "12"}, "cvc"),
                         ({"cvc": "abc"}, "cvc"), ({"type": "iou"}, "type")]:
        assert_problem(srv.post("/v1/me/payment-methods", dict(good, **patch), token=b.token), 422,
                       field)
    assert len(srv.get("/v1/me/payment-methods", token=b.token)["data"]) == 1
    other = Buyer(srv)
    assert_problem(srv.delete(f"/v1/me/payment-methods/{b.card}", token=other.token), 404)
    assert srv.delete(f"/v1/me/payment-methods/{b.card}", token=b.token).status == 204
    assert srv.get("/v1/me/payment-methods", token=b.token)["data"] == []
    # no card number or CVC anywhere in the database
    for db in (srv.database(), srv.gateway_database()):
        dump = db.dump()
        assert "4242424242424242" not in dump and "4242 4242" not in dump


def test_split_tender_store_credit_first(srv, shop):
    p = shop.product(price=5000, stock=5)
    b = Buyer(srv)
    r = srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 1500},
                 token=shop.admin)
    assert r.status == 201 and r["balance_cents"] == 1500
    b.add(p["variants"][0]["id"])
    r = b.checkout(body={"shipping_address_id": b.address,
                         "payments": [{"store_credit": True, "amount_cents": 1500},
                                      {"payment_method_id": b.card}]})
    assert r.status == 201, r
    tenders = {p["tender"]: p["amount_cents"] for p in r["payments"]}
    assert tenders == {"store_credit": 1500, "card": r["total_cents"] - 1500}
    assert srv.get("/v1/me/store-credit", token=b.token)["balance_cents"] == 0
    assert ledger(srv, shop, r["id"])[0]["amount_cents"] == r["total_cents"] - 1500
    # too much store credit asked: refused before anything happens
    b.add(p["variants"][0]["id"])
    assert_problem(b.checkout(body={"shipping_address_id": b.address,
                                    "payments": [{"store_credit": True, "amount_cents": 100},
                                                 {"payment_method_id": b.card}]}),
                   422, "payments[0].store_credit")


def test_store_credit_only_and_returned_on_decline(srv, shop):
    p = shop.product(price=1000, stock=5)
    b = Buyer(srv, "declined")
    srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 800}, token=shop.admin)
    b.add(p["variants"][0]["id"])
    r = b.checkout(body={"shipping_address_id": b.address,
                         "payments": [{"store_credit": True, "amount_cents": 800},
                                      {"payment_method_id": b.card}]})
    assert_problem(r, 402)
    sc = srv.get("/v1/me/store-credit", token=b.token)
    assert sc["balance_cents"] == 800, "the store credit debited for the attempt came back"
    srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 5000}, token=shop.admin)
    r = b.checkout(body={"shipping_address_id": b.address, "payments": [{"store_credit": True}]})
    assert r.status == 201 and r["status"] == "paid"
    assert [p["tender"] for p in r["payments"]] == ["store_credit"]
    assert srv.get("/v1/me/store-credit", token=b.token)["balance_cents"] == 5800 - r["total_cents"]


def test_inline_address_and_express(srv, shop):
    p = shop.product(price=4000, stock=5)
    b = Buyer(srv)
    b.add(p["variants"][0]["id"])
    r = b.checkout(body={"shipping_address": dict(ADDRESS, country="GB", postal_code="SW1A 1AA",
                                                  region=None, city="London"),
                         "shipping_method": "express",
                         "payments": [{"payment_method_id": b.card}]})
    assert r.status == 201
    assert r["shipping_address"]["country"] == "GB" and r["tax_cents"] == 800
    assert r["shipping_cents"] == 1499 and r["shipping_method"] == "express"


def test_orders_are_private(srv, shop):
    p = shop.product(stock=5)
    b, other = Buyer(srv), Buyer(srv)
    o = b.buy(p["variants"][0]["id"])
    assert_problem(srv.get(f"/v1/orders/{o['id']}", token=other.token), 404)
    assert_problem(srv.post(f"/v1/orders/{o['id']}/cancel", token=other.token), 404)
    assert srv.get("/v1/orders", token=other.token)["data"] == []
    assert srv.get(f"/v1/orders/{o['id']}", token=shop.admin).status == 200
    assert_problem(srv.get(f"/v1/admin/payments?order_id={o['id']}", token=b.token), 403)


def test_circuit_breaker_opens_and_recovers(make_server):
    """Consecutive gateway failures open the breaker: calls fail fast (even
    for a good card) until it has been open for its period; then a trial call
    goes through and closes it."""
    s = make_server(dict(ENV, SHOPD_BREAKER_FAILURES="3", SHOPD_BREAKER_OPEN_MS="800",
                         SHOPD_GATEWAY_ATTEMPTS="3"))
    shop = Shop(s)
    p = shop.product(stock=50)
    vid = p["variants"][0]["id"]
    broken, good = Buyer(s, "error"), Buyer(s)
    broken.add(vid)
    r = broken.checkout()
    assert_problem(r, 503)  # three failing attempts open the breaker
    good.add(vid)
    t0 = time.time()
    r = good.checkout()
    assert_problem(r, 503)
    assert r["code"] == "circuit_open" and time.time() - t0 < 0.5, "failed fast"
    assert "shopd_gateway_breaker_open 1" in s.get("/metrics").body
    time.sleep(1.0)
    r = good.checkout()
    assert r.status == 201 and r["status"] == "paid", "a trial call closed it"
    assert "shopd_gateway_breaker_open 0" in s.get("/metrics").body
