"""Recommendations (ENG-4): planted associations, freshness, exclusions,
cold start, bad input, and an offline quality check against a popularity
baseline.

Behaviour history is written straight into `rec_events` (the table every
process follows, recs/recs.c): the running server applies new rows within
its feed period, so no restart is needed."""
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import assert_problem, consumer_caught_up, uid, wait_for
from shop_fixtures import Buyer, Shop

VIEW, CART, PURCHASE = 1, 2, 3
ORDER_BASE = 50_000_000  # fake order ids for planted history, far from real ones


def insert_events(server, rows):
    """rows: (kind, user_key, product_id, order_id or None, created_at ms)."""
    server.database().executemany(
        "INSERT INTO rec_events (kind, user_key, product_id, order_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)", rows)


def ids(resp):
    assert resp.status == 200, resp
    return [x["product_id"] for x in resp["data"]]


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


@pytest.fixture(scope="module")
def planted(server, shop):
    """A bought with B in 40% of A's orders; C bought with everything; D
    with A in 2 orders only (below the minimum support of 3)."""
    p = {k: shop.product(title=f"{k} item {uid()}", stock=1000) for k in "ABCDE"}
    fill = [shop.product(stock=1000) for _ in range(4)]
    now = int(time.time() * 1000)
    rows, order = [], ORDER_BASE
    rnd = random.Random(7)
    for i in range(200):
        basket = set()
        if i < 50:
            basket.add(p["A"]["id"])
            if i < 20:
                basket.add(p["B"]["id"])
            if i < 2:
                basket.add(p["D"]["id"])
            if i % 5 < 3:  # 30 of A's 50 orders
                basket.add(p["C"]["id"])
        else:
            basket.add(rnd.choice(fill)["id"])
            if i < 140:  # 90 more orders
                basket.add(p["C"]["id"])
        order += 1
        for pid in basket:
            rows.append((PURCHASE, 800_000 + i, pid, order, now - 3_600_000 + i))
    insert_events(server, rows)
    a = p["A"]["id"]
    wait_for("the planted orders", lambda: ids(server.get(
        f"/v1/products/{a}/frequently-bought-together")) != [])
    return p


def test_planted_association_ranks_first_and_best_seller_does_not_outrank_it(server, planted):
    a, b, c, d = (planted[k]["id"] for k in "ABCD")
    r = server.get(f"/v1/products/{a}/frequently-bought-together?limit=10")
    got = ids(r)
    assert got[0] == b, r
    by_id = {x["product_id"]: x for x in r["data"]}
    assert abs(by_id[b]["score"] - 0.4) < 1e-6, by_id[b]  # P(B|A) = 20/50
    assert by_id[b]["lift"] > 3.9, by_id[b]                # 0.4 / (20/200)
    if c in by_id:
        assert by_id[c]["lift"] < by_id[b]["lift"]
        assert got.index(c) > got.index(b)
    assert d not in got  # 2 orders < SHOPD_RECS_MIN_SUPPORT (3)
    for x in r["data"]:
        assert set(x) >= {"product_id", "title", "price_cents", "currency", "score", "lift"}


def test_product_page_carries_recommendations(server, planted):
    a, b = planted["A"]["id"], planted["B"]["id"]
    r = server.get(f"/v1/products/{a}")
    assert r.status == 200, r
    recs = r["recommendations"]
    assert [x["product_id"] for x in recs["frequently_bought_together"]][0] == b
    assert len(recs["frequently_bought_together"]) <= 6 and len(recs["also_viewed"]) <= 6
    etag = r.headers["etag"]
    assert server.get(f"/v1/products/{a}", headers={"If-None-Match": etag}).status == 304


def test_views_through_the_api_make_also_viewed(server, shop, planted):
    x, y = shop.product(stock=5), shop.product(stock=5)
    g = server.post("/v1/guest")["guest_token"]
    assert server.post("/v1/events", {"type": "view", "product_id": x["id"]}, guest=g).status == 202
    # Product detail by the same guest counts as a view too (no write on its path).
    assert server.get(f"/v1/products/{y['id']}", guest=g).status == 200
    wait_for("co-view", lambda: y["id"] in ids(server.get(f"/v1/products/{x['id']}/also-viewed")),
             timeout=5)
    token, _ = server.user()
    r = server.post("/v1/events", {"type": "add_to_cart", "product_id": y["id"]}, token=token)
    assert r.status == 202 and r["accepted"] is True, r


def test_a_batch_of_events_is_taken_whole_or_not_at_all(server, shop):
    token, user = server.user()
    x, y, z = (shop.product(stock=5)["id"] for _ in range(3))
    good = [{"type": "view", "product_id": x}, {"type": "add_to_cart", "product_id": y},
            {"type": "view", "product_id": z}]
    db = server.database()

    def rows():
        return db.query("SELECT kind, product_id FROM rec_events WHERE user_key = ?", (user["id"],))
    for bad, status, field in [
            (good + [{"type": "purchase", "product_id": x}], 422, "events[3].type"),
            (good + [{"type": "view", "product_id": 999999999}], 404, "events[3].product_id"),
            (good + [{"type": "view"}], 422, "events[3].product_id"),
            (good + ["view"], 422, "events[3].type"),
            ([], 422, "events"),
            ([good[0]] * 101, 422, "events"),
            ("view", 422, "events")]:
        assert_problem(server.post("/v1/events", {"events": bad}, token=token), status, field)
    r = server.post("/v1/events", {"events": good}, token=token)
    assert r.status == 202 and r["accepted"] is True and r["events"] == 3, r
    r = server.post("/v1/events", {"type": "view", "product_id": x}, token=token)
    assert r.status == 202 and r["events"] == 1, r
    # Flushed in the order taken: four rows, none from the refused batches.
    wait_for("the events written", lambda: len(rows()) >= 4, timeout=5)
    time.sleep(0.3)
    assert sorted(rows()) == sorted([(VIEW, x), (CART, y), (VIEW, z), (VIEW, x)])


def test_a_purchase_changes_bought_together_within_two_seconds(server, shop, planted):
    a, e = planted["A"], planted["E"]
    now = int(time.time() * 1000)
    insert_events(server, [(PURCHASE, 810_000 + i, pid, ORDER_BASE + 1000 + i, now)
                           for i in range(2) for pid in (a["id"], e["id"])])
    time.sleep(0.5)
    assert e["id"] not in ids(server.get(f"/v1/products/{a['id']}/frequently-bought-together"))

    def on_page():
        page = server.get(f"/v1/products/{a['id']}")["recommendations"]
        return [x["product_id"] for x in page["frequently_bought_together"]]
    assert e["id"] not in on_page()  # the page keeps this fragment until A's model changes
    buyer = Buyer(server)
    assert buyer.add(a["variants"][0]["id"]).status == 201
    r = buyer.buy(e["variants"][0]["id"])
    assert r.status == 201, r
    t0 = time.time()
    wait_for("the purchase in FBT", lambda: e["id"] in ids(server.get(
        f"/v1/products/{a['id']}/frequently-bought-together")), timeout=5)
    wait_for("the purchase on A's page", lambda: e["id"] in on_page(), timeout=5)
    assert time.time() - t0 < 2.0
    # Never what the user bought.
    mine = ids(server.get("/v1/recommendations?limit=50", token=buyer.token))
    assert mine and a["id"] not in mine and e["id"] not in mine


def test_a_burst_of_orders_becomes_purchases_once_even_when_replayed(make_server):
    """The purchases consumer records a slice's orders together (16, 4 and 1
    orders to a statement): 23 orders at once, one with two variants of one
    product, become one purchase row per (order, product) with the buyer's
    key; delivering every event again adds nothing, and lost rows come back
    from a replay in whole slices."""
    s = make_server({})
    shop = Shop(s)
    p = shop.product(price=900, stock=100, variants=[
        {"sku": "RB-" + uid(), "price_cents": 900, "weight_grams": 500, "options": {"size": "S"}},
        {"sku": "RB-" + uid(), "price_cents": 900, "weight_grams": 500, "options": {"size": "M"}}])
    q = shop.product(price=500, stock=100)
    buyers = [Buyer(s) for _ in range(23)]
    for i, b in enumerate(buyers):
        assert b.add(p["variants"][0]["id"]).status == 201
        if i == 0:
            assert b.add(p["variants"][1]["id"]).status == 201
        if i % 2:
            assert b.add(q["variants"][0]["id"]).status == 201
    with ThreadPoolExecutor(8) as pool:
        orders = list(pool.map(lambda b: b.checkout(), buyers))
    assert all(o.status == 201 for o in orders)
    want = sorted((o["id"], pid, b.user["id"]) for i, (b, o) in enumerate(zip(buyers, orders))
                  for pid in ([p["id"], q["id"]] if i % 2 else [p["id"]]))
    db = s.database()

    def purchases():
        rows = db.query("SELECT order_id, product_id, user_key FROM rec_events WHERE kind = 3")
        return sorted(tuple(int(x) for x in r) for r in rows) if len(rows) >= len(want) else None
    assert wait_for("the purchases", purchases) == want
    for lose in (False, True):
        s.stop()
        if lose:
            db.execute("DELETE FROM rec_events WHERE kind = 3")
        db.execute("UPDATE outbox_consumers SET position = 0, position_txid = 0"
                   " WHERE name = 'recs.purchases'")
        s.start()
        wait_for("the replay", lambda: consumer_caught_up(
            db, "recs.purchases", "topic = 'order.confirmed'"))
        assert purchases() == want


def test_what_a_user_just_bought_is_not_recommended_to_them_right_after(server, shop, planted):
    """Found from outside: the answer right after the checkout's 201 still
    listed the product just bought (the purchase reached the model only
    through the outbox and the feed, a few hundred ms later)."""
    for _ in range(3):
        buyer = Buyer(server)
        top = ids(server.get("/v1/recommendations?limit=50", token=buyer.token))
        assert top
        pid = top[0]
        vid = server.get(f"/v1/products/{pid}")["variants"][0]["id"]
        r = buyer.buy(vid)
        assert r.status == 201, r
        assert pid not in ids(server.get("/v1/recommendations?limit=50", token=buyer.token))


def test_unavailable_products_leave_every_list_within_a_second(server, shop, planted):
    a, b, c = planted["A"], planted["B"], planted["C"]
    token, _ = server.user()
    lists = [f"/v1/products/{a['id']}/frequently-bought-together?limit=50",
             "/v1/products/popular?limit=50", f"/v1/products/popular?category={shop.root}&limit=50"]
    for path in lists:
        ids(server.get(path))  # warm the caches
    page = server.get(f"/v1/products/{a['id']}")
    assert b["id"] in [x["product_id"] for x in page["recommendations"]["frequently_bought_together"]]
    # B sells out, C is unpublished.
    r = server.put(f"/v1/inventory/{b['variants'][0]['id']}/{shop.warehouse}", {"on_hand": 0},
                   token=shop.trusted)
    assert r.status == 200, r
    r = server.post(f"/v1/products/{c['id']}/unpublish", token=shop.trusted)
    assert r.status == 200, r
    t0 = time.time()

    def gone():
        everything = [pid for path in lists for pid in ids(server.get(path))]
        everything += ids(server.get("/v1/recommendations?limit=50", token=token))
        pg = server.get(f"/v1/products/{a['id']}")["recommendations"]
        everything += [x["product_id"] for k in pg for x in pg[k]]
        return b["id"] not in everything and c["id"] not in everything
    wait_for("B and C gone", gone, timeout=5)
    assert time.time() - t0 < 1.0


def test_cold_start_new_user_and_new_product(server, shop, planted):
    token, _ = server.user()
    r = server.get("/v1/recommendations", token=token)
    assert ids(r), r
    fresh = shop.product(title="Walnut Desk Lamp " + uid(), stock=3)
    r = server.get(f"/v1/products/{fresh['id']}/also-viewed")
    assert ids(r), r
    page = server.get(f"/v1/products/{fresh['id']}")
    assert page["recommendations"]["also_viewed"], page.body
    assert ids(server.get("/v1/products/popular")), "popular overall is never empty here"


def test_bad_input(server, shop, planted):
    a = planted["A"]["id"]
    assert_problem(server.get("/v1/products/999999999/frequently-bought-together"), 404)
    assert_problem(server.get("/v1/products/999999999/also-viewed"), 404)
    assert_problem(server.get(f"/v1/products/{a}/frequently-bought-together?limit=100000"), 422,
                   "limit")
    assert_problem(server.get(f"/v1/products/{a}/also-viewed?limit=0"), 422, "limit")
    assert_problem(server.get("/v1/products/popular?category=999999999"), 422, "category")
    assert_problem(server.get("/v1/recommendations"), 401)
    token, _ = server.user()
    assert_problem(server.post("/v1/events", {"type": "purchase", "product_id": a}, token=token),
                   422, "type")
    assert_problem(server.post("/v1/events", {"type": "view"}, token=token), 422, "product_id")
    assert_problem(server.post("/v1/events", {"type": "view", "product_id": 999999999},
                               token=token), 404)
    assert_problem(server.post("/v1/events", {"type": "view", "product_id": a}), 401)
    draft = shop.product(publish=False)
    assert_problem(server.get(f"/v1/products/{draft['id']}/also-viewed"), 404)


# ---- offline quality ---------------------------------------------------------------

def test_offline_quality_beats_popularity(make_server):
    """Users with latent tastes; each user's last purchase is held out. The
    engine's hit rate@10 must beat a popularity baseline by 1.5× (and its
    NDCG@10 too)."""
    s = make_server()
    shop = Shop(s)
    rnd = random.Random(42)
    ncat, per_cat, nclusters = 6, 10, 6
    cats = []
    for i in range(ncat):
        r = s.post("/v1/categories", {"name": f"Q{i} {uid()}", "parent_id": shop.root},
                   token=shop.admin)
        cats.append(r["id"])
    with ThreadPoolExecutor(8) as ex:
        products = list(ex.map(lambda i: shop.product(category=cats[i // per_cat], stock=1000,
                                                      title=f"Thing {i} {uid()}"),
                               range(ncat * per_cat)))
    pids = [p["id"] for p in products]
    # Cluster k holds products k, k+6, k+12, …: tastes cut across categories.
    clusters = [[pids[j] for j in range(k, len(pids), nclusters)] for k in range(nclusters)]
    zipf = {pid: 1.0 / (1 + i) ** 0.8 for i, pid in enumerate(rnd.sample(pids, len(pids)))}
    with ThreadPoolExecutor(8) as ex:
        users = list(ex.map(lambda _: s.user(), range(120)))
    now = int(time.time() * 1000)
    rows, held, order = [], {}, ORDER_BASE
    bought_total = {}

    def draw(pool, owned):
        cand = [p for p in pool if p not in owned] or [p for p in pids if p not in owned]
        return rnd.choices(cand, weights=[zipf[p] for p in cand])[0]

    for n, (token, user) in enumerate(users):
        taste = clusters[n % nclusters]
        owned, t = set(), now - 20 * 86_400_000 + n * 1000
        norders = rnd.randint(3, 5)
        for k in range(norders + 1):
            basket = {draw(taste if rnd.random() < 0.85 else pids, owned)
                      for _ in range(rnd.randint(1, 3))}
            if k == norders:  # the held-out purchase
                held[user["id"]] = (token, draw(taste, owned))
                break
            for pid in basket:  # views first, then the order
                rows.append((VIEW, user["id"], pid, None, t))
                t += 60_000
            order += 1
            for pid in basket:
                rows.append((PURCHASE, user["id"], pid, order, t))
                bought_total[pid] = bought_total.get(pid, 0) + 1
            owned |= basket
            t += 3 * 3_600_000
        held[user["id"]] += (owned,)
    insert_events(s, rows)
    # The model applies rows in commit order and these commit together: once
    # the last user's history shows in their list (this test's products; a
    # user without one is given the shop's popular items, and none of these
    # has an event before), every row is in. A fixed sleep is not enough: on
    # PostgreSQL the model reads nothing while any older transaction that
    # wrote in the shop's database is open (outbox_horizon).
    last_token = users[-1][0]
    wait_for("the history", lambda: set(ids(s.get("/v1/recommendations?limit=10",
                                                  token=last_token))) & set(pids), 20)
    ranked_pop = sorted(bought_total, key=lambda p: (-bought_total[p], p))

    def metrics(lists):
        hits = ndcg = 0.0
        for uid_, (token, target, owned) in held.items():
            top = lists(token, owned)[:10]
            if target in top:
                hits += 1
                ndcg += 1 / math.log2(top.index(target) + 2)
        return hits / len(held), ndcg / len(held)

    eng_hr, eng_ndcg = metrics(lambda tok, owned: ids(s.get("/v1/recommendations?limit=10",
                                                            token=tok)))
    pop_hr, pop_ndcg = metrics(lambda tok, owned: [p for p in ranked_pop if p not in owned])
    print(f"\nhit-rate@10 engine {eng_hr:.3f} popularity {pop_hr:.3f};"
          f" NDCG@10 engine {eng_ndcg:.3f} popularity {pop_ndcg:.3f}")
    assert eng_hr >= 1.5 * pop_hr and eng_hr - pop_hr >= 0.1, (eng_hr, pop_hr)
    assert eng_ndcg > 1.3 * pop_ndcg, (eng_ndcg, pop_ndcg)
    # Never what they bought.
    for token, target, owned in list(held.values())[:20]:
        assert not set(ids(s.get("/v1/recommendations?limit=50", token=token))) & owned


def test_a_large_catalog_builds_the_model_after_the_server_answers(make_server):
    """Over SHOPD_RECS_LATER_PRODUCTS published products (set to 0 here),
    `shopd serve` answers before the model is built: meanwhile a product page
    is whole but without recommendations, the recommendation endpoints and
    POST /v1/events answer 503 with Retry-After, never a list from half a
    model; then everything works as usual (shop/views.c)."""
    s = make_server({"SHOPD_RECS_LATER_PRODUCTS": "0"})
    shop = Shop(s)
    p = shop.product(stock=5)
    s.stop()
    s.start()
    g = s.post("/v1/guest")["guest_token"]

    def settled():
        page = s.get(f"/v1/products/{p['id']}")
        assert page.status == 200, page
        popular = s.get("/v1/products/popular")
        event = s.post("/v1/events", {"type": "view", "product_id": p["id"]}, guest=g)
        for r in (popular, event):
            if r.status == 503:
                assert_problem(r, 503)
                assert r.headers.get("retry-after") == "1", r.headers
            else:
                assert r.status in (200, 202), r
        return popular.status == 200 and event.status == 202 and "recommendations" in page.body

    wait_for("the model", settled, timeout=10)
