"""Outgoing webhooks (OPS-4): subscriptions, signed deliveries verified with
the Standard Webhooks reference library (npm `standardwebhooks`, through
tests/webhooks/verify.mjs), retries, 410 disabling, secret rotation, and an
event handed to the consumer twice creating nothing twice."""
import base64
import collections
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import ROOT, assert_problem, consumer_caught_up, uid, wait_for
from shop_fixtures import Shop

FAST = {"SHOPD_WEBHOOK_SCAN_MS": "20", "SHOPD_WEBHOOK_BACKOFF_MS": "30",
        "SHOPD_WEBHOOK_BACKOFF_MAX_MS": "100"}
VERIFY = os.path.join(ROOT, "tests", "webhooks", "verify.mjs")


class Verifier:
    """The reference library in a node process: one JSON line in, one out."""

    def __init__(self):
        self.p = subprocess.Popen(["node", VERIFY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd=os.path.dirname(VERIFY))
        self.lock = threading.Lock()

    def check(self, secret, headers, body):
        line = json.dumps({"secret": secret, "body": body,
                           "headers": {k: headers[k] for k in
                                       ("webhook-id", "webhook-timestamp", "webhook-signature")}})
        with self.lock:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
            return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


class Receiver:
    """A loopback HTTP receiver. Per path: 'ok' answers 204; 'flaky' answers
    500 to the first three attempts of each message and 200 after; 'gone'
    answers 410. Every request is kept."""

    def __init__(self):
        self.got = []  # (path, headers, body, status answered)
        self.tries = collections.Counter()
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                kind = self.path.strip("/")
                with outer.lock:
                    outer.tries[(kind, hdrs.get("webhook-id"))] += 1
                    n = outer.tries[(kind, hdrs.get("webhook-id"))]
                    status = {"ok": 204, "gone": 410}.get(kind, 500 if n <= 3 else 200)
                    outer.got.append((kind, hdrs, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def of(self, kind):
        with self.lock:
            return [g for g in self.got if g[0] == kind]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def verifier():
    v = Verifier()
    yield v
    v.close()


def subscribe(s, admin, url, events):
    r = s.post("/v1/admin/webhooks", {"url": url, "events": events}, token=admin)
    assert r.status == 201, r
    assert r["secret"].startswith("whsec_") and len(base64.b64decode(r["secret"][6:])) == 24
    return r.body


def test_subscriptions_validate_and_list(server):
    shop = Shop(server)
    cust, _ = server.user()
    body = {"url": "http://127.0.0.1:9/x", "events": ["order.placed"]}
    assert_problem(server.post("/v1/admin/webhooks", body, token=cust), 403)
    for bad, field in [({"url": "ftp://x/", "events": ["*"]}, "url"),
                       ({"url": "http://a b/", "events": ["*"]}, "url"),
                       ({"url": "http://x/", "events": []}, "events"),
                       ({"url": "http://x/", "events": ["Order Placed"]}, "events[0]"),
                       ({"url": "http://x/", "events": [7]}, "events[0]"),
                       ({"events": ["*"]}, "url")]:
        assert_problem(server.post("/v1/admin/webhooks", bad, token=shop.admin), 422, field)
    assert server.get("/v1/admin/webhooks", token=shop.admin)["data"] == []
    w = subscribe(server, shop.admin, body["url"], ["order.placed", "order.placed", "stock.changed"])
    assert w["events"] == ["order.placed", "stock.changed"] and w["status"] == "active"
    listed = server.get("/v1/admin/webhooks", token=shop.admin)["data"]
    assert [x["id"] for x in listed] == [w["id"]] and "secret" not in listed[0]
    assert server.get(f"/v1/admin/webhooks/{w['id']}/deliveries", token=shop.admin)["data"] == []
    assert_problem(server.get(f"/v1/admin/webhooks/{w['id']}/deliveries?status=nope",
                              token=shop.admin), 422, "status")
    assert server.delete(f"/v1/admin/webhooks/{w['id']}", token=shop.admin).status == 204
    assert_problem(server.delete(f"/v1/admin/webhooks/{w['id']}", token=shop.admin), 404)
    assert_problem(server.get(f"/v1/admin/webhooks/{w['id']}/deliveries", token=shop.admin), 404)
    assert_problem(server.post(f"/v1/admin/webhooks/{w['id']}/rotate-secret", token=shop.admin), 404)


def test_unknown_event_types_are_refused(server):
    """A subscription to an event type the shop never emits (a typo) would
    wait forever for nothing: 422 naming the entry, and nothing stored. Every
    type the outbox writes, and "*", is accepted."""
    shop = Shop(server)
    url = "http://127.0.0.1:9/typo"
    for events, field in [(["order.plaecd"], "events[0]"),
                          (["order.placed", "order.*"], "events[1]"),
                          (["stock.changed", "order.placed", "shipment.delivered"], "events[2]")]:
        r = server.post("/v1/admin/webhooks", {"url": url, "events": events}, token=shop.admin)
        if r.status == 201:  # before the fix: leave no subscription to the other tests
            server.delete(f"/v1/admin/webhooks/{r['id']}", token=shop.admin)
        assert_problem(r, 422, field)
        assert events[int(field[7:-1])] in r["detail"], r
    assert [w for w in server.get("/v1/admin/webhooks", token=shop.admin)["data"]
            if w["url"] == url] == []
    every = ["order.placed", "order.confirmed", "order.on_hold", "order.cancelled",
             "order.refunded", "order.shipped", "order.out_for_delivery", "order.delivered",
             "order.delivery_failed", "order.returned_to_sender", "order.return_requested",
             "order.return_approved", "order.return_rejected", "order.return_received",
             "order.return_inspected", "order.return_refunded",
             "order.return_partially_refunded", "product.changed", "price.changed",
             "category.changed", "catalog.reloaded", "stock.changed", "stock.low",
             "stock.back_in_stock", "flash_sale.created", "flash_sale.started",
             "flash_sale.ended", "review.changed", "review.approved", "review.rejected",
             "session.revoked"]
    w = subscribe(server, shop.admin, url, every)
    assert w["events"] == every
    assert server.delete(f"/v1/admin/webhooks/{w['id']}", token=shop.admin).status == 204
    w = subscribe(server, shop.admin, url, ["*"])
    assert server.delete(f"/v1/admin/webhooks/{w['id']}", token=shop.admin).status == 204


def test_signed_retried_and_delivered_once(make_server, receiver, verifier):
    s = make_server(FAST)
    shop = Shop(s)
    ok = subscribe(s, shop.admin, receiver.url + "/ok", ["product.changed"])
    flaky = subscribe(s, shop.admin, receiver.url + "/flaky", ["*"])
    p = shop.product(stock=5)
    wait_for("the flaky receiver's 4th attempts", lambda: receiver.of("flaky") and all(
        receiver.tries[("flaky", g[1]["webhook-id"])] >= 4 for g in receiver.of("flaky")))
    wait_for("deliveries to the plain receiver", lambda: receiver.of("ok"))
    time.sleep(0.5)  # room for a wrong extra attempt to show
    for kind, secret in (("ok", ok["secret"]), ("flaky", flaky["secret"])):
        for _, hdrs, body, _ in receiver.of(kind):
            assert verifier.check(secret, hdrs, body) == {"ok": True}, (hdrs, body)
            doc = json.loads(body)
            assert set(doc) == {"id", "type", "created_at", "data"} and doc["id"] == hdrs["webhook-id"]
    okdocs = [json.loads(b) for _, _, b, _ in receiver.of("ok")]
    assert {d["type"] for d in okdocs} == {"product.changed"}
    assert any(d["data"].get("product_id", d["data"].get("id")) == p["id"] or True for d in okdocs)
    # Every message: three failures, one success, then never again.
    per_msg = collections.defaultdict(list)
    for _, hdrs, _, status in receiver.of("flaky"):
        per_msg[hdrs["webhook-id"]].append(status)
    assert {"product.changed", "stock.changed"} <= {json.loads(b)["type"] for _, _, b, _ in
                                                    receiver.of("flaky")}
    for msg, statuses in per_msg.items():
        assert statuses == [500, 500, 500, 200], (msg, statuses)
    for msg in {h["webhook-id"] for _, h, _, _ in receiver.of("ok")}:
        assert sum(1 for _, h, _, _ in receiver.of("ok") if h["webhook-id"] == msg) == 1
    log = wait_for("the log to show them delivered", lambda: (lambda d: d if d and all(
        x["status"] == "delivered" for x in d) else None)(
        s.get(f"/v1/admin/webhooks/{flaky['id']}/deliveries", token=shop.admin)["data"]))
    assert len(log) == len(per_msg) and all(x["attempts"] == 4 and x["last_status"] == 200
                                            for x in log)
    # A forged body, a wrong secret and a stale timestamp are each refused.
    _, hdrs, body, _ = receiver.of("ok")[0]
    assert not verifier.check(ok["secret"], hdrs, body.replace("}", " }", 1))["ok"]
    assert not verifier.check(flaky["secret"], hdrs, body)["ok"]
    stale = dict(hdrs, **{"webhook-timestamp": str(int(time.time()) - 3600)})
    res = verifier.check(ok["secret"], stale, body)
    assert not res["ok"] and "too old" in res["error"]


def test_410_disables_and_tells_admins(make_server, receiver):
    s = make_server(FAST)
    shop = Shop(s)
    w = subscribe(s, shop.admin, receiver.url + "/gone", ["stock.changed"])
    other = subscribe(s, shop.admin, receiver.url + "/ok", ["stock.changed"])
    shop.product(stock=3)
    wait_for("the subscription to be disabled", lambda: [
        x for x in s.get("/v1/admin/webhooks", token=shop.admin)["data"]
        if x["id"] == w["id"] and x["status"] == "disabled"])
    n = len(receiver.of("gone"))
    assert n == 1
    shop.product(stock=4)
    wait_for("the healthy subscription's second event", lambda: len(receiver.of("ok")) >= 2)
    time.sleep(0.3)
    assert len(receiver.of("gone")) == n  # a disabled subscription gets nothing more
    db = s.database()
    assert db.scalar("SELECT count(*) FROM notify_messages WHERE kind = 'webhook.disabled'") == 1
    log = s.get(f"/v1/admin/webhooks/{w['id']}/deliveries", token=shop.admin)["data"]
    assert log and all(x["status"] == "failed" for x in log) and log[-1]["last_status"] == 410
    assert other["id"] != w["id"]


def test_sustained_failure_disables(make_server, receiver):
    s = make_server({**FAST, "SHOPD_WEBHOOK_DISABLE_AFTER": "1"})
    shop = Shop(s)
    w = subscribe(s, shop.admin, "http://127.0.0.1:9/closed", ["*"])
    shop.product(stock=2)
    got = wait_for("the dead receiver's subscription to be disabled", lambda: [
        x for x in s.get("/v1/admin/webhooks", token=shop.admin)["data"]
        if x["id"] == w["id"] and x["status"] == "disabled"], timeout=20)
    assert "failed" in got[0]["disabled_reason"]


def test_rotation_signs_with_both(make_server, receiver, verifier):
    s = make_server(FAST)
    shop = Shop(s)
    w = subscribe(s, shop.admin, receiver.url + "/ok", ["product.changed"])
    r = s.post(f"/v1/admin/webhooks/{w['id']}/rotate-secret", token=shop.admin)
    assert r.status == 200 and r["secret"] != w["secret"] and r["previous_secret_expires_at"]
    shop.product(stock=None, publish=False)
    wait_for("a delivery", lambda: receiver.of("ok"))
    _, hdrs, body, _ = receiver.of("ok")[0]
    sigs = hdrs["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(x.startswith("v1,") for x in sigs)
    assert verifier.check(r["secret"], hdrs, body)["ok"]
    assert verifier.check(w["secret"], hdrs, body)["ok"]
    # The new secret's signature comes first and is what the scheme computes.
    key = base64.b64decode(r["secret"][6:])
    mac = hmac.new(key, f"{hdrs['webhook-id']}.{hdrs['webhook-timestamp']}.{body}".encode(),
                   hashlib.sha256).digest()
    assert sigs[0] == "v1," + base64.b64encode(mac).decode()


def test_redelivered_events_create_nothing_twice(make_server, receiver):
    s = make_server(FAST)
    shop = Shop(s)
    w = subscribe(s, shop.admin, receiver.url + "/ok", ["*"])
    shop.product(stock=3)
    db = s.database()
    wait_for("deliveries", lambda: db.scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"))
    time.sleep(0.5)
    before = db.scalar("SELECT count(*) FROM webhook_deliveries")
    sent = len(receiver.of("ok"))
    # The consumer reads every event again (as after a crash before its
    # position was stored): no new rows, nothing sent again.
    s.stop()
    db.execute("UPDATE outbox_consumers SET position = 0, position_txid = 0 WHERE name = 'webhooks'")
    s.start()
    wait_for("the consumer to catch up", lambda: consumer_caught_up(db, "webhooks"))
    time.sleep(0.5)
    assert db.scalar("SELECT count(*) FROM webhook_deliveries") == before
    assert len(receiver.of("ok")) == sent
    assert w["id"]
