"""Building blocks for API tests: a shop (admin, sellers, category tree,
warehouse) and products, created through the API as a seller would."""
import copy

from conftest import uid, wait_for


class Shop:
    def __init__(self, server):
        self.s = server
        self.admin, _ = server.user("admin")
        self.seller, self.seller_user = server.user("seller")
        self.trusted, self.trusted_user = server.user("seller", trusted=True)
        self.other_seller, _ = server.user("seller")
        r = server.post("/v1/categories", {"name": "Dept " + uid()}, token=self.admin)
        assert r.status == 201, r
        self.root = r["id"]
        r = server.post("/v1/categories", {"name": "Leaf " + uid(), "parent_id": self.root},
                        token=self.admin)
        assert r.status == 201, r
        self.leaf = r["id"]
        r = server.post("/v1/warehouses", {"code": "W" + uid()[:6], "name": "Main", "country": "US",
                                           "postal_code": "98101", "lat": 47.6, "lon": -122.3},
                        token=self.admin)
        assert r.status == 201, r
        self.warehouse = r["id"]

    def product_body(self, title=None, price=2599, brand="Acme", category=None, variants=None, **extra):
        body = {"title": title or "Kettle " + uid(), "description": "A good product for tests.",
                "brand": brand, "category_id": category or self.leaf, "currency": "USD",
                "variants": variants or [{"sku": "SKU-" + uid(), "price_cents": price,
                                          "weight_grams": 500}]}
        body.update(extra)
        return body

    def product(self, title=None, price=2599, stock=10, publish=True, seller=None, **kw):
        """Creates (and by default publishes) a product; returns its JSON."""
        seller = seller or self.trusted
        r = self.s.post("/v1/products", self.product_body(title, price, **kw), token=seller)
        assert r.status == 201, r
        p = r.body
        if stock is not None:
            for v in p["variants"]:
                st = self.s.put(f"/v1/inventory/{v['id']}/{self.warehouse}", {"on_hand": stock},
                                token=seller)
                assert st.status == 200, st
        if publish:
            r = self.s.post(f"/v1/products/{p['id']}/submit", token=seller)
            assert r.status == 200, r
            if r["status"] != "published":
                r = self.s.post(f"/v1/admin/products/{p['id']}/approve", token=self.admin)
                assert r.status == 200, r
            p = r.body
        return p


ADDRESS = {"name": "Ann Buyer", "line1": "1 Pike St", "city": "Seattle", "region": "WA",
           "postal_code": "98101", "country": "US"}
CARDS = {"visa": "4242424242424242", "mastercard": "5555555555554444", "amex": "378282246310005",
         "declined": "4000000000000002", "insufficient": "4000000000009995",
         "expired": "4000000000000069", "cvc": "4000000000000127", "error": "4000000000000119",
         "flaky": "4000000000000226", "timeout_captured": "4000000000000333",
         "timeout_none": "4000000000000440"}


class Buyer:
    """A customer with a default address and a card."""

    def __init__(self, server, card="visa", address=None):
        self.s = server
        self.token, self.user = server.user()
        r = server.post("/v1/me/addresses", address or ADDRESS, token=self.token)
        assert r.status == 201, r
        self.address = r["id"]
        self.card = self.add_card(card)

    def add_card(self, which="visa"):
        r = self.s.post("/v1/me/payment-methods", {"type": "card", "number": CARDS[which],
                                                   "exp_month": 12, "exp_year": 2031,
                                                   "cvc": "1234" if which == "amex" else "123"},
                        token=self.token)
        assert r.status == 201, r
        return r["id"]

    def via(self, server):
        """The same customer (token, address, card), talking to another
        process of the shop."""
        other = copy.copy(self)
        other.s = server
        return other

    def add(self, variant_id, quantity=1):
        return self.s.post("/v1/cart/lines", {"variant_id": variant_id, "quantity": quantity},
                           token=self.token)

    def checkout(self, key=None, card=None, body=None, **kw):
        body = body or {"shipping_address_id": self.address,
                        "payments": [{"payment_method_id": card or self.card}],
                        "shipping_method": "standard"}
        return self.s.post("/v1/orders", body, token=self.token,
                           headers={"Idempotency-Key": key or "k-" + uid()}, **kw)

    def buy(self, variant_id, quantity=1, **kw):
        r = self.add(variant_id, quantity)
        assert r.status == 201, r
        return self.checkout(**kw)


def assert_storm_left_no_trace(server, variant_id, initial, acked):
    """After a checkout storm with crashes (`acked`: the order ids answered
    201): once reconciliation has settled what the crashes left, every
    acknowledged order is paid, each paid order has exactly one charge and
    no charge lacks an order, and the variant's stock is conserved with
    nothing left reserved."""
    db = server.database()
    wait_for("every order settled", lambda: db.scalar(
        "SELECT count(*) FROM orders WHERE status = 'pending_payment'") == 0 and db.scalar(
        "SELECT count(*) FROM reservations WHERE status = 'active'") == 0, timeout=30)
    statuses = dict(db.query("SELECT id, status FROM orders"))
    for oid in acked:
        assert statuses.get(oid) == "paid", f"acknowledged order {oid} is {statuses.get(oid)}"
    paid = {oid for oid, st in statuses.items() if st == "paid"}
    captured = server.gateway_database().query("SELECT order_ref, count(*) FROM gw_sim_charges"
                                               " WHERE status = 'captured' GROUP BY order_ref")
    assert all(n == 1 for _, n in captured), "never two charges for one order"
    charged = {int(ref.split("-")[1]) for ref, _ in captured}
    assert charged == paid, "a charge for every paid order and no charge without one"
    sold = int(db.scalar("SELECT coalesce(sum(l.quantity), 0) FROM order_lines l"
                         " JOIN orders o ON o.id = l.order_id WHERE o.status = 'paid'"))
    on_hand, reserved = db.one("SELECT sum(on_hand), sum(reserved) FROM stock"
                               " WHERE variant_id = ?", (variant_id,))
    on_hand, reserved = int(on_hand), int(reserved)
    assert reserved == 0
    assert initial == on_hand + sold, (initial, on_hand, sold)


def stock_of(server, shop, variant_id):
    r = server.get(f"/v1/inventory/{variant_id}", token=shop.admin)
    assert r.status == 200, r
    return r["total"]


def ledger(server, shop, order_id):
    r = server.get(f"/v1/admin/payments?order_id={order_id}", token=shop.admin)
    assert r.status == 200, r
    return r["data"]
