"""Search freshness, the result cache, popular-query suggestions and bad
input (SRC-4, SRC-6): a change is visible within a second, in this process
and in another one on the same database."""
import time
import urllib.parse

import pytest

from conftest import Server, assert_problem, uid
from shop_fixtures import Shop


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


def q(path, **params):
    return path + "?" + urllib.parse.urlencode(params)


def until(fn, timeout=1.0):
    """Polls fn() until it is truthy; returns (value, seconds)."""
    t0 = time.time()
    while True:
        v = fn()
        if v or time.time() - t0 > timeout:
            return v, time.time() - t0
        time.sleep(0.02)


def found(server, query, pid, **params):
    r = server.get(q("/v1/search", q=query, **params))
    assert r.status == 200, r
    return next((p for p in r["data"] if p["id"] == pid), None)


def test_create_edit_restock_unpublish_within_a_second(server, shop):
    word, new_word = "Zorbix" + uid()[:4], "Quabble" + uid()[:4]
    p = shop.product(title=f"{word} Kettle", price=2599, stock=4)
    hit, dt = until(lambda: found(server, word, p["id"]))
    assert hit and dt < 1.0 and hit["in_stock"] and hit["price_cents"] == 2599

    assert server.patch(f"/v1/products/{p['id']}", {"title": f"{new_word} Kettle"},
                        token=shop.trusted).status == 200
    hit, dt = until(lambda: found(server, new_word, p["id"]))
    assert hit and dt < 1.0 and hit["title"] == f"{new_word} Kettle"
    assert found(server, word, p["id"]) is None, "the old title no longer matches"

    vid = p["variants"][0]["id"]
    assert server.patch(f"/v1/variants/{vid}", {"price_cents": 1234}, token=shop.trusted).status == 200
    hit, dt = until(lambda: (found(server, new_word, p["id"], max_price=1234) or {}).get("price_cents") == 1234)
    assert hit and dt < 1.0
    assert found(server, new_word, p["id"], max_price=1233) is None

    r = server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 0}, token=shop.trusted)
    assert r.status == 200, r
    hit, dt = until(lambda: found(server, new_word, p["id"], in_stock="false"))
    assert hit and dt < 1.0 and hit["in_stock"] is False
    assert found(server, new_word, p["id"], in_stock="true") is None

    assert server.post(f"/v1/products/{p['id']}/unpublish", token=shop.trusted).status == 200
    gone, dt = until(lambda: found(server, new_word, p["id"]) is None)
    assert gone and dt < 1.0
    r = server.get(q("/v1/products", category=shop.leaf, limit=100))
    assert p["id"] not in [x["id"] for x in r["data"]], "browse shows published products only"


def test_review_workflow_controls_visibility(server, shop):
    word = "Plimsoll" + uid()[:4]
    p = shop.product(title=f"{word} Lamp", seller=shop.seller, publish=False)
    assert server.post(f"/v1/products/{p['id']}/submit", token=shop.seller)["status"] == "pending_review"
    assert found(server, word, p["id"]) is None, "pending review is not listed"
    assert server.post(f"/v1/admin/products/{p['id']}/approve", token=shop.admin).status == 200
    hit, dt = until(lambda: found(server, word, p["id"]))
    assert hit and dt < 1.0


def test_result_cache_hits_and_is_invalidated(server, shop):
    word = "Cachet" + uid()[:4]
    p = shop.product(title=f"{word} Mug", price=999)
    path = q("/v1/search", q=word)
    first = server.get(path)
    assert first.headers.get("x-cache") == "miss"
    again = server.get(path)
    assert again.headers.get("x-cache") == "hit" and again.body == first.body
    same = server.get(q("/v1/search", q="  " + word.upper()))
    assert same.headers.get("x-cache") == "hit", "keys are normalised"
    vid = p["variants"][0]["id"]
    assert server.patch(f"/v1/variants/{vid}", {"price_cents": 888}, token=shop.trusted).status == 200
    after = server.get(path)
    assert after.headers.get("x-cache") == "miss" and after["data"][0]["price_cents"] == 888
    browse = q("/v1/products", category=shop.leaf, sort="price_asc")
    assert server.get(browse).headers.get("x-cache") == "miss"
    assert server.get(browse).headers.get("x-cache") == "hit"


def test_popular_queries_are_suggested(server, shop):
    word = "Wombat" + uid()[:4].replace("0", "x")
    shop.product(title=f"{word} Pillow")
    query = f"{word.lower()} pillow"
    for _ in range(3):
        assert server.get(q("/v1/search", q=query))["total"] == 1
    server.get(q("/v1/search", q=f"{word} nothingmatcheshere"))  # found nothing: not counted

    def suggested():
        r = server.get(q("/v1/search/suggest", q=word[:5]))
        return [s for s in r["suggestions"] if "product_id" not in s]
    got, _ = until(suggested, timeout=4.0)
    assert got and got[0]["text"] == query

    # A query with a typo counts as the query that was run instead, from the
    # cache too: the typo is never suggested.
    typo = f"{word.lower()} pilow"
    for _ in range(4):
        r = server.get(q("/v1/search", q=typo))
        assert r["corrected_query"] == query and r["total"] == 1
    time.sleep(0.4)  # past the popular-query snapshot's refresh period
    r = server.get(q("/v1/search/suggest", q=f"{word.lower()} p"))  # a prefix not asked before
    texts = [s["text"] for s in r["suggestions"] if "product_id" not in s]
    assert texts == [query], texts


def test_bad_input_is_a_problem_naming_the_field(server, shop):
    cases = [
        ("/v1/search", {}, "q"),
        ("/v1/search", {"q": ""}, "q"),
        ("/v1/search", {"q": "   "}, "q"),
        ("/v1/search", {"q": "x" * 10240}, "q"),
        ("/v1/search", {"q": "x" * 201}, "q"),
        ("/v1/search", {"q": "kettle", "limit": "0"}, "limit"),
        ("/v1/search", {"q": "kettle", "limit": "101"}, "limit"),
        ("/v1/search", {"q": "kettle", "limit": "100000000000000000000"}, "limit"),
        ("/v1/search", {"q": "kettle", "limit": "ten"}, "limit"),
        ("/v1/search", {"q": "kettle", "sort": "cheapest"}, "sort"),
        ("/v1/search", {"q": "kettle", "cursor": "not-a-cursor"}, "cursor"),
        ("/v1/search", {"q": "kettle", "cursor": "x" * 600}, "cursor"),
        ("/v1/search", {"q": "kettle", "min_price": "500", "max_price": "100"}, "min_price"),
        ("/v1/search", {"q": "kettle", "min_price": "-1"}, "min_price"),
        ("/v1/search", {"q": "kettle", "max_price": "1.5"}, "max_price"),
        ("/v1/search", {"q": "kettle", "min_rating": "6"}, "min_rating"),
        ("/v1/search", {"q": "kettle", "min_rating": "four"}, "min_rating"),
        ("/v1/search", {"q": "kettle", "in_stock": "yes"}, "in_stock"),
        ("/v1/search", {"q": "kettle", "category": "abc"}, "category"),
        ("/v1/search", {"q": "kettle", "category": "999999"}, "category"),
        ("/v1/search", {"q": "kettle", "brand": ""}, "brand"),
        ("/v1/search", {"q": "kettle", "brand": "b" * 101}, "brand"),
        ("/v1/products", {"sort": "relevance"}, "sort"),
        ("/v1/products", {"sort": "nope"}, "sort"),
        ("/v1/products", {"limit": "1000"}, "limit"),
        ("/v1/products", {"cursor": "%%%"}, "cursor"),
        ("/v1/products", {"min_price": "10", "max_price": "9"}, "min_price"),
        ("/v1/products", {"category": "0"}, "category"),
        ("/v1/search/suggest", {}, "q"),
        ("/v1/search/suggest", {"q": ""}, "q"),
        ("/v1/search/suggest", {"q": "y" * 101}, "q"),
        ("/v1/search/suggest", {"q": "ab", "limit": "11"}, "limit"),
    ]
    for path, params, field in cases:
        assert_problem(server.get(q(path, **params)), 422, field)
    # not UTF-8
    assert_problem(server.get("/v1/search?q=%FF%FE"), 422, "q")
    # a cursor of another sort
    shop.product(title="Cursor Thing " + uid())
    shop.product(title="Cursor Thing " + uid())
    r = server.get(q("/v1/products", limit=1, sort="price_asc"))
    assert r["next_cursor"]
    assert_problem(server.get(q("/v1/products", limit=1, sort="newest", cursor=r["next_cursor"])),
                   422, "cursor")
    # every problem at once
    r = server.get(q("/v1/search", q="", limit="0", sort="x"))
    assert_problem(r, 422)
    assert {e["field"] for e in r["errors"]} >= {"q", "limit", "sort"}


def test_cache_off_gives_the_same_answers(make_server):
    s = make_server(env={"SHOPD_SEARCH_CACHE": "0"})
    shop = Shop(s)
    p = shop.product(title="Uncached Teapot", price=1500)
    for _ in range(2):
        r = s.get(q("/v1/search", q="teapot"))
        assert r.status == 200 and "x-cache" not in r.headers
        assert [x["id"] for x in r["data"]] == [p["id"]]
    assert s.patch(f"/v1/variants/{p['variants'][0]['id']}", {"price_cents": 1400},
                   token=shop.trusted).status == 200
    assert s.get(q("/v1/search", q="teapot"))["data"][0]["price_cents"] == 1400


def changefeed_lag(server):
    body = server.get("/metrics").body
    line = next(x for x in body.splitlines() if x.startswith("shopd_changefeed_lag "))
    return int(line.split()[1])


def test_the_change_feed_moves_past_this_processs_own_events(make_server):
    """It skips its own events, but must not look at them again on every
    poll: alone on a database it would rescan everything it ever wrote."""
    s = make_server()
    shop = Shop(s)
    for i in range(5):
        shop.product(title=f"Feed {uid()[:6]} Lamp {i}")
    lag, _ = until(lambda: changefeed_lag(s) == 0, timeout=1.0)
    assert lag, changefeed_lag(s)


def test_another_process_sees_changes_within_a_second(make_server):
    a = make_server()
    shop = Shop(a)
    b = Server(db=a.db).start()
    try:
        word = "Xylo" + uid()[:5].replace("0", "y")
        p = shop.product(title=f"{word} Speaker")
        hit, dt = until(lambda: found(b, word, p["id"]), timeout=1.5)
        assert hit and dt < 1.0, dt
        assert a.post(f"/v1/products/{p['id']}/unpublish", token=shop.trusted).status == 200
        gone, dt = until(lambda: found(b, word, p["id"]) is None, timeout=1.5)
        assert gone and dt < 1.0, dt
        # Each feed has looked at every event: the other's and its own.
        assert until(lambda: changefeed_lag(a) == 0 and changefeed_lag(b) == 0)[0]
    finally:
        b.cleanup()
