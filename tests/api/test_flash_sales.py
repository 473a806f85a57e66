"""Flash sales: units set aside, the FIFO waiting room, purchase tokens,
exactly-N selling under concurrency, and the end of a sale."""
import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Server, assert_problem, uid
from shop_fixtures import Buyer, Shop, stock_of

ENV = {"SHOPD_FLASH_TICK_MS": "20", "SHOPD_HOUSEKEEPING_MS": "100"}


def iso(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture(scope="module")
def srv(request):
    s = Server(ENV, prism=True).start()
    request.addfinalizer(s.cleanup)
    return s


@pytest.fixture(scope="module")
def shop(srv):
    return Shop(srv)


def make_sale(srv, shop, units=10, stock=50, price=999, start=0, length=3600, **kw):
    p = shop.product(price=5000, stock=stock)
    body = {"variant_id": p["variants"][0]["id"], "quantity": units, "price_cents": price,
            "starts_at": iso(start), "ends_at": iso(start + length), "per_customer_limit": 1,
            "admit_per_second": 1000}
    body.update(kw)
    r = srv.post("/v1/admin/flash-sales", body, token=shop.admin)
    assert r.status == 201, r
    return r.body, p


def wait_for(fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    return fn()


def admitted(srv, buyer, sale_id):
    return wait_for(lambda: (lambda e: e if e.get("token") else None)(
        srv.get(f"/v1/flash-sales/{sale_id}/queue/me", token=buyer.token).body))


def purchase(srv, buyer, sale_id, token, key=None, **extra):
    body = {"token": token, "shipping_address_id": buyer.address, "payment_method_id": buyer.card}
    body.update(extra)
    return srv.post(f"/v1/flash-sales/{sale_id}/purchase", body, token=buyer.token,
                    headers={"Idempotency-Key": key or "fs-" + uid()})


def test_create_sets_units_aside(srv, shop):
    sale, p = make_sale(srv, shop, units=10, stock=50)
    assert sale["status"] in ("scheduled", "live") and sale["remaining"] == 10
    vid = p["variants"][0]["id"]
    assert stock_of(srv, shop, vid) == {"on_hand": 50, "reserved": 10, "available": 40}
    assert srv.get(f"/v1/products/{p['id']}")["variants"][0]["available"] == 40
    assert wait_for(lambda: srv.get(f"/v1/flash-sales/{sale['id']}")["status"] == "live")


def test_create_bad_input(srv, shop):
    p = shop.product(stock=5)
    vid = p["variants"][0]["id"]
    good = {"variant_id": vid, "quantity": 2, "price_cents": 100, "starts_at": iso(0),
            "ends_at": iso(60)}
    for patch, field in [({"quantity": 0}, "quantity"), ({"price_cents": 0}, "price_cents"),
                         ({"starts_at": "tomorrow"}, "starts_at"), ({"ends_at": iso(-10)}, "ends_at"),
                         ({"variant_id": 999999}, "variant_id"), ({"per_customer_limit": 0},
                                                                  "per_customer_limit"),
                         ({"admit_per_second": 0}, "admit_per_second")]:
        assert_problem(srv.post("/v1/admin/flash-sales", dict(good, **patch), token=shop.admin), 422,
                       field)
    r = srv.post("/v1/admin/flash-sales", dict(good, quantity=6), token=shop.admin)
    assert_problem(r, 409, "quantity")
    assert r["available"] == 5
    assert_problem(srv.post("/v1/admin/flash-sales", good, token=shop.seller), 403)
    assert stock_of(srv, shop, vid)["reserved"] == 0, "nothing was set aside"
    assert_problem(srv.get("/v1/flash-sales/999999"), 404)


def test_fifo_positions_and_admission_order(srv, shop):
    sale, _ = make_sale(srv, shop, units=30, admit_per_second=10, start=2)
    buyers = [Buyer(srv) for _ in range(12)]
    for i, b in enumerate(buyers):
        r = srv.post(f"/v1/flash-sales/{sale['id']}/queue", token=b.token)
        assert r.status == 201 and r["position"] == i + 1 and r["status"] == "waiting"
        assert "token" not in r.body
    again = srv.post(f"/v1/flash-sales/{sale['id']}/queue", token=buyers[3].token)
    assert again.status == 200 and again["position"] == 4, "joining twice keeps the place"
    me = srv.get(f"/v1/flash-sales/{sale['id']}/queue/me", token=buyers[5].token)
    assert me["ahead"] == 5
    entries = [admitted(srv, b, sale["id"]) for b in buyers]
    assert all(e and e["status"] == "admitted" and e["held"] == 1 for e in entries)
    db = srv.database()
    order = [r[0] for r in db.query("SELECT position FROM flash_sale_queue WHERE sale_id = ?"
                                    " ORDER BY admitted_at, position", (sale["id"],))]
    times = [r[0] for r in db.query("SELECT admitted_at FROM flash_sale_queue WHERE sale_id = ?"
                                    " ORDER BY position", (sale["id"],))]
    assert order == list(range(1, 13)), "admitted in join order"
    assert times == sorted(times)
    assert times[-1] - times[0] >= 700, "10 per second: 12 admissions take over a second"
    assert srv.get(f"/v1/flash-sales/{sale['id']}")["held"] == 12


def test_purchase_tokens(srv, shop):
    sale, p = make_sale(srv, shop, units=5, price=1234)
    sid = sale["id"]
    b, other = Buyer(srv), Buyer(srv)
    assert_problem(purchase(srv, b, sid, "x" * 43), 403), "not in the room"
    for x in (b, other):
        srv.post(f"/v1/flash-sales/{sid}/queue", token=x.token)
    tok = admitted(srv, b, sid)["token"]
    other_tok = admitted(srv, other, sid)["token"]
    assert tok != other_tok
    assert_problem(purchase(srv, b, sid, None), 403)
    assert_problem(purchase(srv, b, sid, tok[:-2] + "AA"), 403)
    assert_problem(purchase(srv, b, sid, other_tok), 403), "another customer's token"
    assert_problem(purchase(srv, b, sid, tok, quantity=2), 422, "quantity")
    assert_problem(srv.post(f"/v1/flash-sales/{sid}/purchase", {"token": tok}, token=b.token), 400)
    r = purchase(srv, b, sid, tok)
    assert r.status == 201 and r["status"] == "paid"
    assert r["lines"][0]["unit_price_cents"] == 1234 and r["lines"][0]["quantity"] == 1
    assert_problem(purchase(srv, b, sid, tok), 403), "one purchase per customer"
    s = srv.get(f"/v1/flash-sales/{sid}").body
    assert (s["sold"], s["held"], s["remaining"]) == (1, 1, 3)
    assert stock_of(srv, shop, p["variants"][0]["id"]) == {"on_hand": 49, "reserved": 4,
                                                           "available": 45}


def test_per_customer_limit_counts_units_not_purchases(srv, shop):
    """per_customer_limit 3: one unit, then two more with the same token;
    a fourth is refused, and a refused purchase changes nothing."""
    sale, _ = make_sale(srv, shop, units=10, per_customer_limit=3)
    sid = sale["id"]
    b = Buyer(srv)
    srv.post(f"/v1/flash-sales/{sid}/queue", token=b.token)
    tok = admitted(srv, b, sid)["token"]
    assert purchase(srv, b, sid, tok).status == 201
    e = srv.get(f"/v1/flash-sales/{sid}/queue/me", token=b.token).body
    assert (e["status"], e.get("token")) == ("purchased", tok), "the token still buys two"
    before = srv.get(f"/v1/flash-sales/{sid}").body
    assert_problem(purchase(srv, b, sid, tok, quantity=3), 422, "quantity")
    assert srv.get(f"/v1/flash-sales/{sid}").body == before
    r = purchase(srv, b, sid, tok, quantity=2)
    assert r.status == 201, r
    assert r["lines"][0]["quantity"] == 2
    assert_problem(purchase(srv, b, sid, tok), 403), "three units bought: the limit"
    s = srv.get(f"/v1/flash-sales/{sid}").body
    assert (s["sold"], s["in_flight"]) == (3, 0)
    e = srv.get(f"/v1/flash-sales/{sid}/queue/me", token=b.token).body
    assert e["status"] == "purchased" and "token" not in e, e


def test_declined_payment_returns_the_unit_and_keeps_the_token(srv, shop):
    sale, _ = make_sale(srv, shop, units=1)
    sid = sale["id"]
    b = Buyer(srv, "declined")
    srv.post(f"/v1/flash-sales/{sid}/queue", token=b.token)
    tok = admitted(srv, b, sid)["token"]
    assert_problem(purchase(srv, b, sid, tok), 402)
    s = srv.get(f"/v1/flash-sales/{sid}").body
    assert (s["sold"], s["in_flight"], s["remaining"]) == (0, 0, 1)
    b.card = b.add_card("visa")
    r = purchase(srv, b, sid, tok)
    assert r.status == 201
    s = srv.get(f"/v1/flash-sales/{sid}").body
    assert (s["sold"], s["remaining"], s["status"]) == (1, 0, "sold_out")
    # joining a sold-out sale: a stock conflict, said in `code`
    late = srv.post(f"/v1/flash-sales/{sid}/queue", token=Buyer(srv).token)
    assert_problem(late, 409)
    assert late["code"] == "sold_out", late


def test_expired_token_returns_its_unit(make_server):
    s = make_server(dict(ENV, SHOPD_FLASH_TOKEN_TTL="1"))
    shop = Shop(s)
    sale, _ = make_sale(s, shop, units=1)
    sid = sale["id"]
    first, second = Buyer(s), Buyer(s)
    s.post(f"/v1/flash-sales/{sid}/queue", token=first.token)
    s.post(f"/v1/flash-sales/{sid}/queue", token=second.token)
    tok = admitted(s, first, sid)["token"]
    e2 = admitted(s, second, sid)
    assert e2["held"] == 0, "the only unit is held by the first in line"
    # Held is not sold: the answer says the unit may come back.
    r = purchase(s, second, sid, e2["token"])
    assert_problem(r, 409)
    assert (r["held"], r["remaining"]) == (1, 0) and "for now" in r["detail"], r
    time.sleep(1.2)
    assert_problem(purchase(s, first, sid, tok), 403)
    assert wait_for(lambda: s.get(f"/v1/flash-sales/{sid}")["remaining"] == 1), \
        "the expired token's unit is back"
    r = purchase(s, second, sid, e2["token"])
    assert r.status in (201, 403)  # its own token may have expired too; the unit was there
    if r.status == 403:
        assert s.get(f"/v1/flash-sales/{sid}")["remaining"] == 1


def test_a_customer_whose_token_expired_joins_again_at_the_back(make_server):
    s = make_server(dict(ENV, SHOPD_FLASH_TOKEN_TTL="2"))
    shop = Shop(s)
    sale, _ = make_sale(s, shop, units=3)
    sid = sale["id"]
    late, other = Buyer(s), Buyer(s)
    assert s.post(f"/v1/flash-sales/{sid}/queue", token=late.token)["position"] == 1
    old = admitted(s, late, sid)["token"]
    time.sleep(2.1)  # the token's life
    assert s.post(f"/v1/flash-sales/{sid}/queue", token=other.token)["position"] == 2
    # Expired, the sale still live with units left: a new place at the back.
    # (The entry shows "expired" as soon as the token lapses; until the
    # scheduler's next tick has given its units back, joining answers it.)
    # Polled gently: the room's requests are rate-limited per account.
    for _ in range(50):
        r = s.post(f"/v1/flash-sales/{sid}/queue", token=late.token)
        if r.status != 200 or r["status"] != "expired":
            break
        time.sleep(0.1)
    assert r.status == 201 and r["position"] == 3 and r["status"] in ("waiting", "admitted"), r
    again = s.post(f"/v1/flash-sales/{sid}/queue", token=late.token)
    assert again.status == 200 and again["position"] == 3, "joining twice keeps the new place"
    e = admitted(s, late, sid)
    assert e["token"] != old
    assert_problem(purchase(s, late, sid, old), 403)
    assert purchase(s, late, sid, e["token"]).status == 201
    # Bought up to the limit (1): joining again changes nothing, buying is refused.
    r = s.post(f"/v1/flash-sales/{sid}/queue", token=late.token)
    assert r.status == 200 and r["status"] == "purchased" and r["position"] == 3, r
    assert_problem(purchase(s, late, sid, e["token"]), 403)
    db = s.database()
    assert db.query("SELECT count(*) FROM flash_sale_queue WHERE sale_id = ?", (sid,))[0][0] == 2
    assert db.query("SELECT queue_length FROM flash_sales WHERE id = ?", (sid,))[0][0] == 3


def test_exactly_n_with_2000_token_holders(make_server):
    s = make_server(dict(ENV, SHOPD_FLASH_TOKEN_TTL="600"))
    shop = Shop(s)
    sale, p = make_sale(s, shop, units=100, stock=500, admit_per_second=100000)
    sid = sale["id"]
    with ThreadPoolExecutor(32) as ex:
        buyers = list(ex.map(lambda _: Buyer(s), range(2000)))
        list(ex.map(lambda b: s.post(f"/v1/flash-sales/{sid}/queue", token=b.token), buyers))
        tokens = list(ex.map(lambda b: admitted(s, b, sid)["token"], buyers))
    start = threading.Barrier(64)

    def go(i):
        try:
            start.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        return purchase(s, buyers[i], sid, tokens[i]).status

    with ThreadPoolExecutor(64) as ex:
        codes = list(ex.map(go, range(2000)))
    assert codes.count(201) == 100, {c: codes.count(c) for c in set(codes)}
    assert set(codes) <= {201, 409}
    sale = s.get(f"/v1/flash-sales/{sid}").body
    assert (sale["sold"], sale["in_flight"], sale["remaining"], sale["status"]) == (100, 0, 0, "sold_out")
    db = s.database()
    paid = db.one("SELECT count(*), sum(l.quantity) FROM orders o JOIN order_lines l ON"
                  " l.order_id = o.id WHERE o.flash_sale_id = ? AND o.status = 'paid'", (sid,))
    assert (paid[0], paid[1]) == (100, 100)
    low_available, low_reserved = db.one("SELECT min(on_hand - reserved), min(reserved) FROM stock")
    assert low_available >= 0 and low_reserved >= 0
    assert stock_of(s, shop, p["variants"][0]["id"])["on_hand"] == 400


def test_sale_end_returns_unsold_units(srv, shop):
    sale, p = make_sale(srv, shop, units=8, stock=20, length=2)
    sid = sale["id"]
    b = Buyer(srv)
    srv.post(f"/v1/flash-sales/{sid}/queue", token=b.token)
    tok = admitted(srv, b, sid)["token"]
    assert purchase(srv, b, sid, tok).status == 201
    assert wait_for(lambda: srv.get(f"/v1/flash-sales/{sid}")["status"] == "ended", timeout=5)
    vid = p["variants"][0]["id"]
    assert wait_for(lambda: stock_of(srv, shop, vid) == {"on_hand": 19, "reserved": 0,
                                                         "available": 19})
    late = Buyer(srv)
    assert_problem(srv.post(f"/v1/flash-sales/{sid}/queue", token=late.token), 409)
    e = srv.get(f"/v1/flash-sales/{sid}/queue/me", token=b.token)
    assert e["status"] == "purchased"


def test_admin_end_and_list(srv, shop):
    sale, p = make_sale(srv, shop, units=3, stock=3)
    r = srv.post(f"/v1/admin/flash-sales/{sale['id']}/end", token=shop.admin)
    assert r.status == 200 and r["status"] == "ended"
    assert_problem(srv.post(f"/v1/admin/flash-sales/{sale['id']}/end", token=shop.admin), 409)
    assert stock_of(srv, shop, p["variants"][0]["id"])["reserved"] == 0
    ids = [x["id"] for x in srv.get("/v1/admin/flash-sales", token=shop.admin)["data"]]
    assert sale["id"] in ids
    assert_problem(srv.get(f"/v1/flash-sales/{sale['id']}/queue/me",
                           token=Buyer(srv).token), 404)


def test_admin_list_pages_every_sale_once(make_server):
    """More sales than one page: the list says there is more (next_cursor)
    and a walk sees every sale once, newest first."""
    s = make_server(ENV)
    shop = Shop(s)
    p = shop.product(stock=200)
    vid = p["variants"][0]["id"]
    made = []
    for _ in range(103):
        r = s.post("/v1/admin/flash-sales",
                   {"variant_id": vid, "quantity": 1, "price_cents": 100, "starts_at": iso(3600),
                    "ends_at": iso(7200)}, token=shop.admin)
        assert r.status == 201, r
        made.append(r["id"])
    for limit in (None, 10):
        seen, cursor, pages = [], None, 0
        while True:
            q = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v}
            r = s.get("/v1/admin/flash-sales?" + "&".join(f"{k}={v}" for k, v in q.items()),
                      token=shop.admin)
            assert r.status == 200, r
            seen += [x["id"] for x in r["data"]]
            cursor, pages = r["next_cursor"], pages + 1
            if not cursor:
                break
        assert seen == sorted(made, reverse=True), limit
        assert pages == (2 if limit is None else 11)
    for bad in ("limit=0", "limit=101", "cursor=abc", "cursor=-5", "cursor=%2B5"):
        assert_problem(s.get(f"/v1/admin/flash-sales?{bad}", token=shop.admin), 422)
