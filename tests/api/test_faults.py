"""Failures on demand (issue 17, ENGINEERING.md §7): every saga with a
failure injected at each of its steps in turn, and the shop's invariants
checked after each.

For the store, a saga's writes are first run once with the fault point in
mode `count` (how many statements they execute), then once per statement
index N with the Nth failing. For the outside services (gateway, carrier),
every call the saga makes is failed in turn, in every mode (error: nothing
done; timeout: no answer, nothing done; lost: done, no answer).

After each run, once the shop has settled (reconciliation, refund retries):
  - no half order: every order has lines, its payments and history; a paid
    order has exactly one capture, a cancelled one nothing left charged;
  - stock conserved: on_hand + units sold and not given back == initial,
    reserved == the active reservations (and flash-sale units set aside),
    nothing negative;
  - no charge without an order; no refund above what was captured;
  - the idempotency key answers consistently: retried once the fault is
    gone, the same request gives the same order, or the same error, or
    succeeds.

One server per saga (module fixture), faults armed through the admin hook
(SHOPD_FAULTS_API=1). The hook, the sweeps and the invariants live in
saga_faults.py, shared with test_faults_sagas.py (flash sales, fulfilment,
returns) and the crash loop (tests/soak).
"""
import pytest

from conftest import uid
from saga_faults import (call_sweep, empty_cart, env, product, same_answer,  # noqa: F401
                         store_sweep)
from shop_fixtures import Buyer

# Servers of their own with failures armed: the Prism stage would only repeat
# the plain run, at several times its cost (conftest.py).
pytestmark = pytest.mark.direct


# ---- checkout -------------------------------------------------------------------

def test_checkout(env):
    s, shop = env
    v, w = product(s, shop), product(s, shop, price=700)
    variants = {v: 1000, w: 1000}
    buyer = Buyer(s)

    def prepare():
        empty_cart(s, buyer)
        assert buyer.add(v, 2).status == 201
        assert buyer.add(w, 1).status == 201
        return {"key": "k-" + uid()}

    def run(ctx):
        return buyer.checkout(key=ctx["key"])

    def retry(ctx, first):
        again = buyer.checkout(key=ctx["key"])
        same_answer(first, again)
        if again.status in (200, 201):
            assert len(again["lines"]) == 2, again.body

    n = store_sweep("checkout", s, shop, variants, prepare, run, retry)
    m = sum(call_sweep("checkout", s, shop, variants, point, prepare, run, retry)
            for point in ("gateway.authorize", "store.commit"))
    assert n + m > 0


# ---- cancellation and refunds ---------------------------------------------------

def test_cancellation_and_refund(env):
    s, shop = env
    v = product(s, shop)
    variants = {v: 1000}
    buyer = Buyer(s)

    def prepare():
        empty_cart(s, buyer)
        assert buyer.add(v, 2).status == 201
        o = buyer.checkout()
        assert o.status == 201 and o["status"] == "paid", o
        return {"order": o["id"]}

    def run(ctx):
        return s.post(f"/v1/orders/{ctx['order']}/cancel", {}, token=buyer.token)

    def retry(ctx, first):
        again = run(ctx)
        if first.status == 200:
            # Cancelled already: a second cancel changes nothing.
            assert again.status in (200, 409), again
        else:
            assert again.status == 200, again
        doc = s.get(f"/v1/orders/{ctx['order']}", token=buyer.token).body
        assert doc["status"] == "cancelled", doc

    store_sweep("cancellation", s, shop, variants, prepare, run, retry)
    for point in ("gateway.refund", "store.commit"):
        call_sweep("refund", s, shop, variants, point, prepare, run, retry)
