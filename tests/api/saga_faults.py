"""Failures on demand, shared by the fault sweeps (test_faults.py,
test_faults_sagas.py) and the crash loop (tests/soak): the admin hook that
arms a fault, the sweep that fails each step of a saga in turn, and the
shop's invariants, read from its database and the simulated gateway's
books once the shop has settled.

The invariants (check_invariants):
  - no half order: every order has lines, history and payments; a paid
    order has exactly one capture, a cancelled one nothing left charged;
  - no half shipment: every shipment has lines, its lines' shipped_qty is
    what the shipments hold, a label in the carrier's books belongs to a
    shipment that exists and carries its tracking number, open shipments
    are counted on their warehouse, an order with shipments has moved on;
  - no half return: every return has lines and history ending in its
    status, the lines' returned_qty is what the returns hold, a refunded
    return has exactly one refund of its amount and no other has any;
  - stock conserved: per variant on_hand + units sold and not given back
    == initial; per warehouse reserved == active reservations + flash-sale
    units set aside there, the audit log (stock_movements) accounts for
    its on_hand and reserved, nothing shipped from it that was not taken
    there; nothing negative;
  - flash sales never oversold: sold == units of the sale's orders ≤ its
    quantity, nothing left in flight, what is set aside is the rest;
  - money: no charge without an order, never two captures for one order,
    what the gateway refunded per order == the card refunds the shop
    recorded (no refund twice), refunds never above the capture.
"""
import os
import sys

import pytest

from conftest import PG_BASE, Server, wait_for
from shop_fixtures import Shop

# The sweeps' server: failures on demand, no rate limits (a sweep's retries
# come faster than a class allows), fast workers, every return reviewed.
ENV = {"SHOPD_FAULTS_API": "1", "SHOPD_RATE_LIMIT": "off",
       "SHOPD_HOUSEKEEPING_MS": "50", "SHOPD_PAYMENT_DEADLINE": "1",
       "SHOPD_GATEWAY_BACKOFF_MS": "0", "SHOPD_BREAKER_FAILURES": "100000",
       "SHOPD_FLASH_TICK_MS": "20", "SHOPD_CARRIER_SECRET": "faults-secret",
       "SHOPD_RETURN_AUTO_APPROVE_CENTS": "0"}


@pytest.fixture(scope="module")
def env():
    s = Server(ENV).start()
    shop = Shop(s)
    yield s, shop
    s.cleanup()


FIGURES = {}  # saga → faults injected (printed at the end with -s)
PROGRESS = os.environ.get("SHOPD_TEST_FAULT_PROGRESS") == "1"


def progress(line):
    """With SHOPD_TEST_FAULT_PROGRESS=1 (and -s), each step as it goes."""
    if PROGRESS:
        print(line, file=sys.stderr, flush=True)


# ---- the hook ------------------------------------------------------------------

def arm(s, shop, point, nth=1, mode="error", times=1, match=None):
    body = {"point": point, "nth": nth, "mode": mode, "times": times}
    if match:
        body["match"] = match
    r = s.post("/v1/admin/faults", body, token=shop.admin)
    assert r.status == 201, r


def disarm(s, shop):
    """Disarms everything; {point: (hits, fired, what failed)}."""
    r = s.delete("/v1/admin/faults", token=shop.admin)
    assert r.status == 200, r
    return {f["point"]: (f["hits"], f["fired"], f["failed"]) for f in r["data"]}


def count(s, shop, point, run):
    arm(s, shop, point, mode="count")
    try:
        out = run()
    finally:
        hits = disarm(s, shop)[point][0]
    return hits, out


def injected(saga, n=1):
    FIGURES[saga] = FIGURES.get(saga, 0) + n


# ---- invariants ----------------------------------------------------------------

def settled(db, labels=False):
    """Nothing left for the shop's own retries: no order waiting for its
    payment, no payment unknown, no refund pending, no flash-sale unit in
    flight (and, with `labels`, no shipment waiting for its label)."""
    return (db.scalar("SELECT count(*) FROM orders WHERE status = 'pending_payment'") == 0
            and db.scalar("SELECT count(*) FROM payments WHERE status IN ('pending', 'unknown')") == 0
            and db.scalar("SELECT count(*) FROM refund_allocations WHERE status = 'pending'") == 0
            and db.scalar("SELECT coalesce(sum(in_flight), 0) FROM flash_sales") == 0
            and (not labels or db.scalar(
                "SELECT count(*) FROM shipments WHERE tracking_number IS NULL") == 0))


def none(db, what, sql, params=()):
    """The query lists what breaks an invariant: it must find nothing."""
    rows = db.query(sql, params)
    assert not rows, f"{what}: {rows[:5]}"


def check_orders_and_money(db, gw):
    """Set-based (one query per rule, whatever the number of orders): the
    sweeps check after every step of shops that grow to hundreds of orders."""
    orders = dict(db.query("SELECT id, status FROM orders"))
    # No half order.
    for part in ("order_lines", "order_history", "payments"):
        none(db, f"orders without {part}", f"SELECT o.id, o.status FROM orders o WHERE NOT EXISTS"
             f" (SELECT 1 FROM {part} x WHERE x.order_id = o.id)")
    none(db, "orders not cancelled with a payment not captured",
         "SELECT o.id, o.status, p.tender, p.status FROM orders o JOIN payments p"
         " ON p.order_id = o.id WHERE o.status <> 'cancelled' AND p.status <> 'captured'")
    captures, captured, gw_back = {}, {}, {}
    for ref, n, cents in gw.query("SELECT order_ref, count(*), sum(amount_cents) FROM gw_sim_charges"
                                  " WHERE status = 'captured' GROUP BY order_ref"):
        captures[int(ref.split("-")[1])] = int(n)
        captured[int(ref.split("-")[1])] = int(cents)
    for ref, cents in gw.query("SELECT order_ref, sum(amount_cents) FROM gw_sim_refunds"
                               " GROUP BY order_ref"):
        gw_back[int(ref.split("-")[1])] = int(cents)
    card = {oid for (oid,) in db.query("SELECT DISTINCT order_id FROM payments"
                                       " WHERE tender = 'card'")}
    for oid, st in orders.items():
        if st != "cancelled":
            if oid in card:
                assert captures.get(oid) == 1, f"paid order {oid} has {captures.get(oid)} captures"
        else:
            # Cancelled: whatever was captured was given back.
            assert captured.get(oid, 0) == gw_back.get(oid, 0), \
                f"cancelled order {oid}: captured {captured.get(oid, 0)}, refunded {gw_back.get(oid, 0)}"
    # No charge without an order; never two charges; no refund above the capture.
    for oid, n in captures.items():
        assert oid in orders, f"a capture for order-{oid}, which is no order"
        assert n == 1, f"{n} captures for order-{oid}"
    for ref, cap, back in gw.query(
            "SELECT c.order_ref, c.amount_cents, coalesce(sum(r.amount_cents), 0)"
            " FROM gw_sim_charges c LEFT JOIN gw_sim_refunds r ON r.charge_id = c.charge_id"
            " GROUP BY c.charge_id, c.order_ref, c.amount_cents"):
        assert int(back) <= int(cap), f"{ref}: refunded {back} of {cap}"
        assert int(back) == 0 or int(ref.split("-")[1]) in orders
    # No refund twice: the gateway paid back, per order, what the shop's card
    # refunds say, and the shop's refunds sum to the order's refunded_cents.
    card_back = {oid: int(n) for oid, n in db.query(
        "SELECT p.order_id, sum(a.amount_cents) FROM refund_allocations a"
        " JOIN payments p ON p.id = a.payment_id WHERE p.tender = 'card' GROUP BY p.order_id")}
    for oid in set(card_back) | set(gw_back):
        assert card_back.get(oid, 0) == gw_back.get(oid, 0), \
            f"order {oid}: the shop refunded {card_back.get(oid, 0)} by card, the gateway" \
            f" {gw_back.get(oid, 0)}"
    none(db, "orders whose refunded_cents is not their refunds",
         "SELECT o.id, o.refunded_cents, coalesce((SELECT sum(amount_cents) FROM refunds r"
         " WHERE r.order_id = o.id), 0) AS total FROM orders o WHERE o.refunded_cents <>"
         " coalesce((SELECT sum(amount_cents) FROM refunds r WHERE r.order_id = o.id), 0)")
    return orders


def check_shipments(db, orders):
    none(db, "shipments without lines", "SELECT s.id FROM shipments s WHERE NOT EXISTS"
         " (SELECT 1 FROM shipment_lines sl WHERE sl.shipment_id = s.id)")
    none(db, "shipments of no order", "SELECT s.id FROM shipments s WHERE NOT EXISTS"
         " (SELECT 1 FROM orders o WHERE o.id = s.order_id)")
    ships = dict(db.query("SELECT id, tracking_number FROM shipments"))
    labels = {int(k.split("-")[1]): t for k, t in db.query(
        "SELECT key, tracking_number FROM carrier_sim_labels WHERE key LIKE 'shipment-%'")}
    for sid, tracking in ships.items():
        if tracking is not None:
            assert labels.get(sid) == tracking, (sid, tracking, labels.get(sid))
    for sid, tracking in labels.items():
        assert sid in ships, f"a label {tracking} for shipment {sid}, which does not exist"
        assert ships[sid] in (None, tracking), (sid, ships[sid], tracking)
    none(db, "lines whose shipped_qty is not what their shipments hold",
         "SELECT l.id, l.quantity, l.shipped_qty, coalesce(sum(sl.quantity), 0) FROM order_lines l"
         " LEFT JOIN shipment_lines sl ON sl.order_line_id = l.id"
         " GROUP BY l.id, l.quantity, l.shipped_qty"
         " HAVING l.shipped_qty <> coalesce(sum(sl.quantity), 0) OR l.shipped_qty > l.quantity"
         " OR l.shipped_qty < 0")
    none(db, "warehouses whose open_shipments is not their open shipments",
         "SELECT w.id, w.open_shipments FROM warehouses w WHERE w.open_shipments <> (SELECT"
         " count(*) FROM shipments s WHERE s.warehouse_id = w.id AND s.status NOT IN"
         " ('delivered', 'returned_to_sender'))")
    none(db, "orders with shipments that have not moved on",
         "SELECT o.id, o.status FROM orders o WHERE o.status IN ('paid', 'pending_payment')"
         " AND EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id)")


def check_returns(db, orders):
    for rid, oid, st, cents, refund_id in db.query(
            "SELECT id, order_id, status, refund_cents, refund_id FROM returns"):
        assert oid in orders, f"return {rid} of no order"
        assert db.scalar("SELECT count(*) FROM return_lines WHERE return_id = ?", (rid,)) > 0, \
            f"return {rid} has no lines"
        last = db.one("SELECT status FROM return_history WHERE return_id = ? ORDER BY id DESC",
                      (rid,))
        assert last and last[0] == st, f"return {rid} is {st}, its history ends in {last}"
        paid = db.query("SELECT id, amount_cents FROM refunds WHERE return_id = ?", (rid,))
        if st in ("refunded", "partially_refunded"):
            assert len(paid) == 1, f"return {rid} ({st}) has {len(paid)} refunds"
            assert paid[0][0] == refund_id and int(paid[0][1]) == int(cents), (rid, paid, cents)
        else:
            assert paid == [] and refund_id is None, f"return {rid} ({st}) has refunds {paid}"
    none(db, "lines whose returned_qty is not what their returns hold",
         "SELECT l.id, l.delivered_qty, l.returned_qty FROM order_lines l WHERE l.returned_qty <>"
         " (SELECT coalesce(sum(rl.quantity), 0) FROM return_lines rl JOIN returns r"
         " ON r.id = rl.return_id WHERE rl.order_line_id = l.id AND r.status <> 'rejected')"
         " OR l.returned_qty > l.delivered_qty OR l.returned_qty < 0")


def check_flash_sales(db):
    for sid, q, sold, in_flight, held, status in db.query(
            "SELECT id, quantity, sold, in_flight, held, status FROM flash_sales"):
        units = int(db.scalar(
            "SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o"
            " ON o.id = l.order_id WHERE o.flash_sale_id = ? AND o.status NOT IN"
            " ('pending_payment', 'cancelled')", (sid,)))
        assert int(sold) == units, f"sale {sid}: sold {sold}, its orders hold {units}"
        assert units <= int(q), f"sale {sid} oversold: {units} of {q}"
        assert int(in_flight) == 0, f"sale {sid}: {in_flight} units in flight once settled"
        queued = int(db.scalar("SELECT coalesce(sum(held), 0) FROM flash_sale_queue"
                               " WHERE sale_id = ?", (sid,)))
        assert int(held) == queued, f"sale {sid}: held {held}, the queue holds {queued}"
        if status != "ended":
            aside = int(db.scalar("SELECT coalesce(sum(left_qty), 0) FROM flash_sale_stock"
                                  " WHERE sale_id = ?", (sid,)))
            assert aside == int(q) - int(sold), f"sale {sid}: {aside} set aside, {q} - {sold} left"


def check_stock(db, variants):
    for v, initial in variants.items():
        on_hand, reserved = (int(x) for x in db.one(
            "SELECT sum(on_hand), sum(reserved) FROM stock WHERE variant_id = ?", (v,)))
        sold = int(db.scalar(
            "SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o"
            " ON o.id = l.order_id WHERE l.variant_id = ? AND l.status <> 'cancelled'"
            " AND o.status <> 'cancelled' AND o.status <> 'pending_payment'", (v,)))
        back = int(db.scalar(
            "SELECT coalesce(sum(rl.quantity), 0) FROM return_lines rl"
            " JOIN returns r ON r.id = rl.return_id JOIN order_lines l ON l.id = rl.order_line_id"
            " WHERE l.variant_id = ? AND r.status IN"
            " ('received', 'inspected', 'refunded', 'partially_refunded')", (v,)))
        assert initial == on_hand + sold - back, (v, initial, on_hand, sold, back)
        for wh, wh_on_hand, wh_reserved in db.query(
                "SELECT warehouse_id, on_hand, reserved FROM stock WHERE variant_id = ?", (v,)):
            where = f"variant {v} at warehouse {wh}"
            assert 0 <= int(wh_reserved) <= int(wh_on_hand), (where, wh_on_hand, wh_reserved)
            active = int(db.scalar("SELECT coalesce(sum(quantity), 0) FROM reservations"
                                   " WHERE variant_id = ? AND warehouse_id = ?"
                                   " AND status = 'active'", (v, wh)))
            aside = int(db.scalar(
                "SELECT coalesce(sum(fs.left_qty), 0) FROM flash_sale_stock fs JOIN flash_sales f"
                " ON f.id = fs.sale_id WHERE f.variant_id = ? AND fs.warehouse_id = ?"
                " AND f.status <> 'ended'", (v, wh)))
            assert int(wh_reserved) == active + aside, (where, wh_reserved, active, aside)
            d_on_hand, d_reserved, consumed = (int(x) for x in db.one(
                "SELECT coalesce(sum(on_hand_after - on_hand_before), 0),"
                " coalesce(sum(reserved_after - reserved_before), 0),"
                " coalesce(sum(CASE WHEN kind = 'consume' THEN on_hand_before - on_hand_after"
                " ELSE 0 END), 0) FROM stock_movements WHERE variant_id = ? AND warehouse_id = ?",
                (v, wh)))
            assert d_on_hand == int(wh_on_hand), f"{where}: audited on_hand {d_on_hand} of {wh_on_hand}"
            assert d_reserved == int(wh_reserved), \
                f"{where}: audited reserved {d_reserved} of {wh_reserved}"
            shipped = int(db.scalar(
                "SELECT coalesce(sum(sl.quantity), 0) FROM shipment_lines sl JOIN shipments s"
                " ON s.id = sl.shipment_id WHERE sl.variant_id = ? AND s.warehouse_id = ?", (v, wh)))
            assert shipped <= consumed, f"{where}: shipped {shipped}, taken {consumed}"


def check_invariants(s, variants, labels=False):
    """`variants`: {variant_id: initial on_hand, over every warehouse}.
    Waits for the shop to settle first (with `labels`, for every shipment's
    label too)."""
    db = s.database()
    wait_for("the shop to settle (reconciliation, refund retries)",
             lambda: settled(db, labels), timeout=30)
    orders = check_orders_and_money(db, s.gateway_database())
    check_shipments(db, orders)
    check_returns(db, orders)
    check_flash_sales(db)
    check_stock(db, variants)
    return orders


# ---- a saga, failed at each step ------------------------------------------------

def product(s, shop, stock=1000, price=1500):
    p = shop.product(stock=stock, price=price)
    return p["variants"][0]["id"]


def empty_cart(s, buyer):
    for line in s.get("/v1/cart", token=buyer.token).body.get("lines", []):
        s.delete(f"/v1/cart/lines/{line['id']}", token=buyer.token)


def same_answer(first, again):
    """A retry with the same key once the fault is gone: the same order, or
    the same error, or (after a failure that left nothing) success."""
    assert again.status < 500 or first.status >= 500, (first, again)
    if first.status in (200, 201):
        assert again.status in (200, 201), (first, again)
        assert again["id"] == first["id"], (first.body, again.body)
    elif first.status >= 500 or first.status == 409:
        assert again.status in (200, 201, first.status), (first, again)
    else:
        assert again.status == first.status, (first.status, first.body, again.status)


# Every step on SQLite; on PostgreSQL (each run there costs several times as
# much under ASan on this small box) every STRIDE-th step, so the suite stays
# within make test's budget — the SQLite run covers every step of the same
# domain code, and the PostgreSQL run the backend's own failure paths.
STRIDE = int(os.environ.get("SHOPD_TEST_FAULT_STRIDE", "4" if PG_BASE else "1"))
if os.environ.get("SHOPD_TEST_FAULT_EVERY") == "1":
    STRIDE = 1


def sweep(saga, s, shop, variants, point, n, modes, prepare, run, retry, labels=False, stride=1):
    """Runs the saga once per (mode, index) with that hit of `point` failing.
    Every failure is collected (and the sweep goes on), so one run shows
    them all."""
    problems = []
    progress(f"{saga}: {point}, {n} steps")
    for mode in modes:
        for i in range(1, n + 1, STRIDE * stride):
            try:
                ctx = prepare()
                arm(s, shop, point, nth=i, mode=mode)
                what = "?"
                try:
                    first = run(ctx)
                finally:
                    _, fired, what = disarm(s, shop)[point]
                injected(saga, fired)
                check_invariants(s, variants)
                if retry:
                    retry(ctx, first)
                    check_invariants(s, variants, labels)
            except AssertionError as e:
                problems.append(f"{point} n={i} mode={mode} ({what[:70]}): {str(e)[:300]}")
            bad = problems and f" n={i} mode={mode} " in problems[-1]
            progress(f"  {mode} {i}/{n} {'FAILED: ' + problems[-1][:400] if bad else 'ok'}")
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems[:12])


def store_sweep(saga, s, shop, variants, prepare, run, retry=None, modes=("error",), labels=False,
                stride=1):
    """Counts the statements `run(prepare())` executes, then runs it once
    per statement index with that statement failing; invariants after each,
    then `retry(ctx, first)` with the fault gone (every `stride`-th index:
    sagas whose runs wait for a worker)."""
    n, _ = count(s, shop, "store.stmt", lambda: run(prepare()))
    assert n > 0
    check_invariants(s, variants, labels)
    sweep(saga, s, shop, variants, "store.stmt", n, modes, prepare, run, retry, labels, stride)
    return n


def call_sweep(saga, s, shop, variants, point, prepare, run, retry=None,
               modes=("error", "timeout", "lost"), labels=False, stride=1):
    """Fails every call the saga makes to `point`, in each mode (a commit
    fails the same way in every mode: once)."""
    if point == "store.commit":
        modes = ("error",)
    n, _ = count(s, shop, point, lambda: run(prepare()))
    check_invariants(s, variants, labels)
    sweep(saga, s, shop, variants, point, n, modes, prepare, run, retry, labels, stride)
    return n
