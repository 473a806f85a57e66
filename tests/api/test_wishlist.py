"""Wishlists (ENG-2): add, list, remove, limits, authorization."""
import time

import pytest

from conftest import assert_problem
from shop_fixtures import Shop


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


def wishlist_ids(server, token, **query):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    r = server.get("/v1/me/wishlist" + ("?" + qs if qs else ""), token=token)
    assert r.status == 200, r
    return [i["product_id"] for i in r["data"]], r["next_cursor"]


def test_add_list_remove(server, shop):
    tok, _ = server.user()
    p = shop.product(price=4999, stock=3)
    r = server.put(f"/v1/me/wishlist/{p['id']}", token=tok)
    assert r.status == 201, r
    assert r.body["product_id"] == p["id"] and r.body["title"] == p["title"]
    assert r.body["price_cents"] == 4999 and r.body["currency"] == "USD"
    assert r.body["in_stock"] is True
    again = server.put(f"/v1/me/wishlist/{p['id']}", token=tok)
    assert again.status == 200 and again.body == r.body  # idempotent: nothing changed
    assert wishlist_ids(server, tok) == ([p["id"]], None)
    assert server.delete(f"/v1/me/wishlist/{p['id']}", token=tok).status == 204
    assert_problem(server.delete(f"/v1/me/wishlist/{p['id']}", token=tok), 404)
    assert wishlist_ids(server, tok) == ([], None)


def test_in_stock_follows_stock(server, shop):
    tok, _ = server.user()
    p = shop.product(stock=0)
    assert server.put(f"/v1/me/wishlist/{p['id']}", token=tok)["in_stock"] is False
    vid = p["variants"][0]["id"]
    assert server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 2}, token=shop.trusted).status == 200
    r = server.get("/v1/me/wishlist", token=tok)
    assert r["data"][0]["in_stock"] is True


def test_unknown_or_unpublished_product_is_404_and_changes_nothing(server, shop):
    tok, _ = server.user()
    draft = shop.product(publish=False, seller=shop.seller)
    for pid in (draft["id"], 99999999, "abc", 0, -3):
        assert_problem(server.put(f"/v1/me/wishlist/{pid}", token=tok), 404)
    assert wishlist_ids(server, tok) == ([], None)


def test_newest_first_with_cursor(server, shop):
    tok, _ = server.user()
    ids = []
    for _ in range(5):
        p = shop.product()
        assert server.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
        ids.append(p["id"])
    seen, cursor = [], None
    while True:
        page, cursor = wishlist_ids(server, tok, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page) <= 2
        seen += page
        if cursor is None:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=101", "limit"),
                                         ("limit=x", "limit"), ("cursor=nope", "cursor"),
                                         ("cursor=12.", "cursor"), ("cursor=" + "9" * 80, "cursor")])
def test_bad_list_queries(server, query, field):
    tok, _ = server.user()
    assert_problem(server.get("/v1/me/wishlist?" + query, token=tok), 422, field)


def test_authorization(server, shop):
    a, _ = server.user()
    b, _ = server.user()
    p = shop.product()
    for method in ("GET", "PUT", "DELETE"):
        path = "/v1/me/wishlist" + ("" if method == "GET" else f"/{p['id']}")
        assert_problem(server.request(method, path), 401)
    assert server.put(f"/v1/me/wishlist/{p['id']}", token=a).status == 201
    assert wishlist_ids(server, b) == ([], None)
    assert_problem(server.delete(f"/v1/me/wishlist/{p['id']}", token=b), 404)
    assert wishlist_ids(server, a) == ([p["id"]], None)


def test_at_most_1000_products(server, shop):
    tok, user = server.user()
    first = shop.product()
    extra = shop.product()
    # 999 more products and a full wishlist, written straight into the database.
    db = server.database()
    now = int(time.time() * 1000)
    top = db.scalar("SELECT max(id) FROM products")
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 999)"
        " INSERT INTO products (id, seller_id, category_id, title, description, brand, currency,"
        " status, created_at, updated_at)"
        " SELECT ? + i, seller_id, category_id, title || i, description, brand, currency,"
        " 'published', created_at, updated_at FROM n, products WHERE products.id = ?",
        (top + 1000, first["id"]))
    db.execute("INSERT INTO wishlist (user_id, product_id, created_at) VALUES (?, ?, ?)",
               (user["id"], first["id"], now))
    db.execute("INSERT INTO wishlist (user_id, product_id, created_at)"
               " SELECT ?, id, ? FROM products WHERE id > ?", (user["id"], now, top + 1000))
    assert_problem(server.put(f"/v1/me/wishlist/{extra['id']}", token=tok), 409)
    assert server.put(f"/v1/me/wishlist/{first['id']}", token=tok).status == 200
    assert server.delete(f"/v1/me/wishlist/{first['id']}", token=tok).status == 204
    assert server.put(f"/v1/me/wishlist/{extra['id']}", token=tok).status == 201


def test_an_add_racing_a_remove_answers_what_it_added(server, shop):
    """Found from outside: PUT read the item back after its write, so a
    DELETE committing in between turned a done add into 404 'not on your
    wishlist'. The add now answers from its own transaction."""
    from conftest import at_once
    tok, _ = server.user()
    pid = shop.product()["id"]
    for _ in range(5):
        calls = ["put"] * 12 + ["delete"] * 12
        answers = at_once(lambda c: server.put(f"/v1/me/wishlist/{pid}", token=tok) if c == "put"
                          else server.delete(f"/v1/me/wishlist/{pid}", token=tok), calls, threads=24)
        for c, r in zip(calls, answers):
            if c == "put":
                assert r.status in (200, 201) and r["product_id"] == pid, r
            else:
                assert r.status in (204, 404), r
