"""Load shedding (OPS-3): each forced level changes exactly what it should,
and auto mode enters a level under a synthetic overload and leaves it after,
with thresholds made small so it happens in seconds."""
import threading
import time

from conftest import assert_problem, wait_for
from shop_fixtures import Buyer, Shop

LEVEL_CHECK = {"SHOPD_SHED_SAMPLE_MS": "50"}


def put(s, admin, **body):
    r = s.put("/v1/admin/load-shedding", body, token=admin)
    assert r.status == 200, r
    return r.body


def snapshot(s, shop, p, buyer):
    """What each level may change: facets, cache headers, a shed write."""
    search = s.get("/v1/search?q=kettle")
    page = s.get(f"/v1/products/{p['id']}")
    wish = s.put(f"/v1/me/wishlist/{p['id']}", token=buyer.token)
    cart = s.post("/v1/cart/lines", {"variant_id": p["variants"][0]["id"], "quantity": 1},
                  token=buyer.token)
    return search, page, wish, cart


def test_forced_levels(make_server):
    s = make_server(LEVEL_CHECK)
    shop = Shop(s)
    p = shop.product(title="Kettle steel", stock=50)
    buyer = Buyer(s)
    cust, _ = s.user()
    assert_problem(s.get("/v1/admin/load-shedding", token=cust), 403)
    assert_problem(s.put("/v1/admin/load-shedding", {"level": 4}, token=shop.admin), 422, "level")
    assert_problem(s.put("/v1/admin/load-shedding", {"mode": "manual"}, token=shop.admin), 422,
                   "level")
    assert_problem(s.put("/v1/admin/load-shedding", {"level": 1, "mode": "x"}, token=shop.admin),
                   422, "mode")
    st = s.get("/v1/admin/load-shedding", token=shop.admin).body
    assert st["level"] == 0 and st["mode"] == "manual"

    for level in (0, 1):
        assert put(s, shop.admin, level=level)["level"] == level
        search, page, wish, cart = snapshot(s, shop, p, buyer)
        assert search["facets"]["brand"], search.body  # facets as usual
        assert "cache-control" not in page.headers
        assert wish.status in (200, 201, 204), wish
        assert cart.status == 201, cart
        assert f"shopd_shed_level {level}" in s.get("/metrics").body

    assert put(s, shop.admin, level=2)["name"] == "lean"
    search, page, wish, cart = snapshot(s, shop, p, buyer)
    f = search["facets"]
    assert search["total"] >= 1 and (f["brand"], f["category"], f["price"]) == ([], [], [])
    assert all(x["count"] == 0 for x in f["rating"])
    assert page.status == 200 and "max-age=" in page.headers["cache-control"]
    assert "max-age=" in search.headers["cache-control"]
    assert wish.status in (200, 201, 204) and cart.status == 201

    put(s, shop.admin, level=3)
    search, page, wish, cart = snapshot(s, shop, p, buyer)
    assert page.status == 200 and search.status == 200  # reads stay
    assert_problem(wish, 503)
    assert int(wish.headers["retry-after"]) >= 1
    assert cart.status == 201  # carts and checkout are the last things shed
    order = buyer.checkout()
    assert order.status == 201, order
    assert_problem(s.post(f"/v1/products/{p['id']}/reviews",
                          {"rating": 5, "title": "Fine", "body": "Works well."},
                          token=buyer.token), 503)
    assert s.get("/v1/admin/load-shedding", token=shop.admin)["level"] == 3

    put(s, shop.admin, level=0)
    search, page, wish, cart = snapshot(s, shop, p, buyer)
    assert search["facets"]["brand"] and "cache-control" not in page.headers
    assert wish.status in (200, 201, 204)
    assert "shed.level" in s.logtext()


def test_auto_enters_under_overload_and_leaves_after(make_server):
    # The writer's backlog is the signal here: more than 3 writes waiting
    # counts as overload, at most 1 as calm (the lease keeper's own write).
    s = make_server({"SHOPD_SHED_SAMPLE_MS": "50", "SHOPD_SHED_QUEUE": "3",
                     "SHOPD_SHED_ENTER_MS": "150", "SHOPD_SHED_EXIT_MS": "400",
                     "SHOPD_SHED_AUTO_MAX": "1", "SHOPD_RATE_LIMIT": "off"})
    shop = Shop(s)
    p = shop.product(title="Kettle", stock=5)
    assert put(s, shop.admin, mode="auto")["mode"] == "auto"
    stop = threading.Event()
    guests = [s.post("/v1/guest")["guest_token"] for _ in range(16)]

    def hammer(guest):
        # Synthetic overload: many carts written at once, so writes queue
        # for the writer.
        while not stop.is_set():
            r = s.post("/v1/cart/lines", {"variant_id": p["variants"][0]["id"], "quantity": 1},
                       guest=guest, check=False)
            for line in (r.body or {}).get("lines", []):
                s.delete(f"/v1/cart/lines/{line['id']}", guest=guest, check=False)

    threads = [threading.Thread(target=hammer, args=(g,)) for g in guests]
    for t in threads:
        t.start()
    try:
        st = wait_for("auto mode to enter level 1", lambda: (lambda b: b if b["level"] >= 1 else None)(
            s.get("/v1/admin/load-shedding", token=shop.admin).body), timeout=20)
        assert st["mode"] == "auto" and st["scope"] == "process" and st["level"] == 1
        time.sleep(0.5)
        assert s.get("/v1/admin/load-shedding", token=shop.admin)["level"] == 1  # its maximum
    finally:
        stop.set()
        for t in threads:
            t.join()
    wait_for("auto mode to leave it", lambda: s.get("/v1/admin/load-shedding",
                                                    token=shop.admin)["level"] == 0, timeout=20)
    assert "shopd_shed_auto 1" in s.get("/metrics").body
