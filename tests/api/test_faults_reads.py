"""A failed read is a failure, not an answer: the reads that decide an
answer ("no such X", a per-customer limit, a balance, what is in stock)
must tell "none" from "the database did not answer" (store.h,
db_scalar_i64_or_fail). Each test fails one such read through the admin
fault hook (store.stmt inside a write, store.read on a reading connection)
and checks the answer is a 5xx, not a 404/409/422 or a 2xx that acted on a
zero; that nothing changed; and that the same call succeeds once the fault
is gone.

One server for the file, faults armed through the admin hook
(SHOPD_FAULTS_API=1), shared with the saga sweeps (saga_faults.env).
"""
import pytest

from conftest import uid, wait_for
from saga_faults import arm, disarm, env  # noqa: F401
from shop_fixtures import ADDRESS, Buyer
from test_faults_sagas import with_failing
from test_returns import ask, delivered_order

# Servers of their own with failures armed (conftest.py).
pytestmark = pytest.mark.direct


def addresses(s, buyer):
    r = s.get("/v1/me/addresses", token=buyer.token)
    assert r.status == 200, r
    return sorted((a["id"], a["is_default"]) for a in r["data"])


def test_a_failed_count_does_not_pass_the_address_book_limit(env):
    """The address count decides the limit and whether the new address is
    the default: read as 0 it let one through and made it the default."""
    s, shop = env
    buyer = Buyer(s)
    before = addresses(s, buyer)
    second = dict(ADDRESS, name="Second Home", is_default=False)
    r = with_failing(s, shop, "SELECT count(*) FROM addresses WHERE user_id",
                     lambda: s.post("/v1/me/addresses", second, token=buyer.token))
    assert r.status >= 500, r
    assert addresses(s, buyer) == before
    r = s.post("/v1/me/addresses", second, token=buyer.token)
    assert r.status == 201, r
    assert r["is_default"] is False, r
    assert len(addresses(s, buyer)) == len(before) + 1


def test_a_failed_read_is_not_a_missing_user_nor_a_zero_balance(env):
    s, shop = env
    buyer = Buyer(s)
    grant = f"/v1/admin/users/{buyer.user['id']}/store-credit"

    def balance():
        r = s.get("/v1/me/store-credit", token=buyer.token)
        assert r.status == 200, r
        return r["balance_cents"]

    # Granting: the user's existence, read as "no user" (404).
    r = with_failing(s, shop, "SELECT count(*) FROM users WHERE id",
                     lambda: s.post(grant, {"amount_cents": 1500}, token=shop.admin))
    assert r.status >= 500, r
    assert balance() == 0
    r = s.post(grant, {"amount_cents": 1500}, token=shop.admin)
    assert r.status in (200, 201), r
    assert balance() == 1500

    # Showing: the balance, read as 0 and answered 200.
    r = with_failing(s, shop, "coalesce(sum(amount_cents), 0)",
                     lambda: s.get("/v1/me/store-credit", token=buyer.token),
                     point="store.read")
    assert r.status >= 500, r

    # Paying with it: the balance, read as 0 and refused as a client error
    # (422 "the store credit balance is 0 cents").
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    assert buyer.add(v, 1).status == 201
    body = {"shipping_address_id": buyer.address, "shipping_method": "standard",
            "payments": [{"store_credit": True, "amount_cents": 500},
                         {"payment_method_id": buyer.card}]}
    r = with_failing(s, shop, "coalesce(sum(amount_cents), 0)",
                     lambda: buyer.checkout(body=body))
    assert r.status >= 500, r
    assert balance() == 1500
    orders = s.get("/v1/orders", token=buyer.token)
    assert orders.status == 200 and orders["data"] == [], orders
    r = buyer.checkout(body=body)
    assert r.status == 201, r
    assert balance() == 1000


def test_a_failed_stock_read_is_not_out_of_stock(env):
    """Adding to the cart: the available units, read as 0 (409 "only 0
    available")."""
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    r = with_failing(s, shop, "coalesce(sum(on_hand - reserved), 0) FROM stock",
                     lambda: buyer.add(v, 2))
    assert r.status >= 500, r
    cart = s.get("/v1/cart", token=buyer.token)
    assert cart.status == 200 and cart["lines"] == [], cart
    r = buyer.add(v, 2)
    assert r.status == 201, r


def test_a_failed_read_is_not_a_missing_order(env):
    """Reading an order: its owner, read as "no order" (404)."""
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    order = buyer.buy(v, 1)
    assert order.status == 201, order
    oid = order["id"]
    r = with_failing(s, shop, "SELECT user_id FROM orders WHERE id",
                     lambda: s.get(f"/v1/orders/{oid}", token=buyer.token), point="store.read")
    assert r.status >= 500, r
    r = with_failing(s, shop, "SELECT count(*) FROM orders WHERE id",
                     lambda: s.get(f"/v1/admin/orders/{oid}/events", token=shop.admin),
                     point="store.read")
    assert r.status >= 500, r
    r = s.get(f"/v1/orders/{oid}", token=buyer.token)
    assert r.status == 200 and r["id"] == oid, r


# ---- lists: a failed step is not the end of the list ------------------------------
#
# A list read stepped its statement until it stopped returning rows and
# answered with what it had: a failed step answered 200 with a short (here
# empty) list. Each test fails the list's statement on the reading
# connection, expects a 5xx, then the whole list once the fault is gone.

def failed_then_whole(s, shop, sql, get):
    """`get()` answers 5xx while `sql` fails, then 200; the 200 answer."""
    r = with_failing(s, shop, sql, get, point="store.read")
    assert r.status >= 500, (sql, r)
    r = get()
    assert r.status == 200, r
    return r


def test_a_failed_step_is_not_the_end_of_the_orders(env):
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    ids = {buyer.buy(v, 1)["id"] for _ in range(2)}
    mine = lambda: s.get("/v1/orders", token=buyer.token)  # noqa: E731
    # The order ids, and an order's lines (a part of each order document:
    # an order whose document failed was left out of the page).
    for sql in ("SELECT id FROM orders WHERE user_id = ? AND id <",
                "unit_price_cents, tax_cents, status, shipped_qty, backordered"):
        r = failed_then_whole(s, shop, sql, mine)
        assert {o["id"] for o in r["data"]} == ids, r
    # One order: its lines failing was "no order" (404).
    oid = min(ids)
    one = lambda: s.get(f"/v1/orders/{oid}", token=buyer.token)  # noqa: E731
    r = failed_then_whole(s, shop, "unit_price_cents, tax_cents, status, shipped_qty, backordered",
                          one)
    assert r["id"] == oid and len(r["lines"]) == 1, r
    # Its events (the admin's view), once the order log has recorded them:
    # its consumer runs behind the checkout, further on a busy machine.
    events = lambda: s.get(f"/v1/admin/orders/{oid}/events", token=shop.admin)  # noqa: E731
    wait_for("the order's events", lambda: events()["data"], timeout=20)
    r = failed_then_whole(s, shop, "FROM order_event_log", events)
    assert r["data"], r


def test_a_failed_step_is_not_the_end_of_the_flash_sales(env):
    s, shop = env
    v = shop.product(price=5000, stock=5)["variants"][0]["id"]
    r = s.post("/v1/admin/flash-sales",
               {"variant_id": v, "quantity": 2, "price_cents": 999,
                "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
                "per_customer_limit": 1, "admit_per_second": 10},
               token=shop.admin)
    assert r.status == 201, r
    sid = r["id"]
    r = failed_then_whole(s, shop, "FROM flash_sales WHERE id < ? ORDER BY id DESC",
                          lambda: s.get("/v1/admin/flash-sales", token=shop.admin))
    assert sid in {x["id"] for x in r["data"]}, r


def test_a_failed_step_is_not_the_end_of_the_store_credit_entries(env):
    s, shop = env
    buyer = Buyer(s)
    grant = f"/v1/admin/users/{buyer.user['id']}/store-credit"
    for cents in (700, 300):
        assert s.post(grant, {"amount_cents": cents}, token=shop.admin).status in (200, 201)
    r = failed_then_whole(s, shop, "SELECT id, amount_cents, reason, order_id, created_at",
                          lambda: s.get("/v1/me/store-credit", token=buyer.token))
    assert r["balance_cents"] == 1000, r
    assert sorted(e["amount_cents"] for e in r["entries"]) == [300, 700], r


def test_a_failed_step_is_not_the_end_of_the_payment_methods(env):
    s, shop = env
    buyer = Buyer(s)
    r = failed_then_whole(s, shop, "AND deleted_at IS NULL AND id < ? ORDER BY id DESC",
                          lambda: s.get("/v1/me/payment-methods", token=buyer.token))
    assert buyer.card in {m["id"] for m in r["data"]}, r


def test_a_failed_step_is_not_the_end_of_a_customers_lists(env):
    """Addresses, devices, the wishlist."""
    s, shop = env
    buyer = Buyer(s)
    r = failed_then_whole(s, shop, "ORDER BY is_default DESC, id DESC",
                          lambda: s.get("/v1/me/addresses", token=buyer.token))
    assert [a["id"] for a in r["data"]] == [buyer.address], r
    token = "fcm:" + uid() * 3
    assert s.post("/v1/me/devices", {"platform": "android", "token": token},
                  token=buyer.token).status == 201
    r = failed_then_whole(s, shop, "FROM devices WHERE user_id = ? AND (updated_at < ?",
                          lambda: s.get("/v1/me/devices", token=buyer.token))
    assert [d["token"] for d in r["data"]] == [token], r
    p = shop.product(price=1000, stock=5)
    assert s.put(f"/v1/me/wishlist/{p['id']}", token=buyer.token).status == 201
    r = failed_then_whole(s, shop, "ORDER BY w.created_at DESC, w.product_id DESC",
                          lambda: s.get("/v1/me/wishlist", token=buyer.token))
    assert [i["product_id"] for i in r["data"]] == [p["id"]], r


def test_a_failed_step_is_not_the_end_of_the_stock(env):
    """The warehouses; a variant's stock rows (their totals) and movements."""
    s, shop = env
    r = failed_then_whole(s, shop, "FROM warehouses WHERE id > ? ORDER BY id",
                          lambda: s.get("/v1/warehouses", token=shop.admin))
    assert r["data"], r
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    stock = lambda: s.get(f"/v1/inventory/{v}", token=shop.admin)  # noqa: E731
    for sql in ("ON w.id = s.warehouse_id WHERE s.variant_id = ?",
                "FROM stock_movements WHERE id = ?"):
        r = failed_then_whole(s, shop, sql, stock)
        assert r["total"]["on_hand"] == 5 and r["rows"], r


def test_a_failed_step_is_not_the_end_of_the_order_queues(env):
    """The admin's and the seller's queues: the ids, then each order."""
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    assert buyer.buy(v, 1).status == 201
    admin = lambda: s.get("/v1/admin/orders", token=shop.admin)  # noqa: E731
    seller = lambda: s.get("/v1/seller/orders", token=shop.trusted)  # noqa: E731
    for sql, get in (("SELECT id FROM orders WHERE id > ? ORDER BY id LIMIT", admin),
                     ("unit_price_cents, tax_cents, status, shipped_qty, backordered", admin),
                     ("SELECT DISTINCT l.order_id FROM order_lines", seller),
                     ("WHERE l.order_id = ? AND p.seller_id = ?", seller)):
        r = failed_then_whole(s, shop, sql, get)
        assert r["data"], (sql, r)


def test_a_failed_step_is_not_the_end_of_the_admins_catalog_lists(env):
    """A seller's products; the promotions."""
    s, shop = env
    p = shop.product(price=1000, stock=5)
    r = failed_then_whole(s, shop, "AND (? < 0 OR p.status = ?)",
                          lambda: s.get("/v1/seller/products", token=shop.trusted))
    assert p["id"] in {x["id"] for x in r["data"]}, r
    r = s.post("/v1/admin/promotions", {"name": "Promo " + uid(), "type": "percentage",
                                        "percent_bps": 100}, token=shop.admin)
    assert r.status == 201, r
    promo = r["id"]
    r = failed_then_whole(s, shop, "SELECT id FROM promotions WHERE id < ?",
                          lambda: s.get("/v1/admin/promotions", token=shop.admin))
    assert promo in {x["id"] for x in r["data"]}, r


def test_a_failed_step_is_not_the_end_of_the_returns(env):
    """The customer's returns, the admin's; a return's lines (one return:
    "no return", 404)."""
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=2000, stock=5)["variants"][0]["id"]
    o = delivered_order(s, shop, buyer, [(v, 2)])
    r = ask(s, buyer, o["id"], [(o["lines"][0]["id"], 1)])
    assert r.status == 201, r
    rid = r["id"]
    mine = lambda: s.get("/v1/me/returns", token=buyer.token)  # noqa: E731
    admin = lambda: s.get("/v1/admin/returns", token=shop.admin)  # noqa: E731
    one = lambda: s.get(f"/v1/returns/{rid}", token=buyer.token)  # noqa: E731
    lines = "quantity, unit_price_cents FROM return_lines"
    for sql, get in (("SELECT id FROM returns WHERE user_id", mine), (lines, mine),
                     ("SELECT id FROM returns WHERE id > ?", admin), (lines, admin)):
        r = failed_then_whole(s, shop, sql, get)
        assert rid in {x["id"] for x in r["data"]}, (sql, r)
    r = failed_then_whole(s, shop, lines, one)
    assert r["id"] == rid and len(r["lines"]) == 1, r


def test_a_failed_step_is_not_the_end_of_the_reviews(env):
    s, shop = env
    p = shop.product(price=1000, stock=5)
    tok, _ = s.user()
    r = s.post(f"/v1/products/{p['id']}/reviews",
               {"rating": 5, "title": "Great kettle", "body": "Boils fast and pours well."},
               token=tok)
    assert r.status == 201, r
    rev = r["id"]
    if r["status"] == "pending":
        r = failed_then_whole(s, shop, "WHERE r.held = 1 AND r.id > ?",
                              lambda: s.get("/v1/admin/reviews?status=pending&limit=100",
                                            token=shop.admin))
        assert rev in {x["id"] for x in r["data"]}, r
        r = s.post(f"/v1/admin/reviews/{rev}/approve", token=shop.admin)
        assert r.status == 200 and r["status"] == "approved", r
    r = failed_then_whole(s, shop, "AND (?2 = 0 OR r.rating = ?2)",
                          lambda: s.get(f"/v1/products/{p['id']}/reviews"))
    assert [x["id"] for x in r["data"]] == [rev], r


# ---- writes: a failed step fails the write ------------------------------------------
#
# A write function that stepped a statement until it stopped returning rows
# went on with what it had and committed it: cancelling an order whose
# second line failed to read cancelled the order with one line, refunded all
# of it, and left the other line open with its units taken. On SQLite a
# failed statement leaves the transaction open, so nothing stopped it (on
# PostgreSQL it aborts the transaction). Now any failed statement fails the
# write that ran it, whatever the function made of it (store.c, writer.c).

def test_a_failed_step_inside_a_write_commits_nothing(env):
    s, shop = env
    buyer = Buyer(s)

    def stock(vs):
        return {v: s.get(f"/v1/inventory/{v}", token=shop.admin)["total"]["available"] for v in vs}

    # The cancellation's read of the order's lines: its second row fails,
    # once (the write runs again, whole) or from then on (it fails).
    lines = " backordered, discount_cents, tax_cents FROM order_lines WHERE order_id"
    for times in (1, 0):
        a = shop.product(price=1000, stock=5)["variants"][0]["id"]
        b = shop.product(price=2000, stock=5)["variants"][0]["id"]
        assert buyer.add(a, 1).status == 201 and buyer.add(b, 2).status == 201
        o = buyer.checkout()
        assert o.status == 201 and o["status"] == "paid", o
        before = stock((a, b))
        cancel = lambda: s.post(f"/v1/orders/{o['id']}/cancel", {}, token=buyer.token)  # noqa: E731
        arm(s, shop, "store.stmt", nth=2, times=times, match=lines)
        try:
            r = cancel()
        finally:
            assert disarm(s, shop)["store.stmt"][1] >= 1
        if times == 0:
            assert r.status >= 500, r
            after = s.get(f"/v1/orders/{o['id']}", token=buyer.token)
            assert after["status"] == "paid" and after["refund_status"] == "none", after
            assert {line["status"] for line in after["lines"]} == {"open"}, after
            assert stock((a, b)) == before
            r = cancel()
        assert r.status == 200 and r["status"] == "cancelled", r
        assert {line["status"] for line in r["lines"]} == {"cancelled"}, r
        assert stock((a, b)) == {a: before[a] + 1, b: before[b] + 2}, times


# ---- the HTTP layer: a GET that saw a failed read is a 500 ---------------------------
#
# Whatever a handler made of a failed read (a cart without its lines, a
# short list of deliveries), the answer is a 500 (http/server.c): these two
# answered 200 with what they had.

def test_a_get_that_saw_a_failed_read_is_a_500(env):
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    assert buyer.add(v, 2).status == 201
    r = failed_then_whole(s, shop, "JOIN products p ON p.id = v.product_id WHERE l.cart_id = ?",
                          lambda: s.get("/v1/cart", token=buyer.token))
    assert [(line["variant_id"], line["quantity"]) for line in r["lines"]] == [(v, 2)], r

    hook = s.post("/v1/admin/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["*"]},
                  token=shop.admin)
    assert hook.status == 201, hook
    deliveries = lambda: s.get(f"/v1/admin/webhooks/{hook['id']}/deliveries",  # noqa: E731
                               token=shop.admin)
    shop.product(price=1500, stock=1)
    wait_for("a delivery", lambda: deliveries()["data"])
    r = failed_then_whole(s, shop, "last_status, last_error FROM webhook_deliveries", deliveries)
    assert r["data"], r
    assert s.delete(f"/v1/admin/webhooks/{hook['id']}", token=shop.admin).status in (200, 204)


def test_a_product_page_rendered_past_a_failed_read_is_not_kept(env):
    # The page is rendered on the GET that finds it missing from the product
    # cache, and kept there: rendered past a failed read of its variants it
    # was kept without them, and served so until the product changed.
    s, shop = env
    p = shop.product(price=1000, stock=5)
    page = lambda: s.get(f"/v1/products/{p['id']}")  # noqa: E731
    assert page().status == 200
    assert Buyer(s).buy(p["variants"][0]["id"], 1).status == 201  # the cached page goes
    r = failed_then_whole(s, shop, "FROM variants v LEFT JOIN stock s ON s.variant_id = v.id",
                          page)
    assert [(v["id"], v["available"]) for v in r["variants"]] == [(p["variants"][0]["id"], 4)], r
    assert page()["variants"] == r["variants"]


def test_a_busy_database_is_a_503_to_retry(env):
    # A statement the database answered "busy" (a lock it could not take in
    # time) fails its read or its write like any failure, but the answer is
    # a 503 with Retry-After: the same call may well succeed a moment later.
    s, shop = env
    buyer = Buyer(s)
    v = shop.product(price=1000, stock=5)["variants"][0]["id"]
    assert buyer.add(v, 1).status == 201
    cart = lambda: s.get("/v1/cart", token=buyer.token)  # noqa: E731
    arm(s, shop, "store.read", nth=1, mode="busy", times=0,
        match="JOIN products p ON p.id = v.product_id WHERE l.cart_id = ?")
    try:
        r = cart()
    finally:
        assert disarm(s, shop)["store.read"][1] >= 1
    assert r.status == 503 and r.headers.get("retry-after") == "1", (r, r.headers)
    assert [line["quantity"] for line in cart()["lines"]] == [1]

    # A write: the cart line's quantity read inside the add is busy.
    arm(s, shop, "store.stmt", nth=1, mode="busy", times=0,
        match="SELECT quantity FROM cart_lines WHERE cart_id = ? AND variant_id = ?")
    try:
        r = buyer.add(v, 2)
    finally:
        assert disarm(s, shop)["store.stmt"][1] >= 1
    assert r.status == 503 and r.headers.get("retry-after") == "1", (r, r.headers)
    assert [line["quantity"] for line in cart()["lines"]] == [1]
    assert buyer.add(v, 2).status in (200, 201)
    assert [line["quantity"] for line in cart()["lines"]] == [3]


def test_a_write_that_saw_a_failed_read_is_no_client_error(env):
    """These writes read back what they committed to answer with it; a
    failed read-back was taken for "not there" and answered 404 or 409 (the
    wishlist entry, the device, the preferences). A 4xx says the request was
    wrong and changed nothing: after a failed read the answer is a 500, and
    the same call answers as usual once the database does."""
    s, shop = env
    buyer = Buyer(s)
    product = shop.product()
    cases = [
        # The wishlist add reads its item back inside its own write (045a465):
        # there a failed read fails the write, which commits nothing.
        ("WHERE w.user_id = ? AND w.product_id = ?",
         lambda: s.put(f"/v1/me/wishlist/{product['id']}", token=buyer.token), "store.stmt"),
        ("FROM devices WHERE id = ?",
         lambda: s.post("/v1/me/devices", {"platform": "ios", "token": "dev-" + uid()},
                        token=buyer.token), "store.read"),
        ("coalesce(p.push, 1), coalesce(p.email, 1)",
         lambda: s.put("/v1/me/notification-preferences", {"email": False}, token=buyer.token),
         "store.read"),
    ]
    for sql, call, point in cases:
        r = with_failing(s, shop, sql, call, point=point)
        assert r.status == 500, (sql, r)
        r = call()
        assert r.status in (200, 201), (sql, r)
        if point == "store.stmt":
            assert r.status == 201, "the failed add committed nothing"
