"""Orders: history, the state machine, cancellation of orders and lines with
refunds to the original tenders and restocking, and the outbox consumer
that records order events exactly once."""
import time

import pytest

from conftest import Server, assert_problem, uid
from shop_fixtures import Buyer, Shop, ledger, stock_of


@pytest.fixture(scope="module")
def srv(request):
    s = Server({"SHOPD_HOUSEKEEPING_MS": "100"}, prism=True).start()
    request.addfinalizer(s.cleanup)
    return s


@pytest.fixture(scope="module")
def shop(srv):
    return Shop(srv)


def two_line_order(srv, shop, buyer, body=None):
    a, b = shop.product(price=3000, stock=10), shop.product(price=1000, stock=10)
    buyer.add(a["variants"][0]["id"], 2)
    buyer.add(b["variants"][0]["id"], 1)
    r = buyer.checkout(body=body)
    assert r.status == 201, r
    return r.body, a["variants"][0]["id"], b["variants"][0]["id"]


def test_history_newest_first_with_cursor(srv, shop):
    p = shop.product(stock=20)
    b = Buyer(srv)
    ids = [b.buy(p["variants"][0]["id"])["id"] for _ in range(5)]
    page = srv.get("/v1/orders?limit=2", token=b.token)
    assert [o["id"] for o in page["data"]] == ids[::-1][:2]
    seen = [o["id"] for o in page["data"]]
    while page["next_cursor"]:
        page = srv.get(f"/v1/orders?limit=2&cursor={page['next_cursor']}", token=b.token)
        seen += [o["id"] for o in page["data"]]
    assert seen == ids[::-1]
    assert_problem(srv.get("/v1/orders?cursor=abc", token=b.token), 422, "cursor")
    # not a cursor it gave out, though strtoll would read a number from it
    for bad in ("99999999999999999999", "%2B5", "%205", "-0"):
        assert_problem(srv.get(f"/v1/orders?cursor={bad}", token=b.token), 422, "cursor")
    assert_problem(srv.get("/v1/orders?limit=0", token=b.token), 422, "limit")


def test_cancel_whole_order_refunds_card_and_restocks(srv, shop):
    b = Buyer(srv)
    o, va, vb = two_line_order(srv, shop, b)
    assert stock_of(srv, shop, va)["on_hand"] == 8
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token)
    assert r.status == 200, r
    assert r["status"] == "cancelled" and r["refund_status"] == "refunded"
    assert r["refunded_cents"] == o["total_cents"]
    assert [(x["amount_cents"], x["status"]) for x in r["refunds"]] == [(o["total_cents"], "succeeded")]
    assert all(l["status"] == "cancelled" for l in r["lines"])
    assert stock_of(srv, shop, va) == {"on_hand": 10, "reserved": 0, "available": 10}
    assert stock_of(srv, shop, vb)["on_hand"] == 10
    books = ledger(srv, shop, o["id"])
    assert [(e["type"], e["amount_cents"]) for e in books] == [("charge", o["total_cents"]),
                                                             ("refund", o["total_cents"])]
    assert_problem(srv.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token), 409)
    movements = srv.get(f"/v1/inventory/{va}", token=shop.admin)["movements"]
    assert [m["kind"] for m in movements[:3]] == ["restock", "consume", "reserve"]


def test_cancel_some_lines(srv, shop):
    b = Buyer(srv)
    o, va, vb = two_line_order(srv, shop, b)
    line_b = next(l for l in o["lines"] if l["variant_id"] == vb)
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [line_b["id"]]}, token=b.token)
    assert r.status == 200 and r["status"] == "paid"
    assert r["refund_status"] == "partially_refunded"
    assert r["refunded_cents"] == 1000 + line_b["tax_cents"]
    assert stock_of(srv, shop, vb)["on_hand"] == 10 and stock_of(srv, shop, va)["on_hand"] == 8
    assert_problem(srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [line_b["id"]]},
                            token=b.token), 409, "line_ids")
    assert_problem(srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [999999]}, token=b.token),
                   422, "line_ids[0]")
    assert_problem(srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": "all"}, token=b.token),
                   422, "line_ids")
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token)
    assert r["status"] == "cancelled" and r["refunded_cents"] == o["total_cents"], \
        "the last cancellation returns the rest, shipping included"
    assert sum(x["amount_cents"] for x in r["refunds"]) == o["total_cents"]


def test_cancel_naming_a_line_twice_changes_nothing(srv, shop):
    b = Buyer(srv)
    o, va, _ = two_line_order(srv, shop, b)
    line_a = next(l for l in o["lines"] if l["variant_id"] == va)
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [line_a["id"], line_a["id"]]},
                 token=b.token)
    assert_problem(r, 422, "line_ids[1]")
    assert r.body["errors"] == [{"field": "line_ids[1]",
                                 "message": f"line {line_a['id']} is named twice"}], r
    after = srv.get(f"/v1/orders/{o['id']}", token=b.token).body
    assert after["status"] == "paid" and after["refunds"] == [] and after["refunded_cents"] == 0
    assert all(l["status"] == "open" for l in after["lines"])
    assert stock_of(srv, shop, va)["on_hand"] == 8


def test_refunds_go_to_the_card_first_then_store_credit(srv, shop):
    b = Buyer(srv)
    srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 2000}, token=shop.admin)
    body = {"shipping_address_id": b.address, "payments": [{"store_credit": True, "amount_cents": 2000},
                                                          {"payment_method_id": b.card}]}
    o, va, vb = two_line_order(srv, shop, b, body)
    card = next(p for p in o["payments"] if p["tender"] == "card")
    line_a = next(l for l in o["lines"] if l["variant_id"] == va)
    credit = next(p for p in o["payments"] if p["tender"] == "store_credit")
    refund_a = 6000 + line_a["tax_cents"]
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [line_a["id"]]}, token=b.token)
    first = r["refunds"][0]
    to_card = min(refund_a, card["amount_cents"])
    expect = [(card["id"], to_card)] + ([(credit["id"], refund_a - to_card)] if refund_a > to_card else [])
    assert [(a["payment_id"], a["amount_cents"]) for a in first["allocations"]] == expect
    assert srv.get("/v1/me/store-credit", token=b.token)["balance_cents"] == refund_a - to_card
    r = srv.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token)
    totals = {}
    for refund in r["refunds"]:
        for a in refund["allocations"]:
            totals[a["payment_id"]] = totals.get(a["payment_id"], 0) + a["amount_cents"]
    assert totals == {card["id"]: card["amount_cents"], credit["id"]: 2000}, \
        "in the end every tender got back exactly what it paid"
    assert srv.get("/v1/me/store-credit", token=b.token)["balance_cents"] == 2000
    refunds = [e for e in ledger(srv, shop, o["id"]) if e["type"] == "refund"]
    assert sum(e["amount_cents"] for e in refunds) == card["amount_cents"]


def test_order_events_recorded_once(srv, shop):
    b = Buyer(srv)
    o, _, _ = two_line_order(srv, shop, b)
    srv.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token)
    want = ["order.placed", "order.confirmed", "order.cancelled", "order.refunded"]
    deadline = time.time() + 10
    while time.time() < deadline:
        got = [e["topic"] for e in srv.get(f"/v1/admin/orders/{o['id']}/events",
                                           token=shop.admin)["data"]]
        if got == want:
            break
        time.sleep(0.05)
    assert got == want
    # redelivery after a restart does not duplicate (the consumer is idempotent)
    srv.stop()
    srv.start()
    time.sleep(0.3)
    got = [e["topic"] for e in srv.get(f"/v1/admin/orders/{o['id']}/events", token=shop.admin)["data"]]
    assert got == want


def test_the_order_document_is_one_document(srv, shop):
    """The document checkout answers with is written by hand (order_doc.c):
    it must be the same JSON GET shows, survive awkward text, and carry
    every part (both tenders, options, refunds with allocations, history
    notes, nulls) with the right types."""
    title = 'Kettle "Große" \\ tab\t— 水 ' + uid()
    p = shop.product(title=title, price=3000, stock=5, variants=[
        {"sku": "SKU-" + uid(), "price_cents": 3000, "weight_grams": 500,
         "options": {"colour": 'Red "cherry"', "size": "½ L"}}])
    other = shop.product(price=1000, stock=5)
    b = Buyer(srv, address={"name": 'Zoë "Z" O\'Neil \\', "line1": "1 Pike St", "city": "Seattle",
                            "postal_code": "98101", "country": "US"})
    srv.post(f"/v1/admin/users/{b.user['id']}/store-credit", {"amount_cents": 500}, token=shop.admin)
    b.add(p["variants"][0]["id"], 2)
    b.add(other["variants"][0]["id"], 1)
    r = b.checkout(body={"shipping_address_id": b.address,
                         "payments": [{"store_credit": True, "amount_cents": 500},
                                      {"payment_method_id": b.card}]})
    assert r.status == 201, r
    o = r.body
    assert srv.get(f"/v1/orders/{o['id']}", token=b.token).body == o, "POST and GET answer alike"
    line = next(l for l in o["lines"] if l["variant_id"] == p["variants"][0]["id"])
    assert line["title"] == title and line["options"] == {"colour": 'Red "cherry"', "size": "½ L"}
    assert line["line_total_cents"] == 6000 and line["status"] == "open"
    assert o["shipping_address"]["name"] == 'Zoë "Z" O\'Neil \\'
    assert o["shipping_address"]["region"] is None and o["shipping_address"]["phone"] is None
    assert o["cancel_reason"] is None and o["cancelled_at"] is None and o["paid_at"]
    assert o["refunds"] == [] and o["shipments"] == []
    card = next(x for x in o["payments"] if x["tender"] == "card")
    credit = next(x for x in o["payments"] if x["tender"] == "store_credit")
    assert card["brand"] == "visa" and card["last4"] == "4242" and card["payment_method_id"] == b.card
    assert "payment_method_id" not in credit and credit["amount_cents"] == 500
    assert [(h["status"], h["note"]) for h in o["history"]] == [("pending_payment", None),
                                                                 ("paid", "payment captured")]
    assert all(isinstance(o[k], int) for k in ("id", "user_id", "subtotal_cents", "total_cents"))

    r = srv.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [line["id"]]}, token=b.token)
    assert r.status == 200, r
    got = srv.get(f"/v1/orders/{o['id']}", token=b.token).body
    assert got == r.body
    [refund] = got["refunds"]
    assert refund["allocations"] and sum(a["amount_cents"] for a in refund["allocations"]) == \
        refund["amount_cents"]
    assert {a["payment_id"] for a in refund["allocations"]} <= {card["id"], credit["id"]}
    assert next(l for l in got["lines"] if l["id"] == line["id"])["status"] == "cancelled"
    assert srv.get("/v1/orders?limit=1", token=b.token)["data"] == [got]
