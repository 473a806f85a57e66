"""Failures on demand for the sagas that follow a checkout (issue 17): a
flash-sale purchase (join, admission, purchase), a fulfilment (the shipments
and their labels) and a return (request, receipt, refund), each with a
store failure injected at every statement it executes in turn, and with the
outside service it calls (carrier, gateway) failing at every call, in every
mode. After each failure, and again after the retry once the fault is gone:
the invariants of saga_faults.check_invariants (no half order, shipment or
return; stock conserved per warehouse; flash-sale units never oversold; no
charge without an order, no refund twice), and the Idempotency-Key answers
the same.

One server for the file, faults armed through the admin hook
(SHOPD_FAULTS_API=1); on PostgreSQL every STRIDE-th step (saga_faults).
"""
import os

import pytest

from conftest import PASSWORD, uid, wait_for
from saga_faults import (arm, call_sweep, check_invariants, count, disarm, env,  # noqa: F401
                         product, same_answer, store_sweep)
from shop_fixtures import ADDRESS, Buyer
from test_flash_sales import iso
from test_returns import admin_move, ask, delivered_order

# Servers of their own with failures armed: the Prism stage would only repeat
# the plain run, at several times its cost (conftest.py).
pytestmark = pytest.mark.direct

# The store counts every statement the shop's writers step while a saga runs,
# the workers' too (the flash-sale ticker, housekeeping, the outbox): 100 to
# 320 per run here, where a checkout alone is about 30. Every statement
# would take several minutes under ASan on this box; these strides keep the
# file near two minutes (PostgreSQL: times STRIDE). The offsets move with
# the workers' timing, so repeated runs reach other statements too.
# `make faults` (SHOPD_TEST_FAULT_EVERY=1) fails every statement of every
# saga in turn, outside make test's budget.
STRIDES = {"flash": 4, "fulfil": 8, "returns": 12, "commits": 3}
if os.environ.get("SHOPD_TEST_FAULT_EVERY") == "1":
    STRIDES = dict.fromkeys(STRIDES, 1)


# ---- flash sales: join, admission, purchase ---------------------------------------

def flash_sale(s, shop, units, stock):
    p = shop.product(price=5000, stock=stock)
    v = p["variants"][0]["id"]
    r = s.post("/v1/admin/flash-sales",
               {"variant_id": v, "quantity": units, "price_cents": 999, "starts_at": iso(0),
                "ends_at": iso(3600), "per_customer_limit": 1, "admit_per_second": 1000},
               token=shop.admin)
    assert r.status == 201, r
    sid = r["id"]
    wait_for("the sale to go live", lambda: s.get(f"/v1/flash-sales/{sid}")["status"] == "live",
             timeout=10)
    return sid, v


def admission(s, buyer, sid, timeout=5):
    """The buyer's purchase token once admitted, or None."""
    try:
        e = wait_for("admission", lambda: s.get(f"/v1/flash-sales/{sid}/queue/me",
                                                token=buyer.token).get("token"), timeout=timeout)
    except AssertionError:
        return None
    return e


def test_flash_sale_purchase(env):
    s, shop = env
    sid, v = flash_sale(s, shop, units=400, stock=1000)
    variants = {v: 1000}

    def purchase(ctx, token):
        return s.post(f"/v1/flash-sales/{sid}/purchase",
                      {"token": token, "shipping_address_id": ctx["buyer"].address,
                       "payment_method_id": ctx["buyer"].card},
                      token=ctx["buyer"].token, headers={"Idempotency-Key": ctx["key"]})

    def prepare():
        return {"buyer": Buyer(s), "key": "fs-" + uid()}

    def run(ctx):
        """join → admitted → purchase; what each step answered."""
        out = {"join": s.post(f"/v1/flash-sales/{sid}/queue", token=ctx["buyer"].token)}
        if out["join"].status not in (200, 201):
            return out
        ctx["token"] = admission(s, ctx["buyer"], sid)
        if ctx["token"]:
            out["purchase"] = purchase(ctx, ctx["token"])
        return out

    def retry(ctx, first):
        if first["join"].status not in (200, 201):
            assert first["join"].status >= 500, first
        bought = first.get("purchase")
        if not ctx.get("token"):
            # Not admitted: back into the room (joining again keeps the place).
            join = s.post(f"/v1/flash-sales/{sid}/queue", token=ctx["buyer"].token)
            assert join.status in (200, 201), join
            ctx["token"] = admission(s, ctx["buyer"], sid, timeout=10)
            assert ctx["token"], "admitted once the fault is gone"
        # The token and key of the first try: a purchase that failed kept
        # the token; one whose answer was lost answers with its order as
        # first answered (SPEC §0) — pending_payment when the payment's
        # outcome was not known, which reconciliation then settles.
        again = purchase(ctx, ctx["token"])
        if bought is not None:
            same_answer(bought, again)
        if again.status == 201 and again["status"] == "pending_payment":
            def settled():
                o = s.get(f"/v1/orders/{again['id']}", token=ctx["buyer"].token)
                return o if o["status"] in ("paid", "cancelled") else None

            status = wait_for("reconciliation", settled)["status"]
            assert purchase(ctx, ctx["token"]).body == again.body, "the replay is the first answer"
        else:
            status = again["status"] if again.status == 201 else None
        if status == "cancelled":
            # The key names an order whose payment never happened (a timed-out
            # authorization, settled by reconciliation): the unit went back,
            # the token stays, and a new key buys.
            ctx["key"] = "fs-" + uid()
            again = purchase(ctx, ctx["token"])
            status = again["status"] if again.status == 201 else None
        assert status == "paid", again
        # The same key once more: the same order, and one unit sold to this buyer.
        replay = purchase(ctx, ctx["token"])
        assert replay.status in (200, 201) and replay["id"] == again["id"], (again, replay)

    store_sweep("flash-sale", s, shop, variants, prepare, run, retry, stride=STRIDES["flash"])
    for point in ("gateway.authorize", "store.commit"):
        call_sweep("flash-sale", s, shop, variants, point, prepare, run, retry)
    sale = s.get(f"/v1/flash-sales/{sid}").body
    assert sale["sold"] <= 400 and sale["in_flight"] == 0, sale


# ---- fulfilment: shipments and their labels --------------------------------------

def two_warehouse_stock(s, shop):
    """Two products, one in each of two warehouses: an order of both ships
    as two shipments, each with its label."""
    r = s.post("/v1/warehouses", {"code": "W" + uid()[:6], "name": "East", "country": "US",
                                  "postal_code": "10004", "lat": 40.7, "lon": -74.0},
               token=shop.admin)
    assert r.status == 201, r
    east = r["id"]
    out = []
    for wh in (shop.warehouse, east):
        p = shop.product(stock=None, price=1500)
        v = p["variants"][0]["id"]
        assert s.put(f"/v1/inventory/{v}/{wh}", {"on_hand": 1000}, token=shop.trusted).status == 200
        out.append(v)
    return out


def fulfil(s, shop, ctx):
    return s.post(f"/v1/admin/orders/{ctx['order']}/fulfil", {}, token=shop.admin,
                  headers={"Idempotency-Key": ctx["key"]})


def fulfil_saga(s, shop, vs, buyer):
    def prepare():
        for v in vs:
            assert buyer.add(v, 1).status == 201
        o = buyer.checkout()
        assert o.status == 201 and o["status"] == "paid", o
        return {"order": o["id"], "key": "f-" + uid()}

    def run(ctx):
        return fulfil(s, shop, ctx)

    def retry(ctx, first):
        again = fulfil(s, shop, ctx)
        assert again.status == 201 or (first.status == again.status and first.status < 500), \
            (first, again)
        if first.status == 201:
            assert [x["id"] for x in again["shipments"]] == [x["id"] for x in first["shipments"]], \
                (first.body, again.body)
        if again.status == 201:
            assert len(again["shipments"]) == len(vs), again.body
            lines = s.get(f"/v1/orders/{ctx['order']}", token=buyer.token)["lines"]
            assert all(l["shipped_quantity"] == l["quantity"] for l in lines), lines
        # And once more: the same shipments again, however often it is asked.
        replay = fulfil(s, shop, ctx)
        assert replay.status == again.status, (again, replay)
        if again.status == 201:
            assert [x["id"] for x in replay["shipments"]] == [x["id"] for x in again["shipments"]]

    return prepare, run, retry


def test_fulfilment(env):
    s, shop = env
    vs = two_warehouse_stock(s, shop)
    variants = {v: 1000 for v in vs}
    prepare, run, retry = fulfil_saga(s, shop, vs, Buyer(s))
    store_sweep("fulfilment", s, shop, variants, prepare, run, retry, labels=True,
                stride=STRIDES["fulfil"])
    for point in ("carrier.create_label", "store.commit"):
        call_sweep("fulfilment", s, shop, variants, point, prepare, run, retry, labels=True)


def test_fulfilment_when_the_carrier_times_out_or_refuses(env):
    """The simulated carrier's own failure modes (ext/carrier.h: by the
    address) with a store failure at every step around them: a first label
    request that times out (the retry with the same key gets the label),
    and a refused label (undeliverable: the shipment is undone, 422)."""
    s, shop = env
    vs = two_warehouse_stock(s, shop)
    variants = {v: 1000 for v in vs}
    slow = Buyer(s, address=dict(ADDRESS, line2="carrier:timeout"))
    prepare, run, retry = fulfil_saga(s, shop, vs, slow)
    store_sweep("fulfilment", s, shop, variants, prepare, run, retry, labels=True,
                stride=STRIDES["fulfil"])

    refused = Buyer(s, address=dict(ADDRESS, line2="carrier:undeliverable"))
    prepare, run, _ = fulfil_saga(s, shop, vs, refused)

    def refused_again(ctx, first):
        assert first.status in (422, 500, 503), first
        again = fulfil(s, shop, ctx)
        assert again.status == 422, again
        doc = s.get(f"/v1/orders/{ctx['order']}", token=refused.token).body
        assert doc["status"] == "paid" and doc["shipments"] == [], doc
        assert all(l["shipped_quantity"] == 0 for l in doc["lines"]), doc["lines"]

    store_sweep("fulfilment", s, shop, variants, prepare, run, refused_again,
                stride=STRIDES["fulfil"])


def test_fulfilment_when_the_carrier_is_down(env):
    """Every label request fails: the shipments stay with no label, and
    housekeeping gets them once the carrier is back."""
    s, shop = env
    vs = two_warehouse_stock(s, shop)
    variants = {v: 1000 for v in vs}
    down = Buyer(s, address=dict(ADDRESS, line2="carrier:down"))
    prepare, run, _ = fulfil_saga(s, shop, vs, down)
    ctx = prepare()
    calls, first = count(s, shop, "carrier.create_label", lambda: run(ctx))
    assert first.status == 201 and all(x["tracking_number"] is None for x in first["shipments"])
    assert calls >= len(vs)
    check_invariants(s, variants)
    again = fulfil(s, shop, ctx)
    assert again.status == 201 and [x["id"] for x in again["shipments"]] == \
        [x["id"] for x in first["shipments"]]
    s.database().execute("UPDATE orders SET ship_line2 = NULL WHERE id = ?", (ctx["order"],))
    check_invariants(s, variants, labels=True)


# ---- returns: request, receipt, refund ------------------------------------------

STEPS = ("approved", "received", "inspected", "refunded")


def test_returns(env):
    s, shop = env
    v = product(s, shop, price=2000)
    variants = {v: 1000}
    buyer = Buyer(s)

    def prepare():
        o = delivered_order(s, shop, buyer, [(v, 2)])
        return {"order": o["id"], "line": o["lines"][0]["id"], "key": "r-" + uid()}

    def request(ctx):
        return ask(s, buyer, ctx["order"], [(ctx["line"], 1)], key=ctx["key"])

    def run(ctx):
        out = {"ask": request(ctx)}
        if out["ask"].status != 201:
            return out
        for st in STEPS:
            out[st] = admin_move(s, shop, out["ask"]["id"], st)
            if out[st].status != 200:
                break
        return out

    def retry(ctx, first):
        again = request(ctx)
        same_answer(first["ask"], again)
        assert again.status in (200, 201), again
        rid = again["id"]
        status = s.get(f"/v1/returns/{rid}", token=buyer.token)["status"]
        for st in STEPS[STEPS.index(status) + 1 if status in STEPS else 0:]:
            r = admin_move(s, shop, rid, st)
            assert r.status == 200, (st, r)
        done = s.get(f"/v1/returns/{rid}", token=buyer.token).body
        assert done["status"] == "refunded", done
        # However often it is asked, it pays once.
        assert admin_move(s, shop, rid, "refunded").status == 409
        assert request(ctx)["id"] == rid

    store_sweep("returns", s, shop, variants, prepare, run, retry, stride=STRIDES["returns"])

    def inspected():
        ctx = prepare()
        r = request(ctx)
        assert r.status == 201, r
        ctx["rid"] = r["id"]
        for st in STEPS[:-1]:
            assert admin_move(s, shop, ctx["rid"], st).status == 200
        return ctx

    def refund(ctx):
        return {"ask": request(ctx), "refunded": admin_move(s, shop, ctx["rid"], "refunded")}

    for point in ("gateway.refund", "store.commit"):
        call_sweep("returns", s, shop, variants, point, inspected, refund, retry,
                   stride=STRIDES["commits"])


# ---- regressions found by the sweeps ---------------------------------------------
# A statement that failed was read as "no such row": a return request
# answered 404/422 (and its retry 201), a receipt restocked nothing and a
# refund paid nothing, a fulfil found nothing to ship. Each is failed here
# on exactly that statement (`match`).

def with_failing(s, shop, sql, call, point="store.stmt"):
    """`call()`'s answer with every statement matching `sql` failing (on the
    writer, or with point="store.read" on a reading connection); the failure
    must have been injected."""
    arm(s, shop, point, nth=1, mode="error", times=0, match=sql)
    try:
        return call()
    finally:
        assert disarm(s, shop)[point][1] >= 1, sql


def test_a_failed_read_is_a_failure_not_a_client_error(env):
    s, shop = env
    v = product(s, shop, price=2000)
    buyer = Buyer(s)
    o = delivered_order(s, shop, buyer, [(v, 2)])
    line = o["lines"][0]["id"]
    for sql in ("SELECT id, request_hash FROM returns", "l.returned_qty, p.returnable"):
        key = "r-" + uid()
        first = with_failing(s, shop, sql, lambda: ask(s, buyer, o["id"], [(line, 1)], key=key))
        assert first.status >= 500, (sql, first)
    r = ask(s, buyer, o["id"], [(line, 1)], key=key)
    assert r.status == 201, r
    rid = r["id"]
    assert admin_move(s, shop, rid, "approved").status == 200
    on_hand = s.get(f"/v1/inventory/{v}", token=shop.admin)["total"]["on_hand"]
    for to, sqls in (("received", ("FROM return_lines rl",
                                   "SELECT s.warehouse_id, sl.quantity FROM shipment_lines")),
                     ("inspected", ()), ("refunded", ("FROM return_lines rl",))):
        for sql in sqls:
            failed = with_failing(s, shop, sql, lambda: admin_move(s, shop, rid, to))
            assert failed.status >= 500, (to, sql, failed)
            assert s.get(f"/v1/returns/{rid}", token=buyer.token)["status"] != to
        assert admin_move(s, shop, rid, to).status == 200
    assert s.get(f"/v1/inventory/{v}", token=shop.admin)["total"]["on_hand"] == on_hand + 1
    done = s.get(f"/v1/returns/{rid}", token=buyer.token).body
    assert done["status"] == "refunded" and done["refund_cents"] > 0, done
    check_invariants(s, {v: 1000})

    # Fulfil: reading the order's lines, and a replayed key's answer.
    assert buyer.add(v, 1).status == 201
    o2 = buyer.checkout()
    assert o2.status == 201, o2
    ctx = {"order": o2["id"], "key": "f-" + uid()}
    sql = "l.status, p.seller_id FROM order_lines l"
    first = with_failing(s, shop, sql, lambda: fulfil(s, shop, ctx))
    assert first.status >= 500, (sql, first)
    again = fulfil(s, shop, ctx)
    assert again.status == 201 and len(again["shipments"]) == 1, again
    sql = "SELECT order_id, scope, response FROM fulfil_requests"
    replay = with_failing(s, shop, sql, lambda: fulfil(s, shop, ctx))
    assert replay.status >= 500, (sql, replay)
    replay = fulfil(s, shop, ctx)
    assert replay.status == 201 and replay["shipments"] == again["shipments"], (again, replay)
    check_invariants(s, {v: 1000}, labels=True)


def admitted(s, shop):
    """A live sale of 5 units (50 in stock), a buyer admitted to it, and
    purchase(key): that buyer's purchase under an Idempotency-Key."""
    sid, v = flash_sale(s, shop, units=5, stock=50)
    b = Buyer(s)
    assert s.post(f"/v1/flash-sales/{sid}/queue", token=b.token).status in (200, 201)
    token = admission(s, b, sid)
    assert token
    body = {"token": token, "shipping_address_id": b.address, "payment_method_id": b.card}
    return sid, v, b, lambda key: s.post(f"/v1/flash-sales/{sid}/purchase", body, token=b.token,
                                         headers={"Idempotency-Key": key})


def test_a_failed_read_while_settling_a_flash_sale_purchase(env):
    """Settling a paid flash-sale order read a failed statement as "not a
    flash-sale order": the order was paid, the sale never counted the unit
    sold and the buyer's place stayed 'purchasing'."""
    s, shop = env
    sid, v, b, purchase = admitted(s, shop)
    key = "fs-" + uid()
    first = with_failing(s, shop, "SELECT o.flash_sale_id, o.user_id", lambda: purchase(key))
    check_invariants(s, {v: 50})
    again = purchase(key)
    assert again.status == 201 and again["status"] == "paid", (first, again)
    sale = s.get(f"/v1/flash-sales/{sid}").body
    assert (sale["sold"], sale["in_flight"]) == (1, 0), sale
    me = s.get(f"/v1/flash-sales/{sid}/queue/me", token=b.token).body
    assert me["status"] == "purchased", me


def test_a_failed_read_of_the_sale_is_no_missing_sale(env):
    """`make faults` found it: a purchase whose read of the flash sale failed
    answered 404 "no flash sale" under its Idempotency-Key, and the same key
    then bought the unit. A failed read is the database's failure (5xx, the
    key free for a retry), never a client's error."""
    s, shop = env
    sid, v, _, purchase = admitted(s, shop)
    key = "fs-" + uid()
    first = with_failing(s, shop, "FROM flash_sales WHERE id", lambda: purchase(key))
    assert first.status >= 500, first
    check_invariants(s, {v: 50})
    again = purchase(key)
    assert again.status == 201 and again["status"] == "paid", (first, again)
    assert s.get(f"/v1/flash-sales/{sid}")["sold"] == 1


def test_a_failed_read_of_the_account_at_login_is_no_wrong_password(env):
    """A login whose read of the account fails is the shop's failure (5xx),
    not the client's 401 "wrong email or password" (an admin created by the
    CLI once got that 401 in CI)."""
    s, shop = env
    email = f"login-{uid()}@example.com"
    s.post("/v1/auth/register", {"email": email, "password": PASSWORD, "name": "Login"})
    creds = {"email": email, "password": PASSWORD}
    r = with_failing(s, shop, "trusted, created_at FROM users WHERE email",
                     lambda: s.post("/v1/auth/login", creds), point="store.read")
    assert r.status >= 500, r
    assert s.post("/v1/auth/login", creds).status == 200


def test_a_failure_after_the_carrier_answered_is_tried_again(env):
    """Found by the sweeps: the fulfil's answer whose write failed left the
    key 'still running' (every retry 409) behind a 201; a refused label whose
    undoing failed left its shipment in place behind a 422. And a failed
    read of a flash-sale token was a 403."""
    s, shop = env
    vs = two_warehouse_stock(s, shop)
    prepare, run, _ = fulfil_saga(s, shop, vs[:1], Buyer(s))
    ctx = prepare()
    arm(s, shop, "store.stmt", nth=1, times=1, match="UPDATE fulfil_requests SET response")
    try:
        first = run(ctx)
    finally:
        assert disarm(s, shop)["store.stmt"][1] == 1
    assert first.status == 201, first
    again = run(ctx)
    assert again.status == 201 and again["shipments"] == first["shipments"], (first, again)

    refused = Buyer(s, address=dict(ADDRESS, line2="carrier:undeliverable"))
    prepare, run, _ = fulfil_saga(s, shop, vs[:1], refused)
    ctx = prepare()
    arm(s, shop, "store.stmt", nth=1, times=1, match="DELETE FROM shipments WHERE id")
    try:
        first = run(ctx)
    finally:
        assert disarm(s, shop)["store.stmt"][1] == 1
    assert first.status == 422, first
    doc = s.get(f"/v1/orders/{ctx['order']}", token=refused.token).body
    assert doc["status"] == "paid" and doc["shipments"] == [], doc

    sid, v, _, purchase = admitted(s, shop)
    r = with_failing(s, shop, "coalesce(token_expires_at, 0), held FROM flash_sale_queue",
                     lambda: purchase("fs-" + uid()))
    assert r.status >= 500, r
    check_invariants(s, {v: 50, **{x: 1000 for x in vs}})
