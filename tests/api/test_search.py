"""Search and browse over a fixed catalog made through the catalog API:
labelled relevance queries, filters and facets against brute force, sorts
and cursor paging (SRC-1…5, CAT-3)."""
import random
import urllib.parse

import pytest

from search_catalog import QUERIES, Catalog


@pytest.fixture(scope="module")
def cat(server):
    return Catalog(server)


def get(server, path, **params):
    params = {k: v for k, v in params.items() if v is not None}
    r = server.get(path + ("?" + urllib.parse.urlencode(params) if params else ""))
    assert r.status == 200, r
    return r


def ids(r):
    return [p["id"] for p in r["data"]]


def test_labelled_queries_find_the_expected_product(server, cat):
    assert len(QUERIES) >= 40
    misses = []
    for q, key, k in QUERIES:
        r = get(server, "/v1/search", q=q, limit=k)
        if cat.by_key[key]["id"] not in ids(r):
            misses.append((q, key, [p["title"] for p in r["data"]], r["corrected_query"]))
    assert not misses, "\n".join(map(str, misses))


def test_typos_say_what_was_searched(server, cat):
    r = get(server, "/v1/search", q="expresso machine")
    assert r["corrected_query"] == "espresso machine"
    r = get(server, "/v1/search", q="Lenvo  laptop")
    assert r["corrected_query"] == "lenovo laptop"
    r = get(server, "/v1/search", q="lenovo laptop")
    assert r["corrected_query"] is None
    r = get(server, "/v1/search", q="headph")
    assert r["corrected_query"] is None and r["total"] >= 3, "a completion is not a correction"
    r = get(server, "/v1/search", q="qqqqqqqq")
    assert r["total"] == 0 and r["data"] == [] and r["next_cursor"] is None


def test_items_carry_the_listing_fields(server, cat):
    p = cat.by_key["sony_xm5"]
    r = get(server, "/v1/search", q="WH-1000XM5")
    item = r["data"][0]
    assert item["id"] == p["id"] and item["title"] == p["title"] and item["brand"] == "Sony"
    assert item["category"] == {"id": cat.cats["headphones"]["id"], "name": "Headphones"}
    assert item["price_cents"] == p["price"] and item["max_price_cents"] == p["max_price"]
    assert item["currency"] == "USD" and item["in_stock"] is True
    assert item["rating"] == {"average": 0, "count": 0}
    two = next(x for x in cat.products if x["max_price"] > x["price"])
    r = get(server, "/v1/search", q=two["title"], limit=1)
    assert r["data"][0]["price_cents"] == two["price"] and r["data"][0]["max_price_cents"] == two["max_price"]


def random_filters(cat, rnd, text):
    f = {}
    if text:
        f["q"] = rnd.choice(["sturdy", "elegant", "nimble"])
    if rnd.random() < 0.6:
        f["category"] = cat.cats[rnd.choice(list(cat.cats))]["id"]
    if rnd.random() < 0.3:
        f["brand"] = rnd.choice(["sony", "ACME", "Zenith", "crème co", "CREME CO", "Nobody"])
    if rnd.random() < 0.5:
        f["min_price"] = rnd.choice([0, 999, 1999, 5000, rnd.randint(0, 150000)])
    if rnd.random() < 0.5:
        f["max_price"] = rnd.choice([1999, 25000, rnd.randint(150000, 300000)])
        if f.get("min_price", 0) > f["max_price"]:
            del f["max_price"]
    if rnd.random() < 0.15:
        f["min_rating"] = rnd.choice(["0", "3.5"])
    if rnd.random() < 0.5:
        f["in_stock"] = rnd.choice(["true", "false"])
    return f


def check_facets(got, want):
    brand = sorted((b["value"].lower().replace("è", "e"), b["count"]) for b in got["brand"])
    assert brand == sorted((b["value"].lower().replace("è", "e"), b["count"]) for b in want["brand"])
    assert [(c["value"], c["count"]) for c in got["category"]] == \
        [(c["value"], c["count"]) for c in want["category"]]
    assert got["price"] == want["price"]
    assert got["rating"] == want["rating"]


@pytest.mark.parametrize("path", ["/v1/products", "/v1/search"])
def test_filters_and_facets_match_brute_force(server, cat, path):
    rnd = random.Random(11 if path == "/v1/search" else 12)
    sorts = ["popularity", "price_asc", "price_desc", "rating", "newest"]
    for _ in range(25):
        f = random_filters(cat, rnd, path == "/v1/search")
        sort = rnd.choice(sorts)
        r = get(server, path, sort=sort, limit=50, **f)
        match, facets = cat.expected(f)
        assert r["total"] == len(match), (f, r["total"], len(match))
        check_facets(r["facets"], facets)
        want = [p["id"] for p in Catalog.order(match, sort)][:50]
        assert ids(r) == want, (f, sort)
        assert (r["next_cursor"] is not None) == (len(match) > 50)


@pytest.mark.parametrize("sort", ["popularity", "price_asc", "price_desc", "rating", "newest", "relevance"])
def test_paging_returns_every_product_once_in_order(server, cat, sort):
    path = "/v1/search" if sort == "relevance" else "/v1/products"
    params = {"q": "sturdy"} if sort == "relevance" else {}
    seen, cursor, pages = [], None, 0
    while True:
        r = get(server, path, sort=sort, limit=7, cursor=cursor, **params)
        seen += ids(r)
        pages += 1
        cursor = r["next_cursor"]
        if cursor is None:
            break
        assert len(r["data"]) == 7
    assert len(seen) == len(set(seen)), "no product twice"
    match, _ = cat.expected(params)
    assert sorted(seen) == sorted(p["id"] for p in match), "every product once"
    assert r["total"] == len(match) and pages == -(-len(match) // 7)
    if sort != "relevance":
        assert seen == [p["id"] for p in Catalog.order(match, sort)]


def test_a_cursor_of_another_listing_is_refused(server, cat):
    """A next_cursor is a position in its own listing: given with other
    filters or another query it would skip or repeat products, so it is
    refused like a malformed one (a different limit is the same listing)."""
    def cursor(path, **params):
        c = get(server, path, limit=3, **params)["next_cursor"]
        assert c, params
        return c
    brand = cat.products[0]["brand"]
    c = cursor("/v1/products", sort="price_asc")
    for other in ({"brand": brand}, {"min_price": 1}, {"in_stock": "true"}, {"sort": "newest"}):
        q = urllib.parse.urlencode(dict({"sort": "price_asc"}, **other, cursor=c))
        r = server.get(f"/v1/products?{q}")
        assert r.status == 422 and r["errors"][0]["field"] == "cursor", (other, r)
    assert server.get(f"/v1/search?q=sturdy&sort=price_asc&cursor={c}").status == 422
    assert get(server, "/v1/products", sort="price_asc", limit=5, cursor=c)["data"]
    s = cursor("/v1/search", q="sturdy")
    r = server.get(f"/v1/search?q=lamp&cursor={s}")
    assert r.status == 422 and r["errors"][0]["field"] == "cursor", r
    assert get(server, "/v1/search", q="sturdy", cursor=s)["data"]


def test_category_browse_includes_descendants(server, cat):
    r = get(server, "/v1/products", category=cat.cats["electronics"]["id"], limit=100)
    want = {p["id"] for p in cat.products if "electronics" in cat.ancestors(p["cat"])}
    assert set(ids(r)) == want and r["total"] == len(want)
    facet = {c["value"]: c["count"] for c in r["facets"]["category"]}
    assert set(facet) == {cat.cats["audio"]["id"], cat.cats["computers"]["id"]}
    r = get(server, "/v1/products", category=cat.cats["kettles"]["id"], sort="price_asc", limit=100)
    assert [p["category"]["id"] for p in r["data"]] == [cat.cats["kettles"]["id"]] * r["total"]


def test_suggest_completes_titles(server, cat):
    r = get(server, "/v1/search/suggest", q="thinkp")
    assert r["suggestions"][:2] == [{"text": "thinkpad"},
                                    {"text": cat.by_key["thinkpad"]["title"],
                                     "product_id": cat.by_key["thinkpad"]["id"]}]
    r = get(server, "/v1/search/suggest", q="nike run")
    got = {s.get("product_id") for s in r["suggestions"]}
    assert {cat.by_key["pegasus"]["id"], cat.by_key["shorts"]["id"]} <= got
    assert len(get(server, "/v1/search/suggest", q="s", limit=3)["suggestions"]) <= 3
    assert get(server, "/v1/search/suggest", q="zzzzzz")["suggestions"] == []
