"""Warehouses and stock levels with their audit trail."""
import json

import pytest

from conftest import PG_BASE, assert_problem, uid
from shop_fixtures import Shop


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


WH = {"name": "Depot", "country": "US", "postal_code": "10001", "lat": 40.7, "lon": -74.0}


def test_warehouses(server, shop):
    code = "NY" + uid()[:4]
    r = server.post("/v1/warehouses", dict(WH, code=code), token=shop.admin)
    assert r.status == 201 and r["code"] == code
    assert_problem(server.post("/v1/warehouses", dict(WH, code=code), token=shop.admin), 409, "code")
    for bad, field in [({"lat": 91}, "lat"), ({"lon": "x"}, "lon"), ({"country": "ZZ"}, "country"),
                       ({"postal_code": "ABCDE"}, "postal_code"), ({"code": "has space"}, "code"),
                       ({"name": ""}, "name")]:
        body = dict(WH, code="C" + uid()[:5])
        body.update(bad)
        assert_problem(server.post("/v1/warehouses", body, token=shop.admin), 422, field)
    assert_problem(server.post("/v1/warehouses", dict(WH, code="S" + uid()[:5]), token=shop.seller), 403)
    codes = [w["code"] for w in server.get("/v1/warehouses", token=shop.seller)["data"]]
    assert code in codes


def test_warehouses_page(server, shop):
    for _ in range(3):
        assert server.post("/v1/warehouses", dict(WH, code="P" + uid()[:5]),
                           token=shop.admin).status == 201
    whole = server.get("/v1/warehouses", token=shop.admin)
    assert whole["next_cursor"] is None and len(whole["data"]) >= 4
    seen, cursor = [], None
    while True:
        r = server.get("/v1/warehouses?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                       token=shop.seller)
        assert r.status == 200 and len(r["data"]) <= 2, r
        seen += [w["id"] for w in r["data"]]
        cursor = r["next_cursor"]
        if cursor is None:
            break
        assert len(r["data"]) == 2
    assert seen == [w["id"] for w in whole["data"]] == sorted(set(seen)), "every one once, in order"
    for bad in ("limit=0", "limit=501", "limit=x", "cursor=abc", "cursor=-1", "cursor=1.5"):
        assert_problem(server.get(f"/v1/warehouses?{bad}", token=shop.admin), 422,
                       bad.split("=")[0])


def test_stock_levels_and_audit(server, shop):
    p = shop.product(stock=None, seller=shop.seller, publish=False)
    vid = p["variants"][0]["id"]
    wh2 = server.post("/v1/warehouses", dict(WH, code="B" + uid()[:5]), token=shop.admin)["id"]
    r = server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 12}, token=shop.seller)
    assert r.body == {"variant_id": vid, "warehouse_id": shop.warehouse, "on_hand": 12,
                      "reserved": 0, "available": 12}
    server.put(f"/v1/inventory/{vid}/{wh2}", {"on_hand": 5}, token=shop.admin)
    server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 8}, token=shop.seller)
    inv = server.get(f"/v1/inventory/{vid}", token=shop.seller)
    assert inv["total"] == {"on_hand": 13, "reserved": 0, "available": 13}
    assert [(m["kind"], m["on_hand_before"], m["on_hand_after"]) for m in inv["movements"]] == [
        ("adjust", 12, 8), ("adjust", 0, 5), ("adjust", 0, 12)]
    assert inv["movements"][1]["actor_user_id"] != inv["movements"][0]["actor_user_id"]
    page = server.get(f"/v1/inventory/{vid}?limit=2", token=shop.seller)
    rest = server.get(f"/v1/inventory/{vid}?limit=2&cursor={page['movements_next_cursor']}",
                      token=shop.seller)
    assert len(page["movements"]) == 2 and len(rest["movements"]) == 1
    assert server.get(f"/v1/products/{p['id']}", token=shop.seller)["variants"][0]["available"] == 13


def test_movements_page_through_every_warehouse_newest_first(server, shop):
    """A variant's movements are chained per stock row (shop/inventory.h) and
    a page merges the chains: pages of any size give every movement once,
    newest first, across warehouses changed in turn."""
    p = shop.product(stock=None, seller=shop.seller, publish=False)
    vid = p["variants"][0]["id"]
    whs = [shop.warehouse] + [
        server.post("/v1/warehouses", dict(WH, code="M" + uid()[:5]), token=shop.admin)["id"]
        for _ in range(2)]
    for i, wh in enumerate([whs[0], whs[1], whs[1], whs[2], whs[0], whs[2], whs[1], whs[0]]):
        assert server.put(f"/v1/inventory/{vid}/{wh}", {"on_hand": 10 + i},
                          token=shop.admin).status == 200
    whole = server.get(f"/v1/inventory/{vid}?limit=500", token=shop.admin)
    ids = [m["id"] for m in whole["movements"]]
    assert len(ids) == 8 and ids == sorted(ids, reverse=True), ids
    assert [m["on_hand_after"] for m in whole["movements"]] == list(range(17, 9, -1))
    assert whole["movements_next_cursor"] is None
    for size in (1, 2, 3, 7, 8):
        seen, cursor = [], None
        while True:
            page = server.get(f"/v1/inventory/{vid}?limit={size}"
                              + (f"&cursor={cursor}" if cursor else ""), token=shop.admin)
            assert page.status == 200 and len(page["movements"]) <= size, page
            seen += [m["id"] for m in page["movements"]]
            cursor = page["movements_next_cursor"]
            if cursor is None:
                break
        assert seen == ids, (size, seen)
    other = shop.product(stock=3, seller=shop.seller, publish=False)["variants"][0]["id"]
    foreign = server.get(f"/v1/inventory/{other}", token=shop.admin)["movements"][0]["id"]
    mid = server.get(f"/v1/inventory/{vid}?limit=3", token=shop.admin)["movements_next_cursor"]
    for bad in ("abc", "1", f"{whs[0]}:", f"{whs[0]}:0", f"{whs[0]}:-4", f"{whs[0]}:{ids[0]}x",
                f"999999:{ids[0]}", f"{whs[0]}:{ids[0]},{whs[0]}:{ids[1]}",
                f"{whs[0]}:{foreign}", f"{whs[1]}:{ids[0]}", mid + ",", "x" * 8193):
        assert_problem(server.get(f"/v1/inventory/{vid}?cursor={bad}", token=shop.admin), 422,
                       "cursor")


def test_movements_recorded_before_the_chains_list_the_same_after_migrating(make_server):
    """Migration 0033 links the movements a shop already has into chains
    (prev_id, last_movement_id) and drops the index it replaces. A database
    put back as it was before it lists the same movements once migrated."""
    s = make_server()
    shop = Shop(s)
    vid = shop.product(stock=None, seller=shop.seller, publish=False)["variants"][0]["id"]
    wh2 = s.post("/v1/warehouses", dict(WH, code="U" + uid()[:5]), token=shop.admin)["id"]
    for i, wh in enumerate([shop.warehouse, wh2, shop.warehouse, wh2, wh2]):
        assert s.put(f"/v1/inventory/{vid}/{wh}", {"on_hand": 3 + i}, token=shop.admin).status == 200
    before = s.get(f"/v1/inventory/{vid}", token=shop.admin)["movements"]
    assert len(before) == 5
    s.stop()
    db = s.database()
    db.execute("DROP TRIGGER stock_movements_head" + (" ON stock_movements" if PG_BASE else ""))
    db.execute("ALTER TABLE stock_movements DROP COLUMN prev_id")
    db.execute("ALTER TABLE stock DROP COLUMN last_movement_id")
    db.execute("CREATE INDEX stock_movements_variant ON stock_movements (variant_id, id)")
    db.execute("DELETE FROM schema_migrations WHERE version = 33")
    r = s.cli("migrate")
    assert "(1 migration applied)" in r.stdout, r.stdout + r.stderr
    s.start()
    assert s.get(f"/v1/inventory/{vid}", token=shop.admin)["movements"] == before
    page = s.get(f"/v1/inventory/{vid}?limit=2", token=shop.admin)
    rest = s.get(f"/v1/inventory/{vid}?cursor={page['movements_next_cursor']}", token=shop.admin)
    assert page["movements"] + rest["movements"] == before


def test_stock_bad_input_changes_nothing(server, shop):
    p = shop.product(stock=4, seller=shop.seller, publish=False)
    vid = p["variants"][0]["id"]
    for body, field in [({"on_hand": -1}, "on_hand"), ({"on_hand": 10**13}, "on_hand"),
                        ({"on_hand": "5"}, "on_hand"), ({}, "on_hand"), ({"on_hand": 2.5}, "on_hand")]:
        assert_problem(server.put(f"/v1/inventory/{vid}/{shop.warehouse}", body, token=shop.seller),
                       422, field)
    assert_problem(server.put(f"/v1/inventory/{vid}/999999", {"on_hand": 1}, token=shop.seller), 404)
    assert_problem(server.put(f"/v1/inventory/999999/{shop.warehouse}", {"on_hand": 1},
                              token=shop.seller), 404)
    assert_problem(server.put(f"/v1/inventory/{vid}/{shop.warehouse}", raw=b"{", token=shop.seller,
                              headers={"Content-Type": "application/json"}), 400)
    inv = server.get(f"/v1/inventory/{vid}", token=shop.seller)
    assert inv["total"]["on_hand"] == 4 and len(inv["movements"]) == 1


def test_back_in_stock_and_low_stock_events(server, shop):
    """INV-5: availability rising from zero and falling to the low-stock line
    each write their event, in the same transaction as the movement."""
    p = shop.product(stock=0, seller=shop.seller, publish=False)
    vid = p["variants"][0]["id"]

    def events(topic):
        return [json.loads(r[0]) for r in server.database().query(
            "SELECT payload FROM outbox WHERE topic = ? AND aggregate_id = ? ORDER BY id",
            (topic, p["id"]))]

    server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 20}, token=shop.seller)
    assert [e["available"] for e in events("stock.back_in_stock")] == [20]
    server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 12}, token=shop.seller)
    assert events("stock.low") == []
    server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 4}, token=shop.seller)
    low = events("stock.low")
    assert len(low) == 1 and low[0]["available"] == 4 and low[0]["threshold"] == 5
    server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 3}, token=shop.seller)
    assert len(events("stock.low")) == 1, "only when crossing the line"
    assert [e["available"] for e in events("stock.changed")] == [0, 20, 12, 4, 3]
