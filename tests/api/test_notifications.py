"""Notifications (NTF-1…4, ACC-5): devices, preferences, triggers, the
fan-out and its recovery after a SIGKILL, retries and dead letters.

Volume is created straight in SQLite (users, devices, wishlist rows); the
file sink's JSON lines (<db dir>/notifications/<channel>.jsonl) are what a
provider received."""
import http.server
import json
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from datetime import datetime

import pytest

from conftest import BACKEND, SMALL_TABLES, assert_problem, consumer_caught_up, uid, wait_for
from shop_fixtures import Buyer, Shop

FAST = {"SHOPD_NOTIFY_SCAN_MS": "50", "SHOPD_NOTIFY_BACKOFF_MS": "50",
        "SHOPD_NOTIFY_BACKOFF_MAX_MS": "200"}


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


def sink_lines(server, channel):
    path = os.path.join(server.dir, "notifications", channel + ".jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def bulk_wishlisters(server, product_id, n, devices=True):
    """Creates n users who wishlisted the product (with a device each) directly
    in the database. Returns their ids."""
    db = server.database()
    now = int(time.time() * 1000)
    base = db.scalar("SELECT coalesce(max(id), 0) FROM users") + 1
    ids = list(range(base, base + n))
    db.executemany("INSERT INTO users (id, email, name, password_hash, role, created_at)"
                   " VALUES (?, ?, 'Bulk', 'x', 'customer', ?)",
                   [(i, f"bulk{i}-{uid()}@example.com", now) for i in ids])
    db.executemany("INSERT INTO wishlist (user_id, product_id, created_at) VALUES (?, ?, ?)",
                   [(i, product_id, now) for i in ids])
    if devices:
        db.executemany("INSERT INTO devices (user_id, platform, token, created_at, updated_at)"
                       " VALUES (?, 'android', ?, ?, ?)",
                       [(i, f"tok-{i}-{uid()}", now, now) for i in ids])
    return ids


def fanout_done(server, admin, fid, sent):
    def check():
        f = server.get(f"/v1/admin/notifications/fanouts/{fid}", token=admin).body
        d = f["delivery"]
        return f if f["state"] == "done" and d["sent"] + d["skipped"] + d["dead"] >= sent else None
    return wait_for(f"fan-out {fid}", check)


# ---- devices and preferences ---------------------------------------------------------


def test_devices(server):
    tok, _ = server.user()
    other, _ = server.user()
    token = "fcm:" + uid() * 3
    r = server.post("/v1/me/devices", {"platform": "android", "token": token}, token=tok)
    assert r.status == 201 and r["platform"] == "android" and r["token"] == token
    again = server.post("/v1/me/devices", {"platform": "android", "token": token}, token=tok)
    assert again.status == 200 and again["id"] == r["id"]
    assert [d["id"] for d in server.get("/v1/me/devices", token=tok)["data"]] == [r["id"]]
    assert server.get("/v1/me/devices", token=other)["data"] == []
    assert_problem(server.delete(f"/v1/me/devices/{r['id']}", token=other), 404)
    # The same token from another account: the phone changed hands.
    moved = server.post("/v1/me/devices", {"platform": "ios", "token": token}, token=other)
    assert moved.status == 201 and moved["id"] == r["id"] and moved["platform"] == "ios"
    assert server.get("/v1/me/devices", token=tok)["data"] == []
    assert server.delete(f"/v1/me/devices/{r['id']}", token=other).status == 204
    assert_problem(server.delete(f"/v1/me/devices/{r['id']}", token=other), 404)


def test_devices_are_bounded(server):
    tok, _ = server.user()
    ids = [server.post("/v1/me/devices", {"platform": "web", "token": f"t{i}-{uid()}"},
                       token=tok)["id"] for i in range(22)]
    kept = [d["id"] for d in server.get("/v1/me/devices", token=tok)["data"]]
    assert kept == list(reversed(ids))[:20]


@pytest.mark.parametrize("body,field", [
    ({"token": "abc"}, "platform"), ({"platform": "blackberry", "token": "abc"}, "platform"),
    ({"platform": "ios"}, "token"), ({"platform": "ios", "token": ""}, "token"),
    ({"platform": "ios", "token": "has space"}, "token"), ({"platform": "ios", "token": 'q"uote'}, "token"),
    ({"platform": "ios", "token": "x" * 1025}, "token"), ({"platform": 3, "token": "abc"}, "platform")])
def test_device_bad_input(server, body, field):
    tok, _ = server.user()
    assert_problem(server.post("/v1/me/devices", body, token=tok), 422, field)
    assert server.get("/v1/me/devices", token=tok)["data"] == []


def test_device_malformed_and_anonymous(server):
    tok, _ = server.user()
    assert_problem(server.post("/v1/me/devices", raw=b"{nope", token=tok,
                               headers={"Content-Type": "application/json"}), 400)
    assert_problem(server.post("/v1/me/devices", {"platform": "ios", "token": "abc"}), 401)
    assert_problem(server.get("/v1/me/notification-preferences"), 401)


def test_preferences(server):
    tok, user = server.user()
    r = server.get("/v1/me/notification-preferences", token=tok)
    assert r.body == {"push": True, "email": True, "sms": False, "email_address": user["email"],
                      "phone": None}
    r = server.put("/v1/me/notification-preferences", {"push": False}, token=tok)
    assert (r["push"], r["email"], r["sms"]) == (False, True, False)
    # sms needs a phone: refused, and nothing changed.
    assert_problem(server.put("/v1/me/notification-preferences", {"sms": True, "email": False},
                              token=tok), 422, "sms")
    assert server.get("/v1/me/notification-preferences", token=tok)["email"] is True
    a = server.post("/v1/me/addresses", {"name": "A", "line1": "1 Main St", "city": "Seattle",
                                         "postal_code": "98101", "country": "US",
                                         "phone": "+1 206 555 0100"}, token=tok)
    assert a.status == 201
    r = server.put("/v1/me/notification-preferences", {"sms": True}, token=tok)
    assert r.body["sms"] is True and r.body["phone"] == "+1 206 555 0100" and r.body["push"] is False
    # What GET answers can be PUT back.
    assert server.put("/v1/me/notification-preferences", r.body, token=tok).body == r.body


@pytest.mark.parametrize("body,field", [({"push": "yes"}, "push"), ({"email": 1}, "email"),
                                        ({"sms": None, "push": 0}, "push"), ({"fax": True}, "fax")])
def test_preferences_bad_input(server, body, field):
    tok, _ = server.user()
    before = server.get("/v1/me/notification-preferences", token=tok).body
    assert_problem(server.put("/v1/me/notification-preferences", body, token=tok), 422, field)
    assert server.get("/v1/me/notification-preferences", token=tok).body == before


# ---- fan-out ---------------------------------------------------------------------------


def test_fanout_notifies_each_wishlister_once_per_opted_in_channel(server, shop):
    p = shop.product()
    a, ua = server.user()
    b, ub = server.user()
    c, uc = server.user()
    for tok in (a, b, c):
        assert server.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    server.post("/v1/me/devices", {"platform": "ios", "token": "dev-a-" + uid()}, token=a)
    server.put("/v1/me/notification-preferences", {"email": False}, token=b)  # b: nothing left
    key = "launch-" + uid()
    r = server.post("/v1/admin/notifications/fanout",
                    {"product_id": p["id"], "key": key, "title": "It is here", "body": "Go look."},
                    token=shop.admin)
    assert r.status == 202, r
    assert r.headers["location"] == f"/v1/admin/notifications/fanouts/{r['id']}"
    f = fanout_done(server, shop.admin, r["id"], 3)
    assert f["users_total"] == 3 and f["users_done"] == 3 and f["notifications"] == 3
    assert f["delivery"]["sent"] == 3 and f["key"] == "fanout:" + key
    push = [n for n in sink_lines(server, "push") if n["key"] == "fanout:" + key]
    email = [n for n in sink_lines(server, "email") if n["key"] == "fanout:" + key]
    assert [n["user_id"] for n in push] == [ua["id"]]
    assert sorted(n["user_id"] for n in email) == sorted([ua["id"], uc["id"]])
    assert push[0]["title"] == "It is here" and push[0]["to"][0].startswith("dev-a-")
    assert email[0]["data"] == {"product_id": p["id"], "key": key}
    # Same key again: the same fan-out, nobody told twice.
    again = server.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": key},
                        token=shop.admin)
    assert again.status == 200 and again["id"] == r["id"]
    other = shop.product()
    assert_problem(server.post("/v1/admin/notifications/fanout",
                               {"product_id": other["id"], "key": key}, token=shop.admin), 409, "key")
    time.sleep(0.3)
    assert len([n for n in sink_lines(server, "email") if n["key"] == "fanout:" + key]) == 2


@pytest.mark.parametrize("body,field,status", [
    ({"key": "k"}, "product_id", 422), ({"product_id": "1", "key": "k"}, "product_id", 422),
    ({"product_id": 1}, "key", 422), ({"product_id": 1, "key": "has space"}, "key", 422),
    ({"product_id": 1, "key": "k" * 101}, "key", 422), ({"product_id": 1, "key": ""}, "key", 422),
    ({"product_id": 1, "key": "k", "title": ""}, "title", 422),
    ({"product_id": 1, "key": "k", "body": "b" * 1001}, "body", 422),
    ({"product_id": 99999999, "key": "k"}, "product_id", 404)])
def test_fanout_bad_input(server, shop, body, field, status):
    def counts():
        return server.database().one("SELECT (SELECT count(*) FROM notify_fanouts),"
                                     " (SELECT count(*) FROM notify_messages)")
    before = counts()
    assert_problem(server.post("/v1/admin/notifications/fanout", body, token=shop.admin), status, field)
    assert counts() == before


def test_fanout_authorization(server, shop):
    tok, _ = server.user()
    body = {"product_id": 1, "key": "x"}
    assert_problem(server.post("/v1/admin/notifications/fanout", body), 401)
    assert_problem(server.post("/v1/admin/notifications/fanout", body, token=tok), 403)
    assert_problem(server.post("/v1/admin/notifications/fanout", body, token=shop.seller), 403)
    assert_problem(server.get("/v1/admin/notifications/fanouts/1", token=tok), 403)
    assert_problem(server.get("/v1/admin/notifications/dead-letters", token=tok), 403)
    assert_problem(server.post("/v1/admin/notifications/dead-letters/1/retry", token=tok), 403)
    assert_problem(server.get("/v1/admin/notifications/fanouts/99999999", token=shop.admin), 404)


def test_price_drop_and_back_in_stock_reach_wishlisters(server, shop):
    p = shop.product(price=5000, stock=0)
    vid = p["variants"][0]["id"]
    tok, user = server.user()
    assert server.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    assert server.patch(f"/v1/variants/{vid}", {"price_cents": 5500}, token=shop.trusted).status == 200
    assert server.patch(f"/v1/variants/{vid}", {"price_cents": 3999}, token=shop.trusted).status == 200
    assert server.put(f"/v1/inventory/{vid}/{shop.warehouse}", {"on_hand": 4},
                      token=shop.trusted).status == 200

    def mine():
        return [n for n in sink_lines(server, "email") if n["user_id"] == user["id"]]
    got = wait_for("price drop and back in stock", lambda: len(mine()) >= 2 and mine())
    time.sleep(0.3)
    got = mine()
    kinds = sorted(n["kind"] for n in got)
    assert kinds == ["back_in_stock", "price_drop"], got  # the rise told nobody
    drop = next(n for n in got if n["kind"] == "price_drop")
    day = int(time.time() * 1000) // 86400000  # a drop to one price is news once a day
    assert drop["key"] in (f"price_drop:{vid}:3999:{day}", f"price_drop:{vid}:3999:{day - 1}")
    assert "39.99 USD" in drop["body"]
    assert drop["data"]["old_price_cents"] == 5500


def test_a_product_back_in_stock_is_news_once_however_many_variants_return(server, shop):
    """Found by reading the code: the key of a back-in-stock fan-out named
    the variant, and wishlists hold products, so restocking a shirt's three
    sizes sent every wishlister three identical "Back in stock" messages
    (and walked the wishlist three times)."""
    sizes = [{"sku": "SKU-" + uid(), "price_cents": 2500, "weight_grams": 300,
              "options": {"size": s}} for s in ("S", "M", "L")]
    p = shop.product(stock=0, variants=sizes)
    tok, user = server.user()
    assert server.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    for v in p["variants"]:
        assert server.put(f"/v1/inventory/{v['id']}/{shop.warehouse}", {"on_hand": 3},
                          token=shop.trusted).status == 200

    def mine():
        return [n for n in sink_lines(server, "email")
                if n["user_id"] == user["id"] and n["kind"] == "back_in_stock"]
    wait_for("back in stock", mine)
    # Every variant's event handled (each would have made its own fan-out).
    day = int(time.time() * 1000) // 86400000
    wait_for("the three events", lambda: server.database().scalar(
        "SELECT count(*) FROM outbox WHERE topic = 'stock.back_in_stock' AND aggregate_id = ?",
        (p["id"],)) == 3)
    time.sleep(1.0)
    got = mine()
    assert len(got) == 1, got
    assert got[0]["key"] in (f"back_in_stock:{p['id']}:{day}", f"back_in_stock:{p['id']}:{day - 1}")
    assert got[0]["data"]["product_id"] == p["id"]


def test_flash_sale_start_notifies_every_wishlister_once(make_server):
    """The flash-sale scheduler's flash_sale.started event reaches
    notify_flash_sale_started through the outbox: one fan-out per sale."""
    import datetime

    def iso(seconds):
        t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    s = make_server(dict(FAST, SHOPD_FLASH_TICK_MS="20"))
    shop = Shop(s)
    p = shop.product(price=5000, stock=20)
    tok, user = s.user()
    assert s.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    fans = bulk_wishlisters(s, p["id"], 40) + [user["id"]]
    r = s.post("/v1/admin/flash-sales", {
        "variant_id": p["variants"][0]["id"], "quantity": 5, "price_cents": 999,
        "starts_at": iso(0.3), "ends_at": iso(3600), "per_customer_limit": 1,
        "admit_per_second": 100}, token=shop.admin)
    assert r.status == 201, r
    key = f"flash_sale:{r['id']}"

    def told():
        return [n for n in sink_lines(s, "email") if n["key"] == key]
    wait_for("the sale's notifications", lambda: len(told()) >= len(fans))
    time.sleep(0.3)
    got = told()
    assert sorted(n["user_id"] for n in got) == sorted(fans)
    assert got[0]["kind"] == "flash_sale" and got[0]["data"]["sale_id"] == r["id"]
    assert got[0]["data"]["url"] == f"/v1/flash-sales/{r['id']}"
    assert len([n for n in sink_lines(s, "push") if n["key"] == key]) == 40


def test_order_confirmed_and_cancelled_reach_the_buyer(server, shop):
    """The purchase path's order events, through the outbox, to the buyer."""
    p = shop.product(price=2500, stock=5)
    b = Buyer(server)
    r = b.buy(p["variants"][0]["id"], 2)
    assert r.status == 201, r
    order = r.body
    assert server.post(f"/v1/orders/{order['id']}/cancel", {}, token=b.token).status == 200

    def mine():
        return [n for n in sink_lines(server, "email") if n["user_id"] == b.user["id"]]
    # Wait for both kinds: the refund's mail may come before the confirmation's.
    got = wait_for("the order's notifications", lambda: (lambda m: m if {
        "order_confirmed", "order_cancelled"} <= {n["kind"] for n in m} else None)(mine()))
    kinds = {n["kind"]: n for n in got}
    assert set(kinds) >= {"order_confirmed", "order_cancelled"}, got
    confirmed = kinds["order_confirmed"]
    assert confirmed["key"] == f"order.confirmed:{order['id']}"
    assert confirmed["title"] == f"Order #{order['id']} confirmed"
    assert f"{order['total_cents'] // 100}.{order['total_cents'] % 100:02d} USD" in confirmed["body"]
    assert confirmed["to"] == [b.user["email"]]


def orders_at_once(s, n):
    """n customers each buy one unit of one product, eight checkouts at a time."""
    vid = Shop(s).product(price=1500, stock=100)["variants"][0]["id"]
    buyers = [Buyer(s) for _ in range(n)]
    for b in buyers:
        assert b.add(vid, 1).status == 201
    with ThreadPoolExecutor(8) as pool:
        orders = list(pool.map(lambda b: b.checkout(), buyers))
    assert all(o.status == 201 for o in orders)
    return buyers, orders


def test_a_burst_of_orders_notifies_each_once_even_when_replayed(make_server):
    """The order consumer records a slice's notifications together (16, 4
    and 1 messages to a statement): 23 orders placed at once each notify
    their buyer once, with their own order's text, and delivering every
    event again creates no second message or notification."""
    s = make_server(FAST)
    buyers, orders = orders_at_once(s, 23)
    want = {b.user["id"]: o["id"] for b, o in zip(buyers, orders)}
    db = s.database()

    def confirmed():
        rows = db.query("SELECT n.user_id, m.event_key, m.title FROM notifications n"
                        " JOIN notify_messages m ON m.id = n.message_id"
                        " WHERE m.kind = 'order_confirmed' AND n.channel = 1")
        return rows if len(rows) >= len(want) else None
    rows = wait_for("every confirmation", confirmed)
    assert sorted((u, k) for u, k, _ in rows) == sorted(
        (u, f"order.confirmed:{o}") for u, o in want.items())
    assert all(t == f"Order #{k.split(':')[1]} confirmed" for _, k, t in rows)
    counts = lambda: (db.scalar("SELECT count(*) FROM notify_messages"),  # noqa: E731
                      db.scalar("SELECT count(*) FROM notifications"))
    before = counts()
    s.stop()
    db.execute("UPDATE outbox_consumers SET position = 0, position_txid = 0"
               " WHERE name = 'notify.orders'")
    s.start()
    wait_for("the replay", lambda: consumer_caught_up(db, "notify.orders", "topic LIKE 'order.%'"))
    assert counts() == before
    # Lost, they are made again from the events, now in whole slices.
    s.stop()
    db.execute("DELETE FROM notifications WHERE message_id IN (SELECT id FROM notify_messages"
               " WHERE kind = 'order_confirmed')")
    db.execute("DELETE FROM notify_messages WHERE kind = 'order_confirmed'")
    db.execute("UPDATE outbox_consumers SET position = 0, position_txid = 0"
               " WHERE name = 'notify.orders'")
    s.start()
    again = wait_for("the confirmations again", confirmed)
    assert sorted(again) == sorted(rows)


def test_a_notification_directory_that_does_not_exist_yet_is_created(make_server):
    """The file sink's directory, and any missing parent of it, is made at
    start: on PostgreSQL its default, data/notifications, is relative to a
    working directory that may have no data/ yet."""
    top = tempfile.mkdtemp(prefix="shopd-notify-")
    try:
        where = os.path.join(top, "not", "yet", "there")
        s = make_server(dict(FAST, SHOPD_NOTIFY_DIR=where))
        p = Shop(s).product(price=1000, stock=5)
        b = Buyer(s)
        assert b.buy(p["variants"][0]["id"]).status == 201
        path = os.path.join(where, "email.jsonl")
        wait_for("the confirmation in the new directory", lambda: os.path.exists(path) and any(
            json.loads(line)["user_id"] == b.user["id"] for line in open(path) if line.strip()))
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_rate_cap_spaces_hand_overs(make_server):
    """SHOPD_NOTIFY_RATE keeps a channel under a provider's quota: 300 emails
    in batches of 50 at 200/s cannot be handed over in less than 1.25 s."""
    s = make_server(dict(FAST, SHOPD_NOTIFY_RATE="200", SHOPD_NOTIFY_BATCH="50"))
    shop = Shop(s)
    p = shop.product(stock=None)
    bulk_wishlisters(s, p["id"], 300, devices=False)
    t0 = time.monotonic()
    r = s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "capped"},
               token=shop.admin)
    fanout_done(s, shop.admin, r["id"], 300)
    assert time.monotonic() - t0 >= 1.2
    assert len([n for n in sink_lines(s, "email") if n["key"] == "fanout:capped"]) == 300


# ---- SIGKILL in the middle of a fan-out ----------------------------------------------


def test_fanout_pauses_between_chunks_whatever_the_senders_do(make_server):
    """SHOPD_FANOUT_PAUSE_MS holds whole: senders that free room in the
    meantime used to cut it short, and a fan-out meant to take a second
    finished in 35 ms on the optimised build."""
    s = make_server(dict(FAST, SHOPD_FANOUT_CHUNK="100", SHOPD_FANOUT_PAUSE_MS="100",
                         SHOPD_NOTIFY_BATCH="50"))
    shop = Shop(s)
    p = shop.product(stock=None)
    bulk_wishlisters(s, p["id"], 1000)
    r = s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "paced"},
               token=shop.admin)
    assert r.status == 202
    f = fanout_done(s, shop.admin, r["id"], 2000)
    at = lambda k: datetime.fromisoformat(f[k].replace("Z", "+00:00"))  # noqa: E731
    took = (at("finished_at") - at("created_at")).total_seconds()
    assert took >= 0.9, f"10 chunks with 9 pauses of 100 ms took {took:.3f} s"


def test_fanout_survives_sigkill_and_notifies_everyone_once(make_server):
    s = make_server(dict(FAST, SHOPD_FANOUT_CHUNK="100", SHOPD_FANOUT_PAUSE_MS="40",
                         SHOPD_NOTIFY_BATCH="50"))
    shop = Shop(s)
    p = shop.product(stock=None)
    users = bulk_wishlisters(s, p["id"], 3000)
    r = s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "sale"},
               token=shop.admin)
    assert r.status == 202
    fid = r["id"]
    wait_for("some progress", lambda: 300 <= s.get(f"/v1/admin/notifications/fanouts/{fid}",
                                                   token=shop.admin)["users_done"] < 2500)
    s.kill()
    done_at_kill = s.database().scalar("SELECT users_done FROM notify_fanouts WHERE id = ?", (fid,))
    assert 0 < done_at_kill < 3000
    s.start()
    f = fanout_done(s, shop.admin, fid, 6000)
    assert f["users_done"] == 3000 and f["notifications"] == 6000
    assert f["delivery"] == {"pending": 0, "sent": 6000, "failed": 0, "dead": 0, "skipped": 0}
    for channel in ("push", "email"):
        lines = [n for n in sink_lines(s, channel) if n["key"] == "fanout:sale"]
        assert len(lines) == 3000, channel
        assert sorted(n["user_id"] for n in lines) == users, channel


# ---- a failing provider: retries, dead letters, retry by hand -----------------------


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver whose answer the test sets."""
    status = 500
    received = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Hook.received.append((Hook.status, body))
        self.send_response(Hook.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def hook():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Hook.status, Hook.received = 500, []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_failing_webhook_retries_then_dead_letter_then_retry(make_server, hook):
    url = f"http://127.0.0.1:{hook.server_address[1]}/notify"
    s = make_server(dict(FAST, SHOPD_NOTIFY_PROVIDER="webhook", SHOPD_NOTIFY_WEBHOOK_URL=url,
                         SHOPD_NOTIFY_MAX_ATTEMPTS="3", SHOPD_NOTIFY_WEBHOOK_TIMEOUT_MS="2000"))
    shop = Shop(s)
    p = shop.product(stock=None)  # no stock: no back-in-stock notification on the side
    tok, user = s.user()
    assert s.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    assert s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "k1"},
                  token=shop.admin).status == 202

    def dead():
        return [d for d in s.get("/v1/admin/notifications/dead-letters", token=shop.admin)["data"]
                if d["key"] == "fanout:k1"]

    def posts():
        return [(st, b) for st, b in Hook.received if b["notifications"][0]["key"] == "fanout:k1"]
    letters = wait_for("a dead letter", dead)
    assert len(letters) == 1
    d = letters[0]
    assert (d["user_id"], d["channel"], d["state"], d["attempts"]) == (user["id"], "email", "dead", 3)
    assert "500" in d["last_error"]
    assert [st for st, _ in posts()] == [500, 500, 500]
    n = posts()[0][1]["notifications"][0]
    assert posts()[0][1]["channel"] == "email" and n["id"] == d["id"] and n["to"] == [user["email"]]

    Hook.status = 200
    r = s.post(f"/v1/admin/notifications/dead-letters/{d['id']}/retry", token=shop.admin)
    assert r.status == 200 and r["id"] == d["id"] and r["state"] in ("pending", "sent")
    wait_for("the retried delivery", lambda: [st for st, _ in posts()] == [500, 500, 500, 200])
    wait_for("no dead letters", lambda: not dead())
    assert_problem(s.post(f"/v1/admin/notifications/dead-letters/{d['id']}/retry",
                          token=shop.admin), 409)
    assert_problem(s.post("/v1/admin/notifications/dead-letters/99999999/retry",
                          token=shop.admin), 404)
    assert_problem(s.get("/v1/admin/notifications/dead-letters?cursor=x", token=shop.admin), 422, "cursor")
    assert_problem(s.get("/v1/admin/notifications/dead-letters?limit=0", token=shop.admin), 422, "limit")


def test_unreachable_webhook_is_retried(make_server):
    s = make_server(dict(FAST, SHOPD_NOTIFY_PROVIDER="webhook", SHOPD_NOTIFY_MAX_ATTEMPTS="2",
                         SHOPD_NOTIFY_WEBHOOK_URL="http://127.0.0.1:9/closed"))
    shop = Shop(s)
    p = shop.product(stock=None)
    tok, _ = s.user()
    s.put(f"/v1/me/wishlist/{p['id']}", token=tok)
    s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "k"}, token=shop.admin)
    d = wait_for("a dead letter", lambda: s.get("/v1/admin/notifications/dead-letters",
                                                token=shop.admin)["data"])[0]
    assert d["key"] == "fanout:k"
    assert d["attempts"] == 2 and d["last_error"].startswith("webhook:")
    metrics = s.get("/metrics").body
    assert "shopd_notify_dead_total 1" in metrics and "shopd_notify_failed_total 1" in metrics


@pytest.mark.skipif(BACKEND != "sqlite", reason="reads SQLite's query plans")
def test_no_full_scans_in_the_notification_paths(make_server, hook):
    """The plan audit of tests/api/test_sql_plans.py over this module's paths:
    wishlists, devices, preferences, fan-outs, retries and dead letters."""
    import re
    url = f"http://127.0.0.1:{hook.server_address[1]}/notify"
    s = make_server(dict(FAST, SHOPD_NOTIFY_PROVIDER="webhook", SHOPD_NOTIFY_WEBHOOK_URL=url,
                         SHOPD_NOTIFY_MAX_ATTEMPTS="2"), start=False)
    plans = os.path.join(s.dir, "plans.txt")
    s.env["SHOPD_SQL_AUDIT"] = plans
    s.start()
    shop = Shop(s)
    p = shop.product(stock=None)
    tok, _ = s.user()
    s.put(f"/v1/me/wishlist/{p['id']}", token=tok)
    s.get("/v1/me/wishlist?limit=1", token=tok)
    s.post("/v1/me/devices", {"platform": "web", "token": "w-" + uid()}, token=tok)
    s.get("/v1/me/devices", token=tok)
    s.put("/v1/me/notification-preferences", {"sms": False}, token=tok)
    s.get("/v1/me/notification-preferences", token=tok)
    f = s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "audit"},
               token=shop.admin)
    letters = wait_for("dead letters (push and email)", lambda: (lambda d: d if len(d) == 2 else None)(
        s.get("/v1/admin/notifications/dead-letters", token=shop.admin)["data"]))
    page = s.get("/v1/admin/notifications/dead-letters?limit=1", token=shop.admin)
    rest = s.get(f"/v1/admin/notifications/dead-letters?limit=1&cursor={page['next_cursor']}",
                 token=shop.admin)
    assert [d["id"] for d in page["data"] + rest["data"]] == [d["id"] for d in letters]
    Hook.status = 200
    s.post(f"/v1/admin/notifications/dead-letters/{letters[0]['id']}/retry", token=shop.admin)
    s.get(f"/v1/admin/notifications/fanouts/{f['id']}", token=shop.admin)
    s.delete(f"/v1/me/wishlist/{p['id']}", token=tok)
    s.get("/metrics")
    s.stop()
    scans = set()
    with open(plans) as fh:
        for line in fh:
            detail, _, sql = line.rstrip("\n").partition("\t")
            m = re.match(r"SCAN (\w+)", detail)
            if not m or "USING COVERING INDEX" in detail:
                continue
            if m.group(1) in SMALL_TABLES:
                continue
            if sql.lstrip().upper().startswith("INSERT") and m.group(1) not in sql:
                continue
            if "orders_pending" in detail:  # housekeeping's partial index (test_sql_plans.py)
                continue
            scans.add(f"{detail} :: {sql[:120]}")
    assert not scans, "full scans:\n" + "\n".join(sorted(scans))


def test_each_buyer_is_sent_their_own_orders_confirmation(make_server):
    """Forty orders confirmed while the senders are held back by the rate cap
    reach them in batches of many different messages: each buyer's email is
    their own order's, whatever a sender looked up for the others of its
    batch in between."""
    s = make_server(dict(FAST, SHOPD_NOTIFY_RATE="20"))
    buyers, orders = orders_at_once(s, 40)
    want = {b.user["id"]: f"order.confirmed:{o['id']}" for b, o in zip(buyers, orders)}

    def sent():
        lines = [n for n in sink_lines(s, "email") if n["key"].startswith("order.confirmed:")]
        return lines if len(lines) >= len(want) else None
    lines = wait_for("every confirmation sent", sent, timeout=20)
    assert sorted((n["user_id"], n["key"]) for n in lines) == sorted(want.items())
    assert all(n["title"] == f"Order #{n['key'].split(':')[1]} confirmed" for n in lines)
