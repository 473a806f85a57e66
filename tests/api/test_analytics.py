"""Sales analytics (OPS-2): the daily rollups equal sums the test computes
itself from the orders it placed — payments, cancellations, partial
cancellations, returns and their refunds — shop-wide and per seller, in the
shop's time zone; counted once however often the events are delivered;
sellers see only their own lines; bad input is refused."""
import datetime
from concurrent.futures import ThreadPoolExecutor

from conftest import assert_problem, consumer_caught_up, uid, wait_for
from shop_fixtures import Buyer, Shop
from test_returns import admin_move, ask, delivered_order

ZONE = "Pacific/Kiritimati"  # UTC+14: most of a UTC day is the next local day


def local_today():
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=14)).date()


def window():
    t = local_today()
    return (t - datetime.timedelta(days=1)).isoformat(), (t + datetime.timedelta(days=1)).isoformat()


def goods(line):
    return line["quantity"] * line["unit_price_cents"] - line.get("discount_cents", 0)


def line_refunds(s, orders):
    """{line id: cents refunds paid back for the line}: a cancelled line all
    it was paid; another what its returns (or units back to the sender)
    refunded, which the order keeps per line."""
    db = s.database()
    out = {}
    for o in orders:
        for l in o["lines"]:
            out[l["id"]] = goods(l) + l["tax_cents"] if l["status"] == "cancelled" else \
                db.scalar("SELECT refunded_cents FROM order_lines WHERE id = ?", (l["id"],))
    return out


def expected(orders, seller_products=None, refunded=None):
    """Figures from the order documents: revenue at payment, refunds as made.
    A seller's refunds are those of their own lines (`refunded`, from
    line_refunds): of what a line got back, the part that was its goods
    rather than its tax, never more than the line's goods — a refund of
    another seller's lines is none of theirs."""
    rev = refunds = n = units = 0
    for o in orders:
        lines = [l for l in o["lines"] if seller_products is None or l["product_id"] in seller_products]
        if not lines:
            continue
        mine = sum(goods(l) for l in lines)
        rev += o["total_cents"] if seller_products is None else mine
        n += 1
        units += sum(l["quantity"] for l in lines)
        if seller_products is None:
            refunds += sum(r["amount_cents"] for r in o["refunds"])
            continue
        for l in lines:
            paid = goods(l) + l["tax_cents"]
            if paid > 0:
                refunds += min(goods(l), refunded.get(l["id"], 0) * goods(l) // paid)
    return {"revenue_cents": rev, "refunds_cents": refunds, "net_revenue_cents": rev - refunds,
            "orders": n, "units": units, "average_order_cents": rev // n if n else 0}


def report(s, token, path="/v1/admin/analytics", **q):
    frm, to = window()
    qs = "&".join(f"{k}={v}" for k, v in {"from": frm, "to": to, **q}.items())
    r = s.get(f"{path}?{qs}", token=token)
    assert r.status == 200, r
    return r.body


def test_figures_equal_the_orders(make_server):
    s = make_server({"SHOPD_TIMEZONE": ZONE, "SHOPD_RETURN_AUTO_APPROVE_CENTS": "0"})
    shop = Shop(s)
    seller_b, seller_b_user = s.user("seller", trusted=True)
    pa = shop.product(stock=50, price=2000)
    pa2 = shop.product(stock=50, price=750)
    pb = shop.product(stock=50, price=1200, seller=seller_b)
    va, va2, vb = (p["variants"][0]["id"] for p in (pa, pa2, pb))
    b1, b2 = Buyer(s), Buyer(s)

    ids = []
    for buyer, items in ((b1, [(va, 2)]), (b2, [(vb, 1)]), (b1, [(va2, 3), (vb, 2)]),
                         (b2, [(va, 1), (vb, 1)])):
        for v, q in items:
            assert buyer.add(v, q).status == 201
        o = buyer.checkout()
        assert o.status == 201, o
        ids.append((buyer, o["id"]))
    # A whole cancellation and a partial one.
    assert s.post(f"/v1/orders/{ids[1][1]}/cancel", {}, token=b2.token).status == 200
    o3 = s.get(f"/v1/orders/{ids[2][1]}", token=b1.token).body
    line_b = next(l for l in o3["lines"] if l["variant_id"] == vb)
    assert s.post(f"/v1/orders/{ids[2][1]}/cancel", {"line_ids": [line_b["id"]]},
                  token=b1.token).status == 200
    # A delivered order, one unit returned and refunded.
    d = delivered_order(s, shop, b2, [(va, 2), (vb, 1)])
    ids.append((b2, d["id"]))
    line = next(l for l in d["lines"] if l["variant_id"] == va)
    r = ask(s, b2, d["id"], [(line["id"], 1)])
    assert r.status == 201, r
    for st in ("approved", "received", "inspected", "refunded"):
        assert admin_move(s, shop, r["id"], st).status == 200
    # A failed payment counts nowhere.
    b3 = Buyer(s, card="declined")
    assert b3.add(va, 1).status == 201
    assert b3.checkout().status in (402, 409, 422)

    orders = [s.get(f"/v1/orders/{oid}", token=buyer.token).body for buyer, oid in ids]
    want = expected(orders)
    want_units = want["units"]

    def settled():
        got = report(s, shop.admin)
        return got if all(got["totals"][k] == v for k, v in want.items()) and \
            got["totals"]["returns_rate_bps"] > 0 else None
    got = wait_for("analytics to count every order", settled, timeout=20)
    assert got["currency"] == "USD"
    assert got["totals"]["returns_rate_bps"] == 1 * 10000 // want_units
    assert [d["date"] for d in got["days"]] == [
        (local_today() + datetime.timedelta(days=i)).isoformat() for i in (-1, 0, 1)]
    today = got["days"][1]
    assert today["orders"] == want["orders"] and today["revenue_cents"] == want["revenue_cents"], \
        "counted on the shop's local day"
    for k in ("revenue_cents", "refunds_cents", "orders", "units"):
        assert sum(d[k] for d in got["days"]) == got["totals"][k]
    assert got["top_products"][0]["product_id"] in (pa["id"], pb["id"])
    by_id = {t["product_id"]: t for t in got["top_products"]}
    sold_a = sum(l["quantity"] for o in orders for l in o["lines"] if l["product_id"] == pa["id"])
    assert by_id[pa["id"]]["units"] == sold_a and by_id[pa["id"]]["title"] == pa["title"]

    # Per seller: only their own lines, through either door.
    mine_a = {pa["id"], pa2["id"]}
    refunded = line_refunds(s, orders)
    want_a = expected(orders, mine_a, refunded)
    got_a = report(s, shop.trusted, "/v1/seller/analytics")
    for k, v in want_a.items():
        assert got_a["totals"][k] == v, (k, got_a["totals"], want_a)
    assert {t["product_id"] for t in got_a["top_products"]} <= mine_a
    assert report(s, shop.admin, seller_id=shop.trusted_user["id"])["totals"] == got_a["totals"]
    got_b = report(s, seller_b, "/v1/seller/analytics")
    want_b = expected(orders, {pb["id"]}, refunded)
    for k, v in want_b.items():
        assert got_b["totals"][k] == v, (k, got_b["totals"], want_b)
    assert {t["product_id"] for t in got_b["top_products"]} == {pb["id"]}

    # At-least-once delivery: replaying every event from the start changes nothing.
    db = s.database()
    s.stop()
    db.execute("UPDATE outbox_consumers SET position = 0, position_txid = 0 WHERE name = 'analytics'")
    s.start()
    wait_for("the replay", lambda: consumer_caught_up(
        db, "analytics", "topic = 'order.return_approved'"))
    assert report(s, shop.admin)["totals"] == got["totals"]

    # Rollups lost → `shopd analytics rebuild` gives back the same reports.
    # The last 365 days read this year's product rows less what lies outside:
    # they must agree with the short window's, which read the days.
    year_from = (local_today() - datetime.timedelta(days=364)).isoformat()
    year = lambda: report(s, shop.admin, **{"from": year_from,  # noqa: E731
                                           "to": local_today().isoformat()})
    views = lambda: (report(s, shop.admin), report(s, shop.trusted, "/v1/seller/analytics"),  # noqa: E731
                     report(s, seller_b, "/v1/seller/analytics"),
                     (year()["totals"], year()["top_products"]))
    before = views()
    assert before[0]["totals"] == got["totals"] and before[1]["totals"] == got_a["totals"]
    assert before[3] == (got["totals"], got["top_products"])
    tables = ("analytics_days", "analytics_seller_days", "analytics_product_days",
              "analytics_product_months", "analytics_product_years", "analytics_applied")
    s.stop()
    for t in tables:
        db.execute(f"DELETE FROM {t}")
    s.start()
    assert report(s, shop.admin)["totals"]["orders"] == 0, "the rollups are gone"
    out = s.cli("analytics", "rebuild").stdout
    assert f"{len(ids)} paid orders, 3 refunds, 1 returns" in out, out
    assert views() == before
    # Idempotent, whole or by range (widened to whole months), with the shop running.
    s.cli("analytics", "rebuild")
    assert views() == before
    frm, to = window()
    s.cli("analytics", "rebuild", "--from", frm, "--to", to)
    assert views() == before
    # Events delivered again after the rebuild count nothing twice.
    s.stop()
    db.execute("UPDATE outbox_consumers SET position = 0, position_txid = 0 WHERE name = 'analytics'")
    s.start()
    wait_for("the replay after the rebuild", lambda: consumer_caught_up(
        db, "analytics", "topic = 'order.return_approved'"))
    assert views() == before
    # An order paid after the rebuild is counted once, by the consumer.
    assert b1.add(va2, 1).status == 201
    o = b1.checkout()
    assert o.status == 201
    wait_for("the new order", lambda: report(s, shop.admin)["totals"]["orders"] == want["orders"] + 1)
    s.cli("analytics", "rebuild", "--from", frm, "--to", to)
    after = report(s, shop.admin)["totals"]
    assert after["orders"] == want["orders"] + 1
    assert after["revenue_cents"] == want["revenue_cents"] + o["total_cents"]
    # Bad ranges are usage errors.
    for args in (("--from", frm), ("--from", to, "--to", frm), ("--from", "2024-02-30", "--to", to)):
        assert s.cli("analytics", "rebuild", *args, check=False).returncode == 2


def test_orders_paid_together_are_each_counted(make_server):
    # Orders paid at once reach the consumer in the same slices, which fold
    # them together (one upsert per day, seller and product row): the
    # figures are still the sum of each order's.
    s = make_server({"SHOPD_TIMEZONE": ZONE})
    shop = Shop(s)
    seller_b, _ = s.user("seller", trusted=True)
    pa = shop.product(stock=500, price=2000)
    pb = shop.product(stock=500, price=1200, seller=seller_b)
    va, vb = pa["variants"][0]["id"], pb["variants"][0]["id"]
    buyers = [Buyer(s) for _ in range(24)]
    for i, b in enumerate(buyers):
        assert b.add(va, 1 + i % 3).status == 201
        if i % 2:
            assert b.add(vb, 1).status == 201
    with ThreadPoolExecutor(len(buyers)) as ex:
        placed = list(ex.map(lambda b: b.checkout(), buyers))
    assert all(r.status == 201 for r in placed), placed
    orders = [s.get(f"/v1/orders/{r['id']}", token=b.token).body for b, r in zip(buyers, placed)]
    want = expected(orders)
    got = wait_for("analytics to count every order", lambda: (lambda g: g if all(
        g["totals"][k] == v for k, v in want.items()) else None)(report(s, shop.admin)), timeout=20)
    units = {t["product_id"]: t["units"] for t in got["top_products"]}
    assert units == {pa["id"]: sum(1 + i % 3 for i in range(len(buyers))),
                     pb["id"]: len(buyers) // 2}, got["top_products"]
    want_b = expected(orders, {pb["id"]}, {})
    got_b = report(s, seller_b, "/v1/seller/analytics")
    for k, v in want_b.items():
        assert got_b["totals"][k] == v, (k, got_b["totals"], want_b)
    want_a = expected(orders, {pa["id"]}, {})
    got_a = report(s, shop.trusted, "/v1/seller/analytics")
    for k, v in want_a.items():
        assert got_a["totals"][k] == v, (k, got_a["totals"], want_a)


def test_an_order_cancelled_in_parts_nets_to_nothing(make_server):
    """Found from outside: each partial refund's seller share was rounded
    down on its own, so an order cancelled line by line left its seller a
    cent of revenue per part."""
    s = make_server({"SHOPD_TIMEZONE": ZONE})
    shop = Shop(s)
    seller, _ = s.user("seller", trusted=True)
    pa = shop.product(stock=50, price=1000, seller=seller)
    pb = shop.product(stock=50, price=2500, seller=seller)
    b = Buyer(s)
    assert b.add(pa["variants"][0]["id"], 2).status == 201
    assert b.add(pb["variants"][0]["id"], 3).status == 201
    o = b.checkout()
    assert o.status == 201, o
    for line in o["lines"]:
        r = s.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": [line["id"]]}, token=b.token)
        assert r.status == 200, r
    order = s.get(f"/v1/orders/{o['id']}", token=b.token).body
    assert sum(r["amount_cents"] for r in order["refunds"]) == order["total_cents"]
    got = wait_for("the refunds counted", lambda: (lambda g: g if g["totals"]["refunds_cents"] ==
                   9500 else None)(report(s, seller, "/v1/seller/analytics")), timeout=20)
    assert got["totals"]["revenue_cents"] == 9500 and got["totals"]["net_revenue_cents"] == 0, got


def test_a_refund_of_one_sellers_lines_is_that_sellers(make_server):
    """Found from outside: an order of seller A's line (20.00) and seller B's
    (30.00), A's line cancelled and refunded 21.30, showed A refunds of 8.00
    and B 12.00 — the refund split over the order's sellers in proportion.
    A refund of lines is their sellers' (the goods part of it: tax and
    shipping stay the shop's); the consumer and a rebuild agree."""
    s = make_server({"SHOPD_TIMEZONE": ZONE})
    shop = Shop(s)
    seller_b, _ = s.user("seller", trusted=True)
    pa = shop.product(stock=5, price=2000)
    pb = shop.product(stock=5, price=3000, seller=seller_b)
    b = Buyer(s)
    assert b.add(pa["variants"][0]["id"]).status == 201
    assert b.add(pb["variants"][0]["id"]).status == 201
    o = b.checkout()
    assert o.status == 201, o
    la = [l["id"] for l in o["lines"] if l["product_id"] == pa["id"]]
    r = s.post(f"/v1/orders/{o['id']}/cancel", {"line_ids": la}, token=b.token)
    assert r.status == 200, r
    refund = r["refunds"][0]["amount_cents"]
    line_a = next(l for l in o["lines"] if l["product_id"] == pa["id"])
    assert refund == 2000 + line_a["tax_cents"]
    got = wait_for("the refund counted", lambda: (lambda g: g if g["totals"]["refunds_cents"] ==
                   refund else None)(report(s, shop.admin)), timeout=20)
    assert got["totals"]["refunds_cents"] == refund

    def sellers():
        return ({k: report(s, shop.trusted, "/v1/seller/analytics")["totals"][k]
                 for k in ("revenue_cents", "refunds_cents", "net_revenue_cents")},
                {k: report(s, seller_b, "/v1/seller/analytics")["totals"][k]
                 for k in ("revenue_cents", "refunds_cents", "net_revenue_cents")})
    want = ({"revenue_cents": 2000, "refunds_cents": 2000, "net_revenue_cents": 0},
            {"revenue_cents": 3000, "refunds_cents": 0, "net_revenue_cents": 3000})
    assert sellers() == want
    # The rebuild folds the refund the same way.
    db = s.database()
    s.stop()
    for t in ("analytics_days", "analytics_seller_days", "analytics_product_days",
              "analytics_product_months", "analytics_product_years", "analytics_applied"):
        db.execute(f"DELETE FROM {t}")
    s.start()
    out = s.cli("analytics", "rebuild").stdout
    assert "1 refunds" in out, out
    assert sellers() == want
    assert report(s, shop.admin)["totals"] == got["totals"]


def test_bad_input_and_access(server):
    shop = Shop(server)
    a = "/v1/admin/analytics"
    for q, field in (("from=2024-02-30&to=2024-03-01", "from"), ("from=2024-01-01&to=2024-13-01", "to"),
                     ("from=2024-03-02&to=2024-03-01", "to"), ("from=2023-01-01&to=2024-01-02", "to"),
                     ("to=2024-01-01", "from"), ("from=2024-01-01", "to"),
                     ("from=24-01-01&to=2024-01-01", "from"),
                     ("from=2024-01-01&to=2024-01-02&seller_id=x", "seller_id")):
        assert_problem(server.get(f"{a}?{q}", token=shop.admin, check=False), 422, field)
    customer, cu = server.user()
    assert_problem(server.get(f"{a}?from=2024-01-01&to=2024-01-02&seller_id={cu['id']}",
                              token=shop.admin), 422, "seller_id")
    assert_problem(server.get(f"{a}?from=2024-01-01&to=2024-01-02&seller_id=999999999",
                              token=shop.admin), 422, "seller_id")
    assert_problem(server.get(f"{a}?from=2024-01-01&to=2024-01-02", token=shop.seller), 403)
    assert_problem(server.get("/v1/seller/analytics?from=2024-01-01&to=2024-01-02",
                              token=customer), 403)
    # A leap year's whole year is 366 days: allowed; empty days are zeros.
    r = server.get(f"{a}?from=2024-01-01&to=2024-12-31", token=shop.admin)
    assert r.status == 200 and len(r["days"]) == 366
    assert r["days"][59]["date"] == "2024-02-29" and r["days"][59]["orders"] == 0
    assert r["totals"]["average_order_cents"] == 0 and r["top_products"] == []


def test_top_products_over_partial_months(server):
    """A partial month is read from its days, or as its month's row less the
    days outside the range, whichever reads fewer rows, and a partial year
    (shop-wide) from its months and days or as its year's row less the
    months and days outside: every range must give the sums of its days.
    Rollup rows are planted directly in 2023 (no order of the other tests
    falls there): product 9001 sells every day, 9002 only on the 1st and
    last of each month, 9003 once, on 2023-03-15."""
    shop = Shop(server)
    seller = shop.seller_user["id"]
    db = server.database()
    days, months = {}, {}
    d = datetime.date(2023, 1, 1)
    while d.year == 2023:
        ymd, last = int(d.strftime("%Y%m%d")), (d + datetime.timedelta(days=1)).month != d.month
        sold = [(9001, 1 + d.day % 3, 100 * (1 + d.day % 3))]
        if d.day == 1 or last:
            sold.append((9002, 5, 700))
        if ymd == 20230315:
            sold.append((9003, 40, 9000))
        for pid, units, cents in sold:
            days[(ymd, pid)] = (units, cents)
            m = months.setdefault((ymd // 100, pid), [0, 0])
            m[0] += units
            m[1] += cents
        d += datetime.timedelta(days=1)
    db.executemany("INSERT INTO analytics_product_days (product_id, day, seller_id, units,"
                   " revenue_cents) VALUES (?, ?, ?, ?, ?)",
                   [(pid, ymd, seller, u, c) for (ymd, pid), (u, c) in days.items()])
    db.executemany("INSERT INTO analytics_product_months (product_id, month, seller_id, units,"
                   " revenue_cents) VALUES (?, ?, ?, ?, ?)",
                   [(pid, ym, seller, u, c) for (ym, pid), (u, c) in months.items()])
    years = {}
    for (ym, pid), (u, c) in months.items():
        y = years.setdefault(pid, [0, 0])
        y[0] += u
        y[1] += c
    db.executemany("INSERT INTO analytics_product_years (product_id, year, units, revenue_cents)"
                   " VALUES (?, 2023, ?, ?)", [(pid, u, c) for pid, (u, c) in years.items()])

    def want(frm, to):
        a, b = int(frm.replace("-", "")), int(to.replace("-", ""))
        sums = {}
        for (ymd, pid), (u, c) in days.items():
            if a <= ymd <= b:
                s = sums.setdefault(pid, [0, 0])
                s[0] += u
                s[1] += c
        return {pid: tuple(v) for pid, v in sums.items()}

    for frm, to in (("2023-01-01", "2023-12-31"), ("2023-01-06", "2023-12-05"),
                    ("2023-01-28", "2023-03-03"), ("2023-03-02", "2023-03-30"),
                    ("2023-03-16", "2023-03-31"), ("2023-03-01", "2023-03-14"),
                    ("2023-02-01", "2023-02-28"), ("2023-03-15", "2023-03-15"),
                    ("2023-02-02", "2023-02-27"), ("2023-06-30", "2023-07-01"),
                    ("2022-12-06", "2023-12-05"), ("2023-03-16", "2024-03-15"),
                    ("2023-01-02", "2023-12-30"), ("2023-02-01", "2023-11-30"),
                    ("2022-06-01", "2023-03-14"), ("2023-03-15", "2024-01-01")):
        for path in (f"/v1/admin/analytics?from={frm}&to={to}",
                     f"/v1/admin/analytics?from={frm}&to={to}&seller_id={seller}"):
            got = server.get(path, token=shop.admin)
            assert got.status == 200, got
            top = {t["product_id"]: (t["units"], t["revenue_cents"]) for t in got["top_products"]}
            assert top == want(frm, to), (frm, to, path)
