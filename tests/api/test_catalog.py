"""Catalog: categories, products and variants, the listing workflow,
authorization, product pages with ETags."""
import pytest

from conftest import assert_problem, uid
from shop_fixtures import Shop


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


def test_category_tree(server, shop):
    r = server.post("/v1/categories", {"name": "Home & Kitchen!"}, token=shop.admin)
    assert r.status == 201 and r["slug"].startswith("home-kitchen") and r["parent_id"] is None
    child = server.post("/v1/categories", {"name": "Kettles", "parent_id": r["id"]}, token=shop.admin)
    assert child.status == 201 and child["path"] == r["slug"] + "/" + child["slug"]
    dup = server.post("/v1/categories", {"name": "Home & Kitchen!"}, token=shop.admin)
    assert dup["slug"] != r["slug"], "slugs are unique"
    tree = server.get("/v1/categories")
    node = next(n for n in tree.body if n["id"] == r["id"])
    assert [c["id"] for c in node["children"]] == [child["id"]]


def test_categories_of_one_name_created_at_once_all_get_a_slug(server, shop):
    """Creations racing with one name each get their own slug (on
    PostgreSQL, where writers run side by side, the losers used to pick the
    same free slug and answer 500)."""
    from conftest import at_once
    for _ in range(5):
        name = "Race " + uid()
        rs = at_once(lambda i: server.post("/v1/categories", {"name": name, "parent_id": shop.root},
                                           token=shop.admin), range(12), threads=12)
        assert [r.status for r in rs] == [201] * 12, [r for r in rs if r.status != 201]
        assert len({r["slug"] for r in rs}) == 12
        node = next(n for n in server.get("/v1/categories").body if n["id"] == shop.root)
        assert {c["id"] for c in node["children"]} >= {r["id"] for r in rs}


def test_category_bad_input(server, shop):
    assert_problem(server.post("/v1/categories", {"name": ""}, token=shop.admin), 422, "name")
    assert_problem(server.post("/v1/categories", {"name": "x" * 101}, token=shop.admin), 422, "name")
    assert_problem(server.post("/v1/categories", {"name": "X", "parent_id": 999999},
                               token=shop.admin), 422, "parent_id")
    assert_problem(server.post("/v1/categories", {"name": "X", "parent_id": "1"},
                               token=shop.admin), 422, "parent_id")
    parent = shop.root
    for depth in range(5):
        parent = server.post("/v1/categories", {"name": f"D{depth}", "parent_id": parent},
                             token=shop.admin)["id"]
    assert_problem(server.post("/v1/categories", {"name": "too deep", "parent_id": parent},
                               token=shop.admin), 422, "parent_id")
    assert_problem(server.post("/v1/categories", {"name": "X"}, token=shop.seller), 403)
    assert_problem(server.post("/v1/categories", {"name": "X"}), 401)


def test_create_product_and_page(server, shop):
    body = shop.product_body(title="Steel Kettle " + uid(), images=["https://img.example/k.jpg"],
                             specs={"volume": "1.7 l", "watts": 2200}, returnable=False,
                             variants=[{"sku": "K-" + uid(), "price_cents": 2599,
                                        "options": {"color": "steel"}},
                                       {"sku": "K-" + uid(), "price_cents": 2199,
                                        "options": {"color": "black"}, "weight_grams": 900}])
    r = server.post("/v1/products", body, token=shop.seller)
    assert r.status == 201 and r["status"] == "draft"
    assert r.headers["location"] == f"/v1/products/{r['id']}"
    assert [v["price_cents"] for v in r["variants"]] == [2599, 2199]
    assert r["price_cents"] == 2199 and r["returnable"] is False
    assert r["specs"] == {"volume": "1.7 l", "watts": 2200}
    assert r["category"]["id"] == shop.leaf and "/" in r["category"]["path"]
    assert r["rating"] == {"average": 0, "count": 0,
                           "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}
    assert all(v["available"] == 0 for v in r["variants"])
    # a draft is invisible to shoppers and other sellers, visible to its seller
    pid = r["id"]
    assert_problem(server.get(f"/v1/products/{pid}"), 404)
    assert_problem(server.get(f"/v1/products/{pid}", token=shop.other_seller), 404)
    assert server.get(f"/v1/products/{pid}", token=shop.seller).status == 200
    assert server.get(f"/v1/products/{pid}", token=shop.admin).status == 200


def test_product_bad_input_changes_nothing(server, shop):
    before = server.get("/v1/seller/products?limit=100", token=shop.seller)["data"]
    good = shop.product_body()
    cases = [
        ({"title": ""}, "title"), ({"title": "t" * 201}, "title"), ({"title": 5}, "title"),
        ({"brand": None}, "brand"), ({"currency": "XYZ"}, "currency"), ({"currency": "usd"}, "currency"),
        ({"category_id": 999999}, "category_id"), ({"category_id": -1}, "category_id"),
        ({"variants": []}, "variants"), ({"variants": "x"}, "variants"),
        ({"variants": [{"sku": "A-" + uid()}]}, "variants[0].price_cents"),
        ({"variants": [{"sku": "A-" + uid(), "price_cents": -1}]}, "variants[0].price_cents"),
        ({"variants": [{"sku": "A-" + uid(), "price_cents": 10**12}]}, "variants[0].price_cents"),
        ({"variants": [{"sku": "A-" + uid(), "price_cents": 1.5}]}, "variants[0].price_cents"),
        ({"variants": [{"sku": "bad sku!", "price_cents": 1}]}, "variants[0].sku"),
        ({"variants": [{"sku": "S" * 65, "price_cents": 1}]}, "variants[0].sku"),
        ({"variants": [{"sku": "DUP", "price_cents": 1}, {"sku": "DUP", "price_cents": 2}]},
         "variants[1].sku"),
        ({"variants": [{"sku": "V" + uid(), "price_cents": 1}] * 0 +
          [{"sku": f"V{i}-{uid()}", "price_cents": 1} for i in range(101)]}, "variants"),
        ({"images": ["ftp://x"]}, "images[0]"), ({"images": ["https://x"] * 11}, "images"),
        ({"specs": {"k": {"nested": 1}}}, "specs"), ({"returnable": "yes"}, "returnable"),
        ({"variants": [{"sku": "O" + uid(), "price_cents": 1, "options": {"size": 3}}]},
         "variants[0].options"),
    ]
    for patch, field in cases:
        assert_problem(server.post("/v1/products", dict(good, **patch), token=shop.seller), 422, field)
    # a SKU already in use is a conflict naming the variant
    p = shop.product(seller=shop.seller, publish=False)
    sku = p["variants"][0]["sku"]
    r = server.post("/v1/products", dict(good, variants=[{"sku": sku, "price_cents": 5}]),
                    token=shop.seller)
    assert_problem(r, 409, "variants[0].sku")
    after = server.get("/v1/seller/products?limit=100", token=shop.seller)["data"]
    assert len(after) == len(before) + 1, "only the one good product was created"


def test_authorization(server, shop):
    cust, _ = server.user()
    assert_problem(server.post("/v1/products", shop.product_body(), token=cust), 403)
    assert_problem(server.post("/v1/products", shop.product_body()), 401)
    mine = shop.product(seller=shop.seller, publish=False)
    draft_id, vid = mine["id"], mine["variants"][0]["id"]
    other = shop.other_seller
    # seller B cannot touch seller A's draft (invisible: 404)
    assert_problem(server.patch(f"/v1/products/{draft_id}", {"title": "x"}, token=other), 404)
    assert_problem(server.patch(f"/v1/variants/{vid}", {"price_cents": 1}, token=other), 404)
    assert_problem(server.post(f"/v1/products/{draft_id}/submit", token=other), 404)
    assert_problem(server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 5}, token=other), 404)
    assert_problem(server.get(f"/v1/inventory/{vid}", token=other), 404)
    # nor a published one (visible: 403)
    pub = shop.product(seller=shop.seller)
    pvid = pub["variants"][0]["id"]
    assert_problem(server.patch(f"/v1/products/{pub['id']}", {"title": "x"}, token=other), 403)
    assert_problem(server.put(f"/v1/inventory/{pvid}/{shop.warehouse}", {"on_hand": 0}, token=other), 403)
    assert server.get(f"/v1/products/{pub['id']}")["title"] == pub["title"]
    assert server.get(f"/v1/inventory/{pvid}", token=shop.seller)["total"]["on_hand"] == 10
    # customers cannot approve; sellers cannot approve their own
    assert_problem(server.post(f"/v1/admin/products/{draft_id}/approve", token=shop.seller), 403)
    # an admin can do everything
    assert server.patch(f"/v1/products/{draft_id}", {"title": "Admin edit"}, token=shop.admin).status == 200


def test_listing_workflow(server, shop):
    p = shop.product(seller=shop.seller, publish=False)
    pid = p["id"]
    assert_problem(server.post(f"/v1/admin/products/{pid}/approve", token=shop.admin), 409)
    r = server.post(f"/v1/products/{pid}/submit", token=shop.seller)
    assert r["status"] == "pending_review"
    assert_problem(server.get(f"/v1/products/{pid}"), 404)
    assert_problem(server.post(f"/v1/products/{pid}/submit", token=shop.seller), 409)
    r = server.post(f"/v1/admin/products/{pid}/reject", {"reason": "blurry photos"}, token=shop.admin)
    assert r["status"] == "rejected" and r["review_note"] == "blurry photos"
    r = server.post(f"/v1/products/{pid}/submit", token=shop.seller)
    assert r["status"] == "pending_review"
    r = server.post(f"/v1/admin/products/{pid}/approve", token=shop.admin)
    assert r["status"] == "published" and r["published_at"]
    assert server.get(f"/v1/products/{pid}").status == 200
    r = server.post(f"/v1/products/{pid}/unpublish", token=shop.seller)
    assert r["status"] == "draft"
    assert_problem(server.get(f"/v1/products/{pid}"), 404)
    assert_problem(server.post(f"/v1/products/{pid}/unpublish", token=shop.seller), 409)
    # trusted sellers publish directly
    t = shop.product(seller=shop.trusted, publish=False)
    assert server.post(f"/v1/products/{t['id']}/submit", token=shop.trusted)["status"] == "published"


def test_automated_checks(server, shop):
    p = server.post("/v1/products", shop.product_body(description=""), token=shop.seller)
    assert_problem(server.post(f"/v1/products/{p['id']}/submit", token=shop.seller), 422, "description")
    assert server.get(f"/v1/products/{p['id']}", token=shop.seller)["status"] == "draft"
    free = server.post("/v1/products", shop.product_body(price=0), token=shop.seller)
    assert_problem(server.post(f"/v1/products/{free['id']}/submit", token=shop.seller), 422,
                   "variants.price_cents")
    fake = server.post("/v1/products", shop.product_body(title="Replica Designer Watch"), token=shop.seller)
    r = server.post(f"/v1/products/{fake['id']}/submit", token=shop.trusted)
    assert_problem(r, 404)  # not theirs
    r = server.post(f"/v1/products/{fake['id']}/submit", token=shop.seller)
    assert r["status"] == "rejected" and "replica" in r["review_note"]


def test_update_product_and_variants(server, shop):
    p = shop.product(seller=shop.seller)
    pid, v0 = p["id"], p["variants"][0]
    r = server.patch(f"/v1/products/{pid}", {"title": "Renamed " + uid(), "specs": {"a": "b"},
                                             "variants": [{"id": v0["id"], "price_cents": 1999},
                                                          {"sku": "NEW-" + uid(), "price_cents": 2999}]},
                     token=shop.seller)
    assert r.status == 200 and r["title"].startswith("Renamed") and r["specs"] == {"a": "b"}
    assert [v["price_cents"] for v in r["variants"]] == [1999, 2999]
    assert r["status"] == "published", "edits keep a listing published"
    r = server.patch(f"/v1/variants/{v0['id']}", {"price_cents": 1499, "options": {"size": "L"}},
                     token=shop.seller)
    assert r.status == 200 and r["variants"][0]["price_cents"] == 1499
    assert r["variants"][0]["options"] == {"size": "L"}
    assert_problem(server.patch(f"/v1/variants/{v0['id']}", {"price_cents": -5}, token=shop.seller),
                   422, "price_cents")
    assert_problem(server.patch(f"/v1/products/{pid}", {"variants": [{"id": 999999, "price_cents": 1}]},
                                token=shop.seller), 422, "variants[0].id")
    assert_problem(server.patch("/v1/variants/999999", {"price_cents": 5}, token=shop.seller), 404)
    assert_problem(server.patch(f"/v1/products/{pid}", {"category_id": 999999}, token=shop.seller),
                   422, "category_id")
    assert server.get(f"/v1/products/{pid}")["variants"][0]["price_cents"] == 1499


def test_a_variant_edit_names_its_own_field_for_a_taken_sku(server, shop):
    """PATCH /v1/variants/{id} has a flat body: a SKU clash names "sku", not a
    field of a product body the client never sent; nothing changes."""
    p = shop.product(seller=shop.seller, publish=False)
    q = shop.product(seller=shop.seller, publish=False)
    vid, taken = p["variants"][0]["id"], q["variants"][0]["sku"]
    r = server.patch(f"/v1/variants/{vid}", {"sku": taken, "price_cents": 777}, token=shop.seller)
    assert_problem(r, 409, "sku")
    v = server.get(f"/v1/products/{p['id']}", token=shop.seller)["variants"][0]
    assert v["sku"] == p["variants"][0]["sku"] and v["price_cents"] == p["variants"][0]["price_cents"]


def test_a_null_in_a_product_or_variant_patch_is_refused(server, shop):
    """None of a product's or a variant's fields can be emptied: a null in a
    PATCH is bad input (422 naming it, nothing changed), not a 200 that
    silently kept the old value."""
    p = shop.product(seller=shop.seller, publish=False, images=["https://img.example/a.jpg"])
    pid, v = p["id"], p["variants"][0]
    for field in ("title", "brand", "description", "currency", "category_id", "images", "specs",
                  "returnable", "variants"):
        also = {"brand": "Other"} if field == "title" else {"title": "Changed"}
        assert_problem(server.patch(f"/v1/products/{pid}", {field: None, **also},
                                    token=shop.seller), 422, field)
    assert_problem(server.patch(f"/v1/products/{pid}", {"variants": [{"id": v["id"], "price_cents": None}]},
                                token=shop.seller), 422, "variants[0].price_cents")
    for field in ("sku", "price_cents", "weight_grams", "options"):
        also = {"weight_grams": 1} if field == "price_cents" else {"price_cents": 1}
        assert_problem(server.patch(f"/v1/variants/{v['id']}", {field: None, **also},
                                    token=shop.seller), 422, field)
    now = server.get(f"/v1/products/{pid}", token=shop.seller)
    assert now["title"] == p["title"] and now["images"] == p["images"]
    assert now["variants"][0]["price_cents"] == v["price_cents"] and now["variants"][0]["sku"] == v["sku"]


def test_etag_and_live_availability(server, shop):
    p = shop.product(stock=7)
    pid, vid = p["id"], p["variants"][0]["id"]
    r1 = server.get(f"/v1/products/{pid}")
    etag = r1.headers["etag"]
    assert r1["variants"][0]["available"] == 7
    r2 = server.get(f"/v1/products/{pid}", headers={"If-None-Match": etag})
    assert r2.status == 304 and not r2.raw
    assert server.get(f"/v1/products/{pid}", headers={"If-None-Match": f'"x", W/{etag}'}).status == 304
    assert server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 3},
                      token=shop.trusted).status == 200
    r3 = server.get(f"/v1/products/{pid}", headers={"If-None-Match": etag})
    assert r3.status == 200 and r3["variants"][0]["available"] == 3 and r3.headers["etag"] != etag


def test_unknown_and_malformed_ids(server, shop):
    for path in ["/v1/products/999999", "/v1/products/abc", "/v1/products/0", "/v1/products/-1",
                 "/v1/products/99999999999999999999"]:
        assert_problem(server.get(path), 404)


def test_seller_product_list(server, shop):
    s, _ = server.user("seller")
    made = [shop.product(seller=s, publish=False)["id"] for _ in range(5)]
    page1 = server.get("/v1/seller/products?limit=3", token=s)
    assert [p["id"] for p in page1["data"]] == made[::-1][:3]
    page2 = server.get(f"/v1/seller/products?limit=3&cursor={page1['next_cursor']}", token=s)
    assert [p["id"] for p in page2["data"]] == made[::-1][3:] and page2["next_cursor"] is None
    assert_problem(server.get("/v1/seller/products?cursor=zz", token=s), 422, "cursor")
    assert_problem(server.get("/v1/seller/products?limit=1000", token=s), 422, "limit")
    assert_problem(server.get("/v1/seller/products?status=gone", token=s), 422, "status")
    assert server.get("/v1/seller/products?status=published", token=s)["data"] == []
    cust, _ = server.user()
    assert_problem(server.get("/v1/seller/products", token=cust), 403)


def test_a_listed_product_keeps_to_what_submit_checked(server, shop):
    """Found from outside: submit refuses a price of 0, but an edit of the
    published product set one and it sold for nothing; and a published
    product's currency changed under carts that added its cents to theirs."""
    p = shop.product(seller=shop.seller, price=1000)
    pid, vid = p["id"], p["variants"][0]["id"]
    for price in (0, 10000001):
        assert_problem(server.patch(f"/v1/variants/{vid}", {"price_cents": price},
                                    token=shop.seller), 422, "price_cents")
        assert_problem(server.patch(f"/v1/products/{pid}", {"variants": [{"id": vid,
                                                                          "price_cents": price}]},
                                    token=shop.seller), 422, "variants[0].price_cents")
        assert_problem(server.patch(f"/v1/products/{pid}", {"variants": [{"sku": "N-" + uid(),
                                                                          "price_cents": price}]},
                                    token=shop.seller), 422, "variants[0].price_cents")
    other = "EUR" if p["currency"] != "EUR" else "USD"
    assert_problem(server.patch(f"/v1/products/{pid}", {"currency": other}, token=shop.seller),
                   409, "currency")
    page = server.get(f"/v1/products/{pid}")
    assert page["currency"] == p["currency"] and len(page["variants"]) == 1
    assert page["variants"][0]["price_cents"] == 1000
    # A draft is the seller's to change: prices and currency, checked at submit.
    d = shop.product(seller=shop.seller, price=1000, publish=False)
    dv = d["variants"][0]["id"]
    assert server.patch(f"/v1/variants/{dv}", {"price_cents": 0}, token=shop.seller).status == 200
    r = server.patch(f"/v1/products/{d['id']}", {"currency": other}, token=shop.seller)
    assert r.status == 200 and r["currency"] == other


def test_a_cart_line_in_another_currency_is_not_sold(server, shop):
    """Unpublished, moved to another currency and published again, a product
    already in a cart is no longer sold in that cart's currency."""
    from shop_fixtures import Buyer
    p = shop.product(seller=shop.trusted, price=1200)
    pid, vid = p["id"], p["variants"][0]["id"]
    b = Buyer(server)
    assert b.add(vid).status == 201
    assert server.post(f"/v1/products/{pid}/unpublish", token=shop.trusted).status == 200
    other = "EUR" if p["currency"] != "EUR" else "USD"
    assert server.patch(f"/v1/products/{pid}", {"currency": other},
                        token=shop.trusted).status == 200
    assert server.post(f"/v1/products/{pid}/submit", token=shop.trusted)["status"] == "published"
    r = b.checkout()
    assert r.status in (409, 422), r
    assert r["lines"][0]["reason"] == "not_for_sale", r
    assert server.database().scalar("SELECT count(*) FROM orders WHERE user_id = ?",
                                    (b.user["id"],)) == 0
