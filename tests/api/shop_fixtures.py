"""Building blocks for API tests: a shop (admin, sellers, category tree,
warehouse) and products, created through the API as a seller would."""
from conftest import uid


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
