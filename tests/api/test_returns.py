"""Returns (ORD-5, ORD-6): the window, returnable lines and quantities, the
state machine, restocking, refunds over the original tenders exactly once
and never above what the lines were paid."""
import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from conftest import assert_problem, at_once, uid, wait_for
from shop_fixtures import Buyer, Shop, stock_of

DAY = 86400000


def delivered_order(s, shop, buyer, items, card=None):
    """An order of `items` [(variant, qty)], fulfilled and delivered."""
    for v, q in items:
        assert buyer.add(v, q).status == 201
    o = buyer.checkout(card=card)
    assert o.status == 201, o
    r = s.post(f"/v1/admin/orders/{o['id']}/fulfil", {}, token=shop.admin,
               headers={"Idempotency-Key": "f-" + uid()})
    assert r.status == 201, r
    for sh in r["shipments"]:
        for st in ("in_transit", "delivered"):
            assert s.patch(f"/v1/admin/shipments/{sh['id']}", {"status": st},
                           token=shop.admin).status == 200
    doc = s.get(f"/v1/orders/{o['id']}", token=buyer.token).body
    assert doc["status"] == "delivered", doc
    return doc


def ask(s, buyer, order_id, lines, key=None, reason="does not fit"):
    return s.post(f"/v1/orders/{order_id}/returns",
                  {"lines": [{"order_line_id": l, "quantity": q} for l, q in lines],
                   "reason": reason},
                  token=buyer.token, headers={"Idempotency-Key": key or "r-" + uid()})


def admin_move(s, shop, rid, status, **kw):
    return s.patch(f"/v1/admin/returns/{rid}", dict(status=status, **kw), token=shop.admin)


def gateway_refunds(s, shop, order_id):
    rows = s.get(f"/v1/admin/payments?order_id={order_id}", token=shop.admin)["data"]
    return [e for e in rows if e["type"] == "refund"]


def test_return_flow_restocks_and_refunds_once(make_server):
    s = make_server({"SHOPD_RETURN_AUTO_APPROVE_CENTS": "100"})
    shop = Shop(s)
    p = shop.product(stock=10, price=2000)
    v = p["variants"][0]["id"]
    p2 = shop.product(stock=10, price=500)
    v2 = p2["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 2), (v2, 1)])
    line = [l for l in o["lines"] if l["variant_id"] == v][0]
    r = ask(s, b, o["id"], [(line["id"], 1)])
    assert r.status == 201, r
    assert r["status"] == "requested" and r["lines"] == [
        {"order_line_id": line["id"], "quantity": 1, "unit_price_cents": 2000}]
    rid = r["id"]
    assert stock_of(s, shop, v)["on_hand"] == 8
    assert_problem(admin_move(s, shop, rid, "received"), 409, "status")
    assert admin_move(s, shop, rid, "approved").status == 200
    assert_problem(admin_move(s, shop, rid, "refunded"), 409)
    got = admin_move(s, shop, rid, "received")
    assert got.status == 200 and got["status"] == "received"
    assert stock_of(s, shop, v)["on_hand"] == 9, "restocked on receipt"
    kinds = [m["kind"] for m in s.get(f"/v1/inventory/{v}", token=shop.admin)["movements"]]
    assert kinds.count("return") == 1
    assert admin_move(s, shop, rid, "inspected").status == 200
    # One unit's price plus its share of the line's tax; shipping stays (not all came back).
    most = 2000 + line["tax_cents"] // 2
    assert_problem(admin_move(s, shop, rid, "refunded", refund_cents=most + 1), 422,
                   "refund_cents")
    results = at_once(lambda _: admin_move(s, shop, rid, "refunded"), range(6), threads=6)
    assert sorted(x.status for x in results) == [200] + [409] * 5, results
    done = s.get(f"/v1/returns/{rid}", token=b.token)
    assert done["status"] == "refunded" and done["refund_cents"] == most
    assert [h["status"] for h in done["history"]] == [
        "requested", "approved", "received", "inspected", "refunded"]
    order = s.get(f"/v1/orders/{o['id']}", token=b.token).body
    assert [x["amount_cents"] for x in order["refunds"]] == [most]
    assert order["refund_status"] == "partially_refunded"
    refunds = wait_for("the card refund", lambda: gateway_refunds(s, shop, o["id"]))
    assert sum(x["amount_cents"] for x in refunds) == most and len(refunds) == 1
    mine = s.get("/v1/me/returns", token=b.token)
    assert [x["id"] for x in mine["data"]] == [rid]
    assert [x["id"] for x in s.get("/v1/admin/returns?status=refunded",
                                   token=shop.admin)["data"]] == [rid]


def test_the_whole_order_back_refunds_shipping_and_never_more(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10, price=1200)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 2)])
    line = o["lines"][0]
    r = ask(s, b, o["id"], [(line["id"], 2)])
    assert r.status == 201 and r["status"] == "approved", "small and first: approved at once"
    for st in ("received", "inspected"):
        assert admin_move(s, shop, r["id"], st).status == 200
    # A partial refund must be below the most; then the rest cannot be taken twice.
    assert_problem(admin_move(s, shop, r["id"], "partially_refunded", refund_cents=o["total_cents"]),
                   422, "refund_cents")
    assert_problem(admin_move(s, shop, r["id"], "partially_refunded"), 422, "refund_cents")
    done = admin_move(s, shop, r["id"], "refunded")
    assert done.status == 200 and done["refund_cents"] == o["total_cents"], (done, o)
    order = s.get(f"/v1/orders/{o['id']}", token=b.token).body
    assert order["refunded_cents"] == order["total_cents"] and order["refund_status"] == "refunded"


def test_partial_refund(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10, price=3000)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 1)])
    r = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
    for st in ("received", "inspected"):
        assert admin_move(s, shop, r["id"], st).status == 200
    done = admin_move(s, shop, r["id"], "partially_refunded", refund_cents=1000)
    assert done.status == 200 and done["status"] == "partially_refunded"
    assert done["refund_cents"] == 1000 and done["refunds"][0]["amount_cents"] == 1000
    assert_problem(admin_move(s, shop, r["id"], "refunded"), 409)


def test_restock_false_keeps_the_units_out_and_restock_goes_only_with_received(make_server):
    """A return received with restock:false leaves the stock as it was (the
    unit came back damaged, say). restock with any other status would be
    ignored, so it is a 422 naming it, and changes nothing."""
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10, price=3000)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 1)])
    r = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
    assert r.status == 201, r
    if r["status"] == "requested":
        assert admin_move(s, shop, r["id"], "approved").status == 200
    for status, restock in (("rejected", True), ("rejected", False)):
        assert_problem(admin_move(s, shop, r["id"], status, restock=restock), 422, "restock")
    got = admin_move(s, shop, r["id"], "received", restock=False)
    assert got.status == 200 and got["status"] == "received", got
    assert stock_of(s, shop, v)["on_hand"] == 9, "not restocked"
    kinds = [m["kind"] for m in s.get(f"/v1/inventory/{v}", token=shop.admin)["movements"]]
    assert "return" not in kinds
    assert_problem(admin_move(s, shop, r["id"], "inspected", restock=True), 422, "restock")
    assert admin_move(s, shop, r["id"], "inspected").status == 200


def test_window_edges(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10)["variants"][0]["id"]
    b = Buyer(s)
    now = int(time.time() * 1000)
    db = s.database()
    results = {}
    for days in (30, 31):
        o = delivered_order(s, shop, b, [(v, 1)])
        db.execute("UPDATE shipments SET delivered_at = ? WHERE order_id = ?",
                   (now - days * DAY, o["id"]))
        results[days] = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
    assert results[30].status == 201, results[30]
    assert_problem(results[31], 422, "lines[0].order_line_id")
    assert "30 days" in results[31]["detail"]


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
def test_window_counts_calendar_days_in_the_shop_time_zone(make_server, zone):
    """Delivered on local day D: returnable through the end of D+30, refused
    from D+31 — local days of SHOPD_TIMEZONE. The last second of D-31 and
    the first of D-30 are two seconds apart yet on either side of the edge."""
    s = make_server({"SHOPD_TIMEZONE": zone})
    shop = Shop(s)
    v = shop.product(stock=20)["variants"][0]["id"]
    b = Buyer(s)
    tz = ZoneInfo(zone)
    db = s.database()

    def midnight_ms(day):
        return int(dt.datetime.combine(day, dt.time.min, tzinfo=tz).timestamp() * 1000)

    for _ in range(3):  # again if the test straddled the shop's midnight
        today = dt.datetime.now(tz).date()
        cases = {
            "day 31, last second": midnight_ms(today - dt.timedelta(days=30)) - 1000,
            "day 30, first second": midnight_ms(today - dt.timedelta(days=30)) + 1000,
            "day 30, last second": midnight_ms(today - dt.timedelta(days=29)) - 1000,
        }
        got = {}
        for name, at in cases.items():
            o = delivered_order(s, shop, b, [(v, 1)])
            db.execute("UPDATE shipments SET delivered_at = ? WHERE order_id = ?", (at, o["id"]))
            got[name] = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
        if dt.datetime.now(tz).date() == today:
            break
    assert_problem(got["day 31, last second"], 422, "lines[0].order_line_id")
    assert "30 days" in got["day 31, last second"]["detail"]
    assert got["day 30, first second"].status == 201, got["day 30, first second"]
    assert got["day 30, last second"].status == 201, got["day 30, last second"]


def test_refused_requests_change_nothing(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10)["variants"][0]["id"]
    nr = shop.product(stock=10, returnable=False)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 2), (nr, 1)])
    lv = [l for l in o["lines"] if l["variant_id"] == v][0]["id"]
    lnr = [l for l in o["lines"] if l["variant_id"] == nr][0]["id"]
    assert_problem(ask(s, b, o["id"], [(lnr, 1)]), 422, "lines[0].order_line_id")
    assert_problem(ask(s, b, o["id"], [(lv, 3)]), 422, "lines[0].quantity")
    assert_problem(ask(s, b, o["id"], [(lv, 1), (lv, 1)]), 422, "lines[1].order_line_id")
    assert_problem(ask(s, b, o["id"], [(lv, 1), (999999, 1)]), 422, "lines[1].order_line_id")
    assert_problem(ask(s, b, o["id"], [(lv, 1)], reason=""), 422, "reason")
    assert_problem(s.post(f"/v1/orders/{o['id']}/returns", {"lines": [], "reason": "x"},
                          token=b.token, headers={"Idempotency-Key": "k" + uid()}), 422, "lines")
    assert_problem(s.post(f"/v1/orders/{o['id']}/returns",
                          {"lines": [{"order_line_id": lv, "quantity": 0}], "reason": "x"},
                          token=b.token, headers={"Idempotency-Key": "k" + uid()}), 422,
                   "lines[0].quantity")
    assert_problem(s.post(f"/v1/orders/{o['id']}/returns",
                          {"lines": [{"order_line_id": lv, "quantity": 1}], "reason": "x"},
                          token=b.token), 400, "Idempotency-Key")
    assert s.database().scalar("SELECT count(*) FROM returns") == 0
    assert s.database().scalar("SELECT sum(returned_qty) FROM order_lines") == 0
    # Not delivered yet: shipped only.
    b2 = Buyer(s)
    assert b2.add(v, 1).status == 201
    o2 = b2.checkout()
    sh = s.post(f"/v1/admin/orders/{o2['id']}/fulfil", {}, token=shop.admin,
                headers={"Idempotency-Key": "f-" + uid()})["shipments"][0]
    s.patch(f"/v1/admin/shipments/{sh['id']}", {"status": "in_transit"}, token=shop.admin)
    assert_problem(ask(s, b2, o2["id"], [(o2["lines"][0]["id"], 1)]), 422,
                   "lines[0].order_line_id")


def test_idempotency_key(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 2)])
    lid = o["lines"][0]["id"]
    first = ask(s, b, o["id"], [(lid, 1)], key="same")
    again = ask(s, b, o["id"], [(lid, 1)], key="same")
    assert again.status == 201 and again["id"] == first["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert_problem(ask(s, b, o["id"], [(lid, 2)], key="same"), 422, "Idempotency-Key")
    assert s.database().scalar("SELECT returned_qty FROM order_lines WHERE id = ?", (lid,)) == 1
    # The stored first response, whatever became of the return since (SPEC §0).
    assert first["status"] == "approved"  # auto-approved in the same write
    for status in ("received", "inspected", "refunded"):
        assert admin_move(s, shop, first["id"], status).status == 200
    later = ask(s, b, o["id"], [(lid, 1)], key="same")
    assert later.status == 201 and later.headers.get("idempotent-replayed") == "true"
    assert later.body == first.body, (later.body, first.body)
    # and a return left requested answers requested
    big = shop.product(price=50000, stock=10)["variants"][0]["id"]
    o2 = delivered_order(s, shop, b, [(big, 1)])
    held = ask(s, b, o2["id"], [(o2["lines"][0]["id"], 1)], key="big")
    assert held["status"] == "requested", held
    assert admin_move(s, shop, held["id"], "approved").status == 200
    assert ask(s, b, o2["id"], [(o2["lines"][0]["id"], 1)], key="big").body == held.body


def test_two_requests_race_for_the_last_unit(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 1)])
    lid = o["lines"][0]["id"]
    got = at_once(lambda k: ask(s, b, o["id"], [(lid, 1)], key=k), ["a" + uid(), "b" + uid()],
                  threads=2)
    assert sorted(r.status for r in got) == [201, 422], got
    assert s.database().scalar("SELECT returned_qty FROM order_lines WHERE id = ?", (lid,)) == 1


def test_reject_before_receipt_frees_the_units_and_auto_approval_limit(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=20, price=100)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 5)])
    lid = o["lines"][0]["id"]
    statuses = []
    for _ in range(4):
        r = ask(s, b, o["id"], [(lid, 1)])
        assert r.status == 201
        statuses.append(r["status"])
    assert statuses == ["approved"] * 3 + ["requested"], "three returns in 90 days: no more auto"
    last = r["id"]
    assert admin_move(s, shop, last, "rejected").status == 200
    assert_problem(admin_move(s, shop, last, "approved"), 409)
    assert ask(s, b, o["id"], [(lid, 2)]).status == 201, "the rejected unit is free again"


def test_idor_and_roles(make_server):
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10)["variants"][0]["id"]
    b, other = Buyer(s), Buyer(s)
    o = delivered_order(s, shop, b, [(v, 1)])
    r = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
    assert_problem(s.get(f"/v1/returns/{r['id']}", token=other.token), 404)
    assert s.get("/v1/me/returns", token=other.token)["data"] == []
    assert_problem(ask(s, other, o["id"], [(o["lines"][0]["id"], 1)]), 404)
    assert_problem(s.patch(f"/v1/admin/returns/{r['id']}", {"status": "received"},
                           token=b.token), 403)
    assert_problem(s.get("/v1/admin/returns", token=b.token), 403)
    assert_problem(admin_move(s, shop, r["id"], "requested"), 409)  # a status, not a move
    assert_problem(admin_move(s, shop, r["id"], "lost"), 422, "status")
    assert_problem(admin_move(s, shop, r["id"], "received", refund_cents=5), 422, "refund_cents")
    assert_problem(admin_move(s, shop, 999999, "received"), 404)
    assert_problem(s.get("/v1/admin/returns?status=lost", token=shop.admin), 422, "status")


def test_every_return_transition(make_server):
    """Each state tries every move: the legal ones succeed, the rest are 409
    and change nothing."""
    s = make_server({"SHOPD_RETURN_AUTO_APPROVE_CENTS": "0"})
    shop = Shop(s)
    v = shop.product(stock=50, price=500)["variants"][0]["id"]
    legal = {"requested": {"approved", "rejected"}, "approved": {"received", "rejected"},
             "received": {"inspected"},
             "inspected": {"refunded", "partially_refunded", "rejected"}}
    every = ["approved", "rejected", "received", "inspected", "refunded", "partially_refunded"]
    paths = [["approved", "received", "inspected", "refunded"],
             ["approved", "received", "inspected", "partially_refunded"],
             ["approved", "received", "inspected", "rejected"],
             ["approved", "rejected"], ["rejected"]]
    for path in paths:
        b = Buyer(s)
        o = delivered_order(s, shop, b, [(v, 1)])
        r = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
        assert r["status"] == "requested"
        state = "requested"
        for nxt in path:
            for bad in every:
                if bad not in legal.get(state, set()):
                    assert_problem(admin_move(s, shop, r["id"], bad), 409, "status")
            kw = {"refund_cents": 100} if nxt == "partially_refunded" else {}
            got = admin_move(s, shop, r["id"], nxt, **kw)
            assert got.status == 200 and got["status"] == nxt, got
            state = nxt
        for bad in every:
            assert_problem(admin_move(s, shop, r["id"], bad), 409)
        assert [h["status"] for h in s.get(f"/v1/returns/{r['id']}", token=b.token)["history"]] \
            == ["requested"] + path


def test_a_line_returned_unit_by_unit_refunds_all_of_its_tax(make_server):
    """3 x 333 with 65 tax: the units' tax shares are 21, 22, 22 (the share of
    units k+1..k+n is floor(tax (k+n) / q) - floor(tax k / q)), so three
    one-unit returns refund exactly the order's total, shipping with the
    last, and never more."""
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10, price=333)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 3)])
    line = o["lines"][0]
    tax = line["tax_cents"]
    assert tax % 3 != 0, "the tax must not split evenly for this test to mean anything"
    got = []
    for k in range(3):
        r = ask(s, b, o["id"], [(line["id"], 1)])
        assert r.status == 201, r
        if r["status"] == "requested":
            assert admin_move(s, shop, r["id"], "approved").status == 200
        for st in ("received", "inspected"):
            assert admin_move(s, shop, r["id"], st).status == 200
        want = 333 + tax * (k + 1) // 3 - tax * k // 3 + (o["shipping_cents"] if k == 2 else 0)
        assert_problem(admin_move(s, shop, r["id"], "refunded", refund_cents=want + 1), 422,
                       "refund_cents")
        done = admin_move(s, shop, r["id"], "refunded")
        assert done.status == 200 and done["refund_cents"] == want, (k, done)
        got.append(done["refund_cents"])
    order = s.get(f"/v1/orders/{o['id']}", token=b.token).body
    assert sum(got) == o["total_cents"], (got, o)
    assert order["refunded_cents"] == o["total_cents"] and order["refund_status"] == "refunded"
    wait_for("the card refunds", lambda: len(gateway_refunds(s, shop, o["id"])) == 3)
    refunds = gateway_refunds(s, shop, o["id"])
    assert sum(x["amount_cents"] for x in refunds) == o["total_cents"]


def test_auto_approval_counts_the_lines_not_their_tax(make_server):
    """The threshold is compared with quantity x unit price of the returned
    units (API.md: "lines total"), tax and shipping aside."""
    s = make_server({"SHOPD_RETURN_AUTO_APPROVE_CENTS": "2000"})
    shop = Shop(s)
    v = shop.product(stock=10, price=1000)["variants"][0]["id"]
    over = shop.product(stock=10, price=2001)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 2)])
    assert o["lines"][0]["tax_cents"] > 0
    r = ask(s, b, o["id"], [(o["lines"][0]["id"], 2)])
    assert r.status == 201 and r["status"] == "approved", "2 x 1000 is at the threshold"
    b2 = Buyer(s)
    o2 = delivered_order(s, shop, b2, [(over, 1)])
    r = ask(s, b2, o2["id"], [(o2["lines"][0]["id"], 1)])
    assert r.status == 201 and r["status"] == "requested", "2001 is one above it"


def test_the_same_key_twice_at_once_is_one_return(make_server):
    """Found from outside (PostgreSQL): a request retried with its
    Idempotency-Key before the first was answered got a 500 (the key's
    unique index broke). SPEC §0: same key + same body → the first's answer
    (or 409 while it runs); never a 5xx, and one return."""
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=20)["variants"][0]["id"]
    b = Buyer(s)
    for _ in range(4):
        o = delivered_order(s, shop, b, [(v, 4)])
        lid, key = o["lines"][0]["id"], "same-" + uid()
        got = at_once(lambda _: ask(s, b, o["id"], [(lid, 1)], key=key), range(3), threads=3)
        assert all(r.status in (201, 409) for r in got), got
        assert len({r["id"] for r in got if r.status == 201}) == 1, got
        assert s.database().scalar("SELECT returned_qty FROM order_lines WHERE id = ?",
                                   (lid,)) == 1


def test_refunded_means_the_whole_amount(make_server):
    """Found from outside: PATCH {status: refunded, refund_cents: 0} (or any
    amount below what the return's units were paid) answered 200: the
    return said "refunded" while nothing, or less, went back, and the
    units counted as refunded for good. Less than the whole is
    partially_refunded; refunded with a refund_cents is that amount
    exactly, and a refusal changes nothing."""
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=10, price=3000)["variants"][0]["id"]
    b = Buyer(s)
    o = delivered_order(s, shop, b, [(v, 2)])
    r = ask(s, b, o["id"], [(o["lines"][0]["id"], 1)])
    for st in ("received", "inspected"):
        assert admin_move(s, shop, r["id"], st).status == 200
    most = 3000 + o["lines"][0]["tax_cents"] // 2
    for short in (0, 1, most - 1):
        assert_problem(admin_move(s, shop, r["id"], "refunded", refund_cents=short), 422,
                       "refund_cents")
    assert s.get(f"/v1/returns/{r['id']}", token=b.token)["status"] == "inspected"
    assert s.get(f"/v1/orders/{o['id']}", token=b.token)["refunded_cents"] == 0
    done = admin_move(s, shop, r["id"], "refunded", refund_cents=most)
    assert done.status == 200 and done["refund_cents"] == most, done


def test_requests_at_once_do_not_pass_the_auto_approval_limit(make_server):
    """Found from outside (PostgreSQL): six small returns of six orders sent
    at once were four approved automatically — each counted the customer's
    returns before the others committed. API.md: auto-approval is for a
    customer with fewer than 3 returns in 90 days, however they arrive."""
    s = make_server()
    shop = Shop(s)
    v = shop.product(stock=60, price=100)["variants"][0]["id"]
    for _ in range(3):
        b = Buyer(s)
        orders = [delivered_order(s, shop, b, [(v, 1)]) for _ in range(6)]
        got = at_once(lambda o: ask(s, b, o["id"], [(o["lines"][0]["id"], 1)]), orders,
                      threads=6)
        assert all(r.status == 201 for r in got), got
        assert sorted(r["status"] for r in got) == ["approved"] * 3 + ["requested"] * 3, got
