"""Fulfilment (INV-4, ORD-2, ORD-4, OPS-1): allocation by score, shipments
per warehouse, backorders, the shipment state machine through the admin API
and signed carrier callbacks, parcels returned to the sender, the simulated
carrier's failure modes, sellers shipping their own lines."""
import datetime
import hashlib
import hmac
import json
import time

from conftest import assert_problem, at_once, uid, wait_for
from shop_fixtures import ADDRESS, Buyer, Shop, stock_of

SECRET = "test-carrier-secret"
ENV = {"SHOPD_CARRIER_SECRET": SECRET}

SEATTLE = dict(ADDRESS)  # 98101: the Pacific north-west
NEW_YORK = {"name": "Bo Buyer", "line1": "5 Broadway", "city": "New York", "region": "NY",
            "postal_code": "10004", "country": "US"}


def warehouse(s, shop, name, postal, lat, lon, country="US"):
    r = s.post("/v1/warehouses", {"code": "W" + uid()[:6], "name": name, "country": country,
                                  "postal_code": postal, "lat": lat, "lon": lon},
               token=shop.admin)
    assert r.status == 201, r
    return r["id"]


def stocked(s, shop, stock_by_wh, **kw):
    """A published product with on_hand per warehouse {wh: n}."""
    p = shop.product(stock=None, **kw)
    v = p["variants"][0]["id"]
    for wh, n in stock_by_wh.items():
        assert s.put(f"/v1/inventory/{v}/{wh}", {"on_hand": n}, token=shop.trusted).status == 200
    return p, v


def fulfil(s, shop, order_id, key=None, token=None, path="admin"):
    url = (f"/v1/admin/orders/{order_id}/fulfil" if path == "admin"
           else f"/v1/seller/orders/{order_id}/fulfil")
    return s.post(url, {}, token=token or shop.admin,
                  headers={"Idempotency-Key": key or "f-" + uid()})


def shipped(s, shop, quantity=1):
    """A buyer's order of `quantity` of a product stocked in the shop's
    warehouse, fulfilled: (variant, buyer, order, its one shipment)."""
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s)
    o = b.buy(v, quantity)
    return v, b, o, fulfil(s, shop, o["id"])["shipments"][0]


def order_of(s, buyer, order_id):
    return s.get(f"/v1/orders/{order_id}", token=buyer.token).body


def move(s, shop, shipment_id, status, detail=None):
    body = {"status": status}
    if detail:
        body["detail"] = detail
    return s.patch(f"/v1/admin/shipments/{shipment_id}", body, token=shop.admin)


def iso(seconds_from_now=0.0, base=None):
    """RFC 3339 UTC, `seconds_from_now` after now (or after `base`, RFC 3339)."""
    t = (datetime.datetime.fromisoformat(base.replace("Z", "+00:00")) if base
         else datetime.datetime.now(datetime.timezone.utc))
    t += datetime.timedelta(seconds=seconds_from_now)
    ms = t.microsecond // 1000  # as shopd writes it: milliseconds only when not zero
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms:03d}Z" if ms else "Z")


def when(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))


def carrier_event(s, body, secret=SECRET, signature=None):
    raw = json.dumps(body).encode()
    sig = signature or hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    # Straight to shopd: the signature covers the exact bytes, which a proxy
    # (the Prism stage's) may re-encode.
    return s.request("POST", "/v1/carrier/events", raw=raw, direct=True,
                     headers={"Carrier-Signature": sig, "Content-Type": "application/json"})


def test_allocation_picks_the_nearest_warehouse_that_has_it(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    east = warehouse(s, shop, "East", "10001", 40.7, -74.0)
    west = shop.warehouse  # Seattle
    _, v = stocked(s, shop, {east: 20, west: 20})
    ny = Buyer(s, address=NEW_YORK)
    sea = Buyer(s, address=SEATTLE)
    o1 = ny.buy(v, 2)
    o2 = sea.buy(v, 2)
    assert o1.status == 201 and o2.status == 201, (o1, o2)
    ship1 = fulfil(s, shop, o1["id"])["shipments"]
    ship2 = fulfil(s, shop, o2["id"])["shipments"]
    assert [x["warehouse_id"] for x in ship1] == [east], "New York is served from the east"
    assert [x["warehouse_id"] for x in ship2] == [west], "Seattle from the west"

    # A warehouse that has the whole line beats a nearer one that would split it.
    _, v2 = stocked(s, shop, {east: 1, west: 10})
    o3 = ny.buy(v2, 3)
    assert [x["warehouse_id"] for x in fulfil(s, shop, o3["id"])["shipments"]] == [west]

    # When none has it all, the cheapest gives all it has, then the next.
    _, v3 = stocked(s, shop, {east: 4, west: 4})
    o4 = ny.buy(v3, 6)
    # Paid: both reservation rows consumed, each warehouse's units gone.
    db = s.database()
    assert db.query("SELECT warehouse_id, quantity, status FROM reservations WHERE order_id = ?"
                    " ORDER BY warehouse_id", (o4["id"],)) == sorted(
        [(east, 4, "consumed"), (west, 2, "consumed")])
    assert sorted(db.query("SELECT warehouse_id, on_hand, reserved FROM stock WHERE variant_id = ?",
                           (v3,))) == sorted([(east, 0, 0), (west, 2, 0)])
    ships = fulfil(s, shop, o4["id"])["shipments"]
    by_wh = {x["warehouse_id"]: sum(l["quantity"] for l in x["lines"]) for x in ships}
    assert by_wh == {east: 4, west: 2}, by_wh
    rows = s.database().query("SELECT warehouse_id, quantity FROM reservations"
                              " WHERE order_id = ? ORDER BY warehouse_id", (o4["id"],))
    assert sorted(rows) == sorted([(east, 4), (west, 2)]), "the reservation rows say which"


def test_allocation_ties_and_load(make_server):
    s = make_server(dict(ENV, SHOPD_ALLOC_KM_PER_SHIPMENT="1000"))
    shop = Shop(s)
    # Two warehouses at the same place: more stock wins a tie.
    twin = warehouse(s, shop, "Twin", "98101", 47.6, -122.3)
    _, v = stocked(s, shop, {shop.warehouse: 10, twin: 30})
    b = Buyer(s)
    o = b.buy(v, 1)
    assert [x["warehouse_id"] for x in fulfil(s, shop, o["id"])["shipments"]] == [twin]
    # Now `twin` has an open shipment; at 1000 km per open shipment the other wins.
    o = b.buy(v, 1)
    assert [x["warehouse_id"] for x in fulfil(s, shop, o["id"])["shipments"]] == [shop.warehouse]


def test_split_order_with_a_backorder(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    w1, w2 = shop.warehouse, warehouse(s, shop, "Second", "98004", 47.6, -122.2)
    _, va = stocked(s, shop, {w1: 5})
    _, vb = stocked(s, shop, {w2: 5})
    _, vc = stocked(s, shop, {w1: 5})
    _, vd = stocked(s, shop, {}, allow_backorder=True)
    _, ve = stocked(s, shop, {}, allow_backorder=True)
    b = Buyer(s)
    for v, q in [(va, 1), (vb, 2), (vc, 1), (vd, 2), (ve, 1)]:
        assert b.add(v, q).status == 201
    o = b.checkout()
    assert o.status == 201 and o["status"] == "paid", o
    lines = {l["variant_id"]: l for l in o["lines"]}
    assert lines[vd]["backordered"] == 2 and lines[va]["backordered"] == 0

    r = fulfil(s, shop, o["id"])
    assert r.status == 201, r
    by_wh = {x["warehouse_id"]: sorted(l["variant_id"] for l in x["lines"]) for x in r["shipments"]}
    assert by_wh == {w1: sorted([va, vc]), w2: [vb]}, by_wh
    assert sorted((x["order_line_id"], x["quantity"]) for x in r["backordered"]) == sorted(
        [(lines[vd]["id"], 2), (lines[ve]["id"], 1)])
    assert all(x["status"] == "label_created" and x["tracking_number"].startswith("SIM")
               for x in r["shipments"])
    assert order_of(s, b, o["id"])["status"] == "fulfilling"

    # A shipped line cannot be cancelled; the unshipped backordered one can.
    assert_problem(s.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [lines[va]["id"]]},
                          token=b.token), 409)
    c = s.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [lines[ve]["id"]]}, token=b.token)
    assert c.status == 200, c
    assert c["status"] == "fulfilling" and c["refunds"][-1]["amount_cents"] > 0

    first, second = r["shipments"]
    assert move(s, shop, first["id"], "in_transit").status == 200
    assert order_of(s, b, o["id"])["status"] == "partially_shipped"
    assert move(s, shop, second["id"], "in_transit").status == 200
    assert order_of(s, b, o["id"])["status"] == "partially_shipped", "D is still backordered"

    # Nothing to ship until stock arrives: the backorder stays.
    again = fulfil(s, shop, o["id"])
    assert again.status == 201 and again["shipments"] == [] and again["backordered"] == [
        {"order_line_id": lines[vd]["id"], "quantity": 2}]
    assert s.put(f"/v1/inventory/{vd}/{w2}", {"on_hand": 3}, token=shop.trusted).status == 200
    third = fulfil(s, shop, o["id"])
    assert third.status == 201 and third["backordered"] == [], third
    assert [x["warehouse_id"] for x in third["shipments"]] == [w2]
    assert stock_of(s, shop, vd) == {"on_hand": 1, "reserved": 0, "available": 1}
    assert_problem(fulfil(s, shop, o["id"]), 409)  # nothing left to ship

    third = third["shipments"][0]
    assert move(s, shop, third["id"], "in_transit").status == 200
    assert order_of(s, b, o["id"])["status"] == "shipped"
    for sh in (first, second, third):
        assert move(s, shop, sh["id"], "out_for_delivery").status == 200
        assert move(s, shop, sh["id"], "delivered").status == 200
    doc = order_of(s, b, o["id"])
    assert doc["status"] == "delivered"
    assert [h["status"] for h in doc["history"]] == [
        "pending_payment", "paid", "fulfilling", "partially_shipped", "shipped", "delivered"]
    assert len(doc["shipments"]) == 3 and all(x["status"] == "delivered" for x in doc["shipments"])
    assert s.database().scalar("SELECT sum(open_shipments) FROM warehouses") == 0


def test_shipment_state_machine_through_the_api(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    legal = {"label_created": {"in_transit"},
             "in_transit": {"out_for_delivery", "delivered", "delivery_failed"},
             "out_for_delivery": {"delivered", "delivery_failed"},
             "delivery_failed": {"out_for_delivery", "returned_to_sender"}}
    every = ["label_created", "in_transit", "out_for_delivery", "delivered", "delivery_failed",
             "returned_to_sender"]
    path = ["in_transit", "out_for_delivery", "delivery_failed", "out_for_delivery", "delivered"]
    state = "label_created"
    for nxt in path:
        for bad in every:
            if bad not in legal.get(state, set()):
                assert_problem(move(s, shop, sh["id"], bad), 409, "status")
        r = move(s, shop, sh["id"], nxt, detail="by test")
        assert r.status == 200 and r["status"] == nxt, r
        state = nxt
    for bad in every:
        assert_problem(move(s, shop, sh["id"], bad), 409)
    r = s.get(f"/v1/shipments/{sh['id']}", token=b.token)
    assert [e["status"] for e in r["events"]] == ["label_created"] + path
    assert r["attempts"] == 2
    assert_problem(move(s, shop, sh["id"], "lost"), 422, "status")
    assert_problem(move(s, shop, 999999, "in_transit"), 404)
    assert_problem(s.patch(f"/v1/admin/shipments/{sh['id']}", {}, token=shop.admin), 422, "status")


def test_carrier_callbacks(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    tn = sh["tracking_number"]
    picked_up = iso()
    ev = {"tracking_number": tn, "status": "in_transit", "detail": "picked up",
          "at": picked_up}
    assert_problem(carrier_event(s, ev, secret="wrong"), 401)
    assert_problem(carrier_event(s, ev, signature="00" * 32), 401)
    assert_problem(s.post("/v1/carrier/events", ev), 401)  # unsigned
    assert s.get(f"/v1/shipments/{sh['id']}", token=b.token)["status"] == "label_created"
    assert carrier_event(s, ev).status == 204
    assert carrier_event(s, ev).status == 204  # replayed: changes nothing
    r = s.get(f"/v1/shipments/{sh['id']}", token=b.token)
    assert r["status"] == "in_transit" and len(r["events"]) == 2
    assert r["events"][1] == {"status": "in_transit", "at": picked_up, "detail": "picked up"}
    assert_problem(carrier_event(s, dict(ev, tracking_number="SIM000000000000")), 404)
    assert_problem(carrier_event(s, dict(ev, status="flying")), 422, "status")
    assert_problem(carrier_event(s, {"status": "delivered"}), 422, "tracking_number")
    assert_problem(carrier_event(s, dict(ev, at="yesterday")), 422, "at")
    # An illegal move (in_transit → returned_to_sender) is refused.
    assert_problem(carrier_event(s, dict(ev, status="returned_to_sender")), 409)
    assert carrier_event(s, dict(ev, status="delivered", at=iso())).status == 204
    assert order_of(s, b, o["id"])["status"] == "delivered"
    # An event for a status it never went through, after delivery, is an
    # illegal move, and changes nothing.
    assert_problem(carrier_event(s, dict(ev, status="out_for_delivery", at=picked_up)), 409)
    assert s.get(f"/v1/shipments/{sh['id']}", token=b.token)["status"] == "delivered"


def test_a_late_event_for_a_status_already_passed_changes_nothing(make_server):
    """Carriers retry and deliver callbacks out of order. An event for a
    status the shipment already went through (in_transit once it is out for
    delivery; delivery_failed or in_transit once delivered), with or without
    a time, is stale: 204 and nothing changes, not even the event list. A
    move that is illegal and never happened stays 409, and so does an
    admin's illegal move."""
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    tn = sh["tracking_number"]

    def event(status, **kw):
        return carrier_event(s, dict({"tracking_number": tn, "status": status}, **kw))

    def now():
        return s.get(f"/v1/shipments/{sh['id']}", token=b.token).body

    assert event("in_transit").status == 204
    assert event("out_for_delivery").status == 204
    before = now()
    r = event("in_transit")  # the very same bytes, retried after the next event
    assert r.status == 204, r
    assert event("in_transit", detail="sorted at the hub", at=iso()).status == 204
    assert now() == before
    assert event("delivery_failed").status == 204
    assert event("out_for_delivery").status == 204  # the second attempt
    assert event("delivered").status == 204
    after = now()
    assert after["status"] == "delivered" and after["attempts"] == 2, after
    for late in ("in_transit", "out_for_delivery", "delivery_failed", "delivered"):
        r = event(late)
        assert r.status == 204, (late, r)
    assert event("delivery_failed", detail="nobody home", at=iso()).status == 204
    assert now() == after
    assert order_of(s, b, o["id"])["status"] == "delivered"
    # Never happened: still a conflict, from the carrier and from an admin.
    assert_problem(event("returned_to_sender"), 409, "status")
    assert_problem(move(s, shop, sh["id"], "in_transit"), 409, "status")
    assert_problem(move(s, shop, sh["id"], "delivery_failed"), 409, "status")
    assert now() == after


def test_a_carrier_time_outside_the_shipments_life_is_refused(make_server):
    """The carrier's `at` sets delivered_at, which starts the return window:
    a time more than five minutes ahead of the shop's clock, or before the
    shipment was created, is 422 on `at` and changes nothing. A time a
    little ahead is taken as now. A time before the latest event is kept
    as the carrier gave it, the events staying in the order they happened
    to the shipment."""
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    tn = sh["tracking_number"]

    def event(status, at):
        return carrier_event(s, {"tracking_number": tn, "status": status, "at": at})

    def now():
        return s.get(f"/v1/shipments/{sh['id']}", token=b.token).body

    before = now()
    for at in ("2099-01-01T00:00:00Z", iso(600), "2020-01-01T00:00:00Z",
               iso(-600, sh["created_at"])):
        assert_problem(event("in_transit", at), 422, "at")
    assert now() == before
    assert event("in_transit", iso(120)).status == 204  # the carrier's clock runs ahead
    r = now()
    assert r["status"] == "in_transit"
    transit_at = r["events"][1]["at"]
    assert when(transit_at) <= when(iso()), "not in the future"
    before = now()
    for at in ("2020-01-01T00:00:00Z", iso(-3600, sh["created_at"]), iso(3600)):
        assert_problem(event("delivered", at), 422, "at")
    assert now() == before
    assert order_of(s, b, o["id"])["status"] == "shipped"
    # Before the in_transit event, after the label: kept, listed after it.
    assert event("delivered", sh["created_at"]).status == 204
    r = now()
    assert [(e["status"], e["at"]) for e in r["events"]] == [
        ("label_created", r["events"][0]["at"]), ("in_transit", transit_at),
        ("delivered", sh["created_at"])], r["events"]
    assert r["delivered_at"] == sh["created_at"]
    line = o["lines"][0]["id"]
    ret = s.post(f"/v1/orders/{o['id']}/returns",
                 {"lines": [{"order_line_id": line, "quantity": 1}], "reason": "does not fit"},
                 token=b.token, headers={"Idempotency-Key": "r-" + uid()})
    assert ret.status == 201, ret


def test_carrier_events_without_a_time_are_told_apart_by_the_attempt(make_server):
    """A carrier that sends no `at`: the second out_for_delivery and the
    second delivery_failed have the same bytes as the first, and are new
    attempts, not replays; a replay right after an event still changes
    nothing."""
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    tn = sh["tracking_number"]

    def event(status):
        r = carrier_event(s, {"tracking_number": tn, "status": status})
        assert r.status == 204, r
        return s.get(f"/v1/shipments/{sh['id']}", token=b.token)

    assert event("in_transit")["status"] == "in_transit"
    for attempt in (1, 2):
        assert event("out_for_delivery")["status"] == "out_for_delivery"
        assert event("out_for_delivery")["attempts"] == attempt, "a replay: no new attempt"
        assert event("delivery_failed")["status"] == "delivery_failed"
        assert event("delivery_failed")["status"] == "delivery_failed"
    event("out_for_delivery")
    r = event("delivery_failed")
    assert r["status"] == "returned_to_sender", r
    assert [e["status"] for e in r["events"]] == [
        "label_created", "in_transit", "out_for_delivery", "delivery_failed",
        "out_for_delivery", "delivery_failed", "out_for_delivery", "delivery_failed",
        "returned_to_sender"], r["events"]
    assert event("delivery_failed")["status"] == "returned_to_sender"
    assert stock_of(s, shop, v)["on_hand"] == 10, "restocked once"


def test_three_failed_deliveries_return_to_sender_and_refund_once(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop, 2)
    assert stock_of(s, shop, v)["on_hand"] == 8
    for status in ["in_transit", "out_for_delivery", "delivery_failed", "out_for_delivery",
                   "delivery_failed", "out_for_delivery"]:
        assert move(s, shop, sh["id"], status).status == 200
    r = move(s, shop, sh["id"], "delivery_failed")
    assert r.status == 200 and r["status"] == "returned_to_sender", r
    assert [e["status"] for e in r["events"]][-2:] == ["delivery_failed", "returned_to_sender"]
    assert_problem(move(s, shop, sh["id"], "out_for_delivery"), 409)
    assert stock_of(s, shop, v)["on_hand"] == 10, "restocked"
    doc = order_of(s, b, o["id"])
    assert doc["status"] == "cancelled", "nothing of the order is left to deliver"
    assert doc["refund_status"] == "refunded" and doc["refunded_cents"] == doc["total_cents"]
    moves = s.get(f"/v1/inventory/{v}", token=shop.admin)["movements"]
    assert [m["kind"] for m in moves].count("return") == 1

    def ledger():
        return s.get(f"/v1/admin/payments?order_id={o['id']}", token=shop.admin)["data"]
    refunds = wait_for("the card refund", lambda: [e for e in ledger() if e["type"] == "refund"])
    assert sum(e["amount_cents"] for e in refunds) == doc["total_cents"]
    assert len(refunds) == 1, "refunded exactly once"


def test_label_timeout_is_retried_with_the_same_key(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s, address=dict(ADDRESS, line2="carrier:timeout"))
    o = b.buy(v, 1)
    r = fulfil(s, shop, o["id"])
    assert r.status == 201 and r["shipments"][0]["tracking_number"], r
    key = f"shipment-{r['shipments'][0]['id']}"
    assert s.database().scalar("SELECT count(*) FROM carrier_sim_labels WHERE key = ?",
                               (key,)) == 1, "one label however often it was asked for"


def test_undeliverable_address_changes_nothing(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s, address=dict(ADDRESS, line2="carrier:undeliverable"))
    o = b.buy(v, 1)
    before = order_of(s, b, o["id"])
    key = "f-" + uid()
    assert_problem(fulfil(s, shop, o["id"], key=key), 422, "shipping_address")
    after = order_of(s, b, o["id"])
    assert after["status"] == "paid" and after["shipments"] == []
    assert after["lines"] == before["lines"]
    assert s.database().scalar("SELECT count(*) FROM shipments") == 0
    assert s.database().scalar("SELECT sum(open_shipments) FROM warehouses") == 0
    assert_problem(fulfil(s, shop, o["id"], key=key), 422)  # the key was not kept


def test_carrier_down_leaves_the_label_pending_and_housekeeping_retries(make_server):
    s = make_server(dict(ENV, SHOPD_CARRIER_LABEL_ATTEMPTS="1"))
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s, address=dict(ADDRESS, line2="carrier:down"))
    o = b.buy(v, 1)
    r = fulfil(s, shop, o["id"])
    assert r.status == 201 and r["shipments"][0]["tracking_number"] is None, r
    sid = r["shipments"][0]["id"]
    assert_problem(move(s, shop, sid, "in_transit"), 409)  # no label yet
    # The carrier recovers: the address is fixed at the carrier's end.
    s.database().execute("UPDATE orders SET ship_line2 = NULL WHERE id = ?", (o["id"],))
    got = wait_for("the label", lambda: s.get(f"/v1/shipments/{sid}", token=shop.admin)
                   ["tracking_number"], timeout=15)
    assert got.startswith("SIM")


def test_fulfil_is_idempotent(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s)
    o = b.buy(v, 1)
    o2 = b.buy(v, 1)
    first = fulfil(s, shop, o["id"], key="same")
    again = fulfil(s, shop, o["id"], key="same")
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true"
    assert [x["id"] for x in again["shipments"]] == [x["id"] for x in first["shipments"]]
    assert s.database().scalar("SELECT count(*) FROM shipments") == 1
    # a replay answers the first answer, not the shipment as it is now
    assert move(s, shop, first["shipments"][0]["id"], "in_transit").status == 200
    later = fulfil(s, shop, o["id"], key="same")
    assert later.status == 201 and later.headers.get("idempotent-replayed") == "true"
    assert later.body == first.body and later["shipments"][0]["status"] == "label_created"
    assert_problem(fulfil(s, shop, o2["id"], key="same"), 422, "Idempotency-Key")
    assert_problem(s.post(f"/v1/admin/orders/{o['id']}/fulfil", {}, token=shop.admin), 400,
                   "Idempotency-Key")
    assert_problem(s.post(f"/v1/admin/orders/{o2['id']}/fulfil", {"x": 1}, token=shop.admin,
                          headers={"Idempotency-Key": "k" + uid()}), 422)
    assert_problem(fulfil(s, shop, 999999), 404)


def test_fulfil_refused_for_orders_not_paid(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s)
    o = b.buy(v, 1)
    assert s.post(f"/v1/orders/{o['id']}/cancel", {}, token=b.token).status == 200
    assert_problem(fulfil(s, shop, o["id"]), 409)


def two_sellers_order(s, shop):
    """One order of a unit of the trusted seller's variant and two of the
    other seller's (approved by an admin), both stocked in the shop's
    warehouse: (mine, theirs, the buyer, the order)."""
    _, mine = stocked(s, shop, {shop.warehouse: 10}, seller=shop.trusted)
    theirs = shop.product(stock=None, seller=shop.other_seller)["variants"][0]["id"]
    assert s.put(f"/v1/inventory/{theirs}/{shop.warehouse}", {"on_hand": 10},
                 token=shop.other_seller).status == 200
    b = Buyer(s)
    assert b.add(mine, 1).status == 201 and b.add(theirs, 2).status == 201
    o = b.checkout()
    assert o.status == 201, o
    return mine, theirs, b, o


def test_sellers_see_and_ship_only_their_lines(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    mine, theirs, b, o = two_sellers_order(s, shop)
    view = s.get("/v1/seller/orders", token=shop.trusted)
    assert view.status == 200
    mine_view = [x for x in view["data"] if x["id"] == o["id"]][0]
    assert [l["variant_id"] for l in mine_view["lines"]] == [mine]
    assert "payments" not in mine_view and "email" not in json.dumps(mine_view)
    assert mine_view["shipping_address"]["postal_code"] == "98101"
    r = fulfil(s, shop, o["id"], token=shop.trusted, path="seller")
    assert r.status == 201, r
    assert [l["variant_id"] for x in r["shipments"] for l in x["lines"]] == [mine]
    assert order_of(s, b, o["id"])["status"] == "fulfilling"
    assert_problem(fulfil(s, shop, o["id"], token=shop.trusted, path="seller"), 409)
    r2 = fulfil(s, shop, o["id"], token=shop.other_seller, path="seller")
    assert [l["variant_id"] for x in r2["shipments"] for l in x["lines"]] == [theirs]
    # The other seller sees only their own shipment in their view.
    v2 = [x for x in s.get("/v1/seller/orders", token=shop.other_seller)["data"]
          if x["id"] == o["id"]][0]
    assert [x["id"] for x in v2["shipments"]] == [r2["shipments"][0]["id"]]
    assert_problem(s.get(f"/v1/shipments/{r['shipments'][0]['id']}", token=shop.other_seller), 404)
    # A seller with no line in an order cannot touch it.
    b2 = Buyer(s)
    o2 = b2.buy(theirs, 1)
    assert_problem(fulfil(s, shop, o2["id"], token=shop.trusted, path="seller"), 404)
    assert_problem(s.get("/v1/seller/orders?status=lost", token=shop.trusted), 422, "status")


def test_sellers_queues_are_the_same_after_migrating_their_lines(make_server):
    """Migration 0034 gives every order line its product's seller and finds a
    seller's orders by (seller_id, order_id) instead of by product. A
    database put back as it was before lists the same queues once migrated,
    and orders placed after it join them."""
    s = make_server(ENV)
    shop = Shop(s)
    mine, theirs, b, o = two_sellers_order(s, shop)
    only_theirs = Buyer(s).buy(theirs, 1)
    queue = lambda token: [x["id"] for x in s.get("/v1/seller/orders?limit=100",  # noqa: E731
                                                  token=token)["data"]]
    before = queue(shop.trusted), queue(shop.other_seller)
    assert o["id"] in before[0] and only_theirs["id"] not in before[0]
    assert {o["id"], only_theirs["id"]} <= set(before[1])
    s.stop()
    db = s.database()
    db.execute("DROP INDEX order_lines_seller")
    db.execute("ALTER TABLE order_lines DROP COLUMN seller_id")
    db.execute("CREATE INDEX order_lines_product ON order_lines (product_id, order_id)")
    db.execute("DELETE FROM schema_migrations WHERE version = 34")
    assert "(1 migration applied)" in s.cli("migrate").stdout
    s.start()
    assert (queue(shop.trusted), queue(shop.other_seller)) == before
    later = Buyer(s).buy(mine, 1)
    assert queue(shop.trusted) == sorted(before[0] + [later["id"]])
    assert later["id"] not in queue(shop.other_seller)


def test_a_seller_sees_only_their_lines_of_a_parcel_an_admin_packed(make_server):
    """Found from outside: an admin's fulfil packs every seller's lines
    from one warehouse into one shipment, and GET /v1/seller/orders showed
    that shipment whole, the other seller's lines (ids, variants,
    quantities) included."""
    s = make_server(ENV)
    shop = Shop(s)
    mine, theirs, b, o = two_sellers_order(s, shop)
    r = fulfil(s, shop, o["id"])
    assert r.status == 201, r
    assert len(r["shipments"]) == 1 and len(r["shipments"][0]["lines"]) == 2
    for token, variant in ((shop.trusted, mine), (shop.other_seller, theirs)):
        view = [x for x in s.get("/v1/seller/orders", token=token)["data"]
                if x["id"] == o["id"]][0]
        assert [l["variant_id"] for l in view["lines"]] == [variant]
        assert [x["id"] for x in view["shipments"]] == [r["shipments"][0]["id"]]
        assert [l["variant_id"] for x in view["shipments"] for l in x["lines"]] == [variant]
        # The parcel itself, asked for by id: the same part of it.
        parcel = s.get(f"/v1/shipments/{r['shipments'][0]['id']}", token=token)
        assert parcel.status == 200 and [l["variant_id"] for l in parcel["lines"]] == [variant]
    assert_problem(s.get(f"/v1/shipments/{r['shipments'][0]['id']}", token=shop.seller), 404)
    whole = s.get(f"/v1/shipments/{r['shipments'][0]['id']}", token=b.token)
    assert sorted(l["variant_id"] for l in whole["lines"]) == sorted([mine, theirs])


def test_admin_order_queue(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s)
    ids = [b.buy(v, 1)["id"] for _ in range(3)]
    fulfil(s, shop, ids[1])
    page = s.get("/v1/admin/orders?status=paid&limit=1", token=shop.admin)
    assert [x["id"] for x in page["data"]] == [ids[0]] and page["next_cursor"]
    page2 = s.get(f"/v1/admin/orders?status=paid&limit=1&cursor={page['next_cursor']}",
                  token=shop.admin)
    assert [x["id"] for x in page2["data"]] == [ids[2]]
    assert [x["id"] for x in s.get("/v1/admin/orders?status=fulfilling",
                                   token=shop.admin)["data"]] == [ids[1]]
    assert_problem(s.get("/v1/admin/orders?status=lost", token=shop.admin), 422, "status")
    assert_problem(s.get("/v1/admin/orders?cursor=abc", token=shop.admin), 422, "cursor")


def test_idor_and_roles(make_server):
    s = make_server(ENV)
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b, other = Buyer(s), Buyer(s)
    o = b.buy(v, 1)
    sh = fulfil(s, shop, o["id"])["shipments"][0]
    assert s.get(f"/v1/shipments/{sh['id']}", token=b.token).status == 200
    assert_problem(s.get(f"/v1/shipments/{sh['id']}", token=other.token), 404)
    assert_problem(s.get(f"/v1/shipments/{sh['id']}"), 401)
    assert_problem(fulfil(s, shop, o["id"], token=b.token), 403)
    assert_problem(move(s, shop, sh["id"], "in_transit") if False else
                   s.patch(f"/v1/admin/shipments/{sh['id']}", {"status": "in_transit"},
                           token=b.token), 403)
    assert_problem(s.get("/v1/admin/orders", token=b.token), 403)
    assert_problem(s.get("/v1/seller/orders", token=b.token), 403)


def test_the_simulated_carrier_delivers_and_returns(make_server):
    s = make_server(dict(ENV, SHOPD_CARRIER_SIM="auto", SHOPD_CARRIER_STEP_MS="100"))
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s)
    o = b.buy(v, 1)
    fulfil(s, shop, o["id"])
    wait_for("delivery", lambda: order_of(s, b, o["id"])["status"] == "delivered", timeout=20)
    sh = order_of(s, b, o["id"])["shipments"][0]
    assert [e["status"] for e in sh["events"]] == [
        "label_created", "in_transit", "out_for_delivery", "delivered"]
    # A parcel nobody takes comes back after three attempts, and is refunded.
    bad = Buyer(s, address=dict(ADDRESS, line2="carrier:fail-3"))
    o2 = bad.buy(v, 1)
    fulfil(s, shop, o2["id"])
    wait_for("return to sender",
             lambda: order_of(s, bad, o2["id"])["shipments"][0]["status"] == "returned_to_sender",
             timeout=20)
    doc = order_of(s, bad, o2["id"])
    assert doc["status"] == "cancelled" and doc["refunded_cents"] == doc["total_cents"]
    assert [e["status"] for e in doc["shipments"][0]["events"]].count("delivery_failed") == 3


def sink(s, channel="email"):
    import os
    path = os.path.join(s.dir, "notifications", channel + ".jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_third_failed_delivery_is_news_of_the_return_not_of_another_try(make_server):
    """Found from outside: after the third failure the customer was told
    'the carrier will try again' (and of the refund), though the parcel was
    on its way back."""
    s = make_server(ENV)
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    assert move(s, shop, sh["id"], "in_transit").status == 200
    for _ in range(3):
        assert move(s, shop, sh["id"], "out_for_delivery").status == 200
        assert move(s, shop, sh["id"], "delivery_failed").status == 200

    def kinds():
        return [n.get("kind") for n in sink(s) if n.get("user_id") == b.user["id"]]
    # Notices go out asynchronously, in no set order: wait for all of them,
    # then make sure no third "will try again" follows.
    wait_for("the return's news", lambda: "order_returned_to_sender" in kinds()
             and "order_refunded" in kinds() and kinds().count("order_delivery_failed") >= 2)
    time.sleep(0.5)
    assert kinds().count("order_delivery_failed") == 2, kinds()
    assert kinds().count("order_returned_to_sender") == 1, kinds()


def test_shipment_news_and_expiring_cards_are_notified_once(make_server):
    import time
    s = make_server(dict(ENV, SHOPD_CARD_EXPIRY_SCAN_MS="200"))
    shop = Shop(s)
    v, b, o, sh = shipped(s, shop)
    for st in ("in_transit", "out_for_delivery", "delivery_failed", "out_for_delivery",
               "delivered"):
        assert move(s, shop, sh["id"], st).status == 200

    def kinds():
        return [n.get("kind") for n in sink(s) if n.get("user_id") == b.user["id"]]
    want = ["order_shipped", "order_out_for_delivery", "order_delivery_failed",
            "order_out_for_delivery", "order_delivered"]
    wait_for("shipment notifications",
             lambda: all(k in kinds() for k in want) and kinds().count("order_out_for_delivery") == 2)
    # A card expiring at the end of this month is announced once; a later one is not.
    now = time.gmtime()
    soon = s.post("/v1/me/payment-methods", {"type": "card", "number": "4242424242424242",
                                             "exp_month": now.tm_mon, "exp_year": now.tm_year,
                                             "cvc": "123"}, token=b.token)
    assert soon.status == 201, soon
    wait_for("the card notice", lambda: "card_expiring" in kinds())
    time.sleep(0.6)
    assert kinds().count("card_expiring") == 1, "once"
    assert kinds().count("order_shipped") == 1


def test_the_same_callback_sent_twice_at_once_is_a_replay(make_server):
    """Found from outside (PostgreSQL): a carrier that sends one callback
    again before the first is answered (a retry after a timeout) got a 409
    "the shipment changed meanwhile" for the copy. API.md: a replayed event
    → 204 and changes nothing — with or without a time of its own."""
    s = make_server(ENV)
    shop = Shop(s)
    for _ in range(4):
        v, b, o, sh = shipped(s, shop)
        tn = sh["tracking_number"]
        for ev in ({"tracking_number": tn, "status": "in_transit", "at": iso()},
                   {"tracking_number": tn, "status": "delivery_failed"},
                   {"tracking_number": tn, "status": "out_for_delivery"}):
            got = at_once(lambda _: carrier_event(s, ev), range(4), threads=4)
            assert [r.status for r in got] == [204] * 4, (ev, got)
        r = s.get(f"/v1/shipments/{sh['id']}", token=b.token)
        assert [e["status"] for e in r["events"]] == [
            "label_created", "in_transit", "delivery_failed", "out_for_delivery"], r
        assert r["attempts"] == 1, r


def test_without_a_configured_secret_no_one_outside_can_sign_a_callback(make_server):
    """Found from outside: with SHOPD_CARRIER_SECRET unset, callbacks were
    checked against a constant written in the source ("shopd-carrier-sim-
    secret"), so anyone could sign one — three forged delivery_failed
    events return a delivered parcel to the sender and refund it. API.md:
    a bad signature → 401. Unset, the shop makes a secret of its own, kept
    in its database; its simulated carrier still signs with it."""
    s = make_server({"SHOPD_CARRIER_SIM": "auto", "SHOPD_CARRIER_STEP_MS": "100"})
    shop = Shop(s)
    _, v = stocked(s, shop, {shop.warehouse: 10})
    b = Buyer(s)
    o = b.buy(v, 1)
    sh = fulfil(s, shop, o["id"])["shipments"][0]
    forged = {"tracking_number": sh["tracking_number"], "status": "delivery_failed"}
    for secret in ("shopd-carrier-sim-secret", ""):
        assert_problem(carrier_event(s, forged, secret=secret), 401)
    assert [e["status"] for e in s.get(f"/v1/shipments/{sh['id']}", token=b.token)["events"]
            ].count("delivery_failed") == 0
    wait_for("delivery", lambda: order_of(s, b, o["id"])["status"] == "delivered", timeout=20)


def test_a_return_and_a_parcel_back_to_the_sender_refund_the_whole_order_in_either_order(
        make_server):
    """Found from outside: an order of two parcels, one delivered and
    returned, the other returned to the sender after three failed
    deliveries. Return first, then the parcel back: the shipping was never
    refunded (2130 of 2629); the parcel back first, then the return: all of
    it. The buyer keeps nothing either way, and gets the same back."""
    s = make_server(ENV)
    shop = Shop(s)
    w2 = warehouse(s, shop, "Second", "98004", 47.6, -122.2)
    for return_first in (True, False):
        _, va = stocked(s, shop, {shop.warehouse: 5}, price=1000)
        _, vb = stocked(s, shop, {w2: 5}, price=1000)
        b = Buyer(s)
        assert b.add(va, 1).status == 201 and b.add(vb, 1).status == 201
        o = b.checkout()
        assert o.status == 201 and o["shipping_cents"] > 0, o
        r = fulfil(s, shop, o["id"])
        by_wh = {x["warehouse_id"]: x for x in r["shipments"]}
        line_a = next(l for l in o["lines"] if l["variant_id"] == va)
        for st in ("in_transit", "delivered"):
            assert move(s, shop, by_wh[shop.warehouse]["id"], st).status == 200

        def back_to_sender():
            sid = by_wh[w2]["id"]
            assert move(s, shop, sid, "in_transit").status == 200
            for _ in range(3):
                assert move(s, shop, sid, "out_for_delivery").status == 200
                assert move(s, shop, sid, "delivery_failed").status == 200

        def returned():
            rr = s.post(f"/v1/orders/{o['id']}/returns",
                        {"lines": [{"order_line_id": line_a["id"], "quantity": 1}],
                         "reason": "changed my mind"},
                        token=b.token, headers={"Idempotency-Key": "r-" + uid()})
            assert rr.status == 201, rr
            for st in ("received", "inspected", "refunded"):
                assert s.patch(f"/v1/admin/returns/{rr['id']}", {"status": st},
                               token=shop.admin).status == 200

        for step in ((returned, back_to_sender) if return_first else (back_to_sender, returned)):
            step()
        doc = order_of(s, b, o["id"])
        assert doc["refunded_cents"] == doc["total_cents"], (return_first, doc["refunds"])
        assert doc["refund_status"] == "refunded", doc


def test_fulfils_racing_for_arrived_backorder_stock_ship_what_there_is(make_server):
    """Found from outside (PostgreSQL): three paid orders backordered on one
    variant, three units arriving, three fulfils at once: one of them was
    a 409 "stock of variant … changed" for an order that is paid. API.md:
    409 only when the order is not paid/fulfilling/partially_shipped; a
    line without stock is backordered. Every unit ships once, none twice."""
    s = make_server(ENV)
    shop = Shop(s)
    for _ in range(4):
        _, v = stocked(s, shop, {}, allow_backorder=True)
        orders = []
        for _ in range(3):
            b = Buyer(s)
            assert b.add(v, 2).status == 201
            orders.append(b.checkout())
        assert s.put(f"/v1/inventory/{v}/{shop.warehouse}", {"on_hand": 3},
                     token=shop.trusted).status == 200
        got = at_once(lambda o: fulfil(s, shop, o["id"]), orders, threads=3)
        assert [r.status for r in got] == [201] * 3, got
        shipped = sum(l["quantity"] for r in got for x in r["shipments"] for l in x["lines"])
        back = sum(x["quantity"] for r in got for x in r["backordered"])
        assert (shipped, back) == (3, 3), got
        assert stock_of(s, shop, v) == {"on_hand": 0, "reserved": 0, "available": 0}
