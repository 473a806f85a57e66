"""A failed read in the background is a round to try again, never "there is
nothing": the change feed must not jump past other processes' events it
could not read, the search snapshot's catch-up must not take a failed read
of the outbox for the end of the changes, and a notification whose message
or addresses could not be read is sent later, not skipped.

Each test fails one background read (store.read, matched on its SQL) and
checks that what it would have lost arrives once the database answers again.
Each test fails before the fix it names (work/changefeed.c, shop/views.c,
work/notify_worker.c)."""
import json
import os
import time
import urllib.parse

import pytest

from conftest import Server, uid, wait_for
from saga_faults import arm, disarm
from shop_fixtures import Buyer, Shop

# Servers of their own with failures armed (conftest.py).
pytestmark = pytest.mark.direct

# The outbox read every reader of events shares (shop/outbox.c outbox_after).
OUTBOX_READ = "AS this_tx"


def found(server, word, pid):
    r = server.get("/v1/search?" + urllib.parse.urlencode({"q": word, "limit": 100}))
    assert r.status == 200, r
    return pid in [p["id"] for p in r["data"]]


def test_a_failed_read_of_the_change_feed_skips_no_event(make_server):
    """The feed moved to the last final event after any read that returned
    fewer rows than asked, a failed one too: another process's change was
    never applied here."""
    a = make_server({"SHOPD_FAULTS_API": "1"})
    shop = Shop(a)
    b = Server(db=a.db).start()  # the other process
    try:
        old, new = "Feedold" + uid()[:5], "Feednew" + uid()[:5]
        p = shop.product(title=f"{old} Lantern")
        wait_for("the product in a's index", lambda: found(a, old, p["id"]))
        arm(a, shop, "store.read", nth=1, mode="error", times=0, match=OUTBOX_READ)
        try:
            r = b.patch(f"/v1/products/{p['id']}", {"title": f"{new} Lantern"},
                        token=shop.trusted)
            assert r.status == 200, r
            time.sleep(0.6)  # a's feed polls every 100 ms: each of them fails
        finally:
            fired = disarm(a, shop)["store.read"][1]
        assert fired >= 2, fired
        wait_for("b's change in a's index", lambda: found(a, new, p["id"]), timeout=5)
        assert not found(a, old, p["id"])
    finally:
        b.cleanup()


def test_a_failed_read_behind_a_snapshot_refuses_it(make_server):
    """The catch-up took a failed read of the outbox for the end of the
    changes and served the snapshot as it was: the renamed product stayed
    under its old name until it changed again."""
    s = make_server(start=False)
    snap = os.path.join(s.dir, "index.snapshot")
    s.env.update({"SHOPD_SEARCH_SNAPSHOT": snap, "SHOPD_LOG_LEVEL": "info"})
    s.start()
    shop = Shop(s)
    old, new = "Snapold" + uid()[:5], "Snapnew" + uid()[:5]
    p = shop.product(title=f"{old} Teapot")
    wait_for("the product in the index", lambda: found(s, old, p["id"]))
    s.stop()  # a clean stop saves the snapshot
    assert os.path.getsize(snap) > 0

    # Renamed behind the snapshot, by a process that keeps none.
    s.env["SHOPD_SEARCH_SNAPSHOT"] = "off"
    s.start()
    r = s.patch(f"/v1/products/{p['id']}", {"title": f"{new} Teapot"}, token=shop.trusted)
    assert r.status == 200, r
    s.stop()

    # The first read of the outbox at start is the catch-up's: it fails.
    s.env.update({"SHOPD_SEARCH_SNAPSHOT": snap,
                  "SHOPD_FAULTS": f"store.read:n=1:times=1:match={OUTBOX_READ}"})
    s.start()
    refused = [json.loads(line[line.index("{"):]) for line in s.logtext().splitlines()
               if '"event":"search.snapshot_refused"' in line]
    assert refused and refused[-1]["reason"] == "cannot read the outbox", s.logtext()
    assert found(s, new, p["id"]) and not found(s, old, p["id"])


def test_a_failed_read_of_the_addresses_delays_a_notification(make_server):
    """The sender took a failed read of the buyer's address for "no address
    on this channel" and skipped the order's e-mail for good."""
    s = make_server({"SHOPD_FAULTS_API": "1", "SHOPD_NOTIFY_BACKOFF_MS": "100",
                     "SHOPD_NOTIFY_BACKOFF_MAX_MS": "200"})
    shop = Shop(s)
    p = shop.product(price=1500, stock=3)
    buyer = Buyer(s)
    sink = os.path.join(s.dir, "notifications", "email.jsonl")

    def confirmed():
        if not os.path.exists(sink):
            return None
        with open(sink) as f:
            return [n for n in map(json.loads, filter(str.strip, f))
                    if n["user_id"] == buyer.user["id"] and n["kind"] == "order_confirmed"]

    arm(s, shop, "store.read", nth=1, mode="error", times=0,
        match="FROM users u LEFT JOIN notification_prefs")
    try:
        r = buyer.buy(p["variants"][0]["id"], 1)
        assert r.status == 201, r
        time.sleep(1.0)  # the order's event reaches the sender, whose reads fail
        assert not confirmed()
    finally:
        fired = disarm(s, shop)["store.read"][1]
    assert fired >= 1, fired
    got = wait_for("the order's e-mail", confirmed, timeout=10)
    assert len(got) == 1 and got[0]["to"] == [buyer.user["email"]], got


def test_a_failed_count_of_wishlisters_is_not_zero(make_server):
    """A fan-out's first step counted the product's wishlisters with a read
    whose failure gave 0: the fan-out reported 0 users to reach while it
    reached every one of them (work/fanout.c)."""
    s = make_server({"SHOPD_FAULTS_API": "1"})
    shop = Shop(s)
    p = shop.product()
    for _ in range(3):
        tok, _ = s.user()
        assert s.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    arm(s, shop, "store.read", nth=1, mode="error", times=1,
        match="SELECT count(*) FROM wishlist WHERE product_id = ?")
    r = s.post("/v1/admin/notifications/fanout", {"product_id": p["id"], "key": "k-" + uid()},
               token=shop.admin)
    assert r.status == 202, r

    def done():
        f = s.get(f"/v1/admin/notifications/fanouts/{r['id']}", token=shop.admin).body
        return f if f["state"] == "done" else None
    f = wait_for("the fan-out", done, timeout=15)
    assert disarm(s, shop)["store.read"][1] == 1
    assert f["users_total"] == 3 and f["users_done"] == 3 and f["notifications"] == 3, f


def test_a_failed_read_of_a_changed_product_is_refreshed_again(make_server):
    """After a committed change, the search index re-reads the product and
    hands the row to the recommendation model too. A failed read left the
    search entry as it was until the product changed again, and the model
    (when it read the product itself) took it for deleted: it was never
    recommended again and its events were refused with 404 (shop/changes.c,
    recs/load.c). Now the one read that fails is tried again, for both."""
    s = make_server({"SHOPD_FAULTS_API": "1"})
    shop = Shop(s)
    old = "Refrold" + uid()[:5]
    p = shop.product(title=f"{old} Kettle")
    buyer = Buyer(s)
    wait_for("the product in the index", lambda: found(s, old, p["id"]))
    for what, sql in (("search", "p.title, p.description"),
                      ("search and recommendations", "p.title, p.description")):
        new = "Refr" + what[:4] + uid()[:5]
        arm(s, shop, "store.read", nth=1, mode="error", times=1, match=sql)
        r = s.patch(f"/v1/products/{p['id']}", {"title": f"{new} Kettle"}, token=shop.trusted)
        assert r.status == 200, r  # the change is committed: its success stands
        wait_for(f"the failed read ({what})",
                 lambda: s.get("/v1/admin/faults", token=shop.admin)["data"][0]["fired"] == 1)
        disarm(s, shop)
        wait_for(f"the change in the index ({what})", lambda: found(s, new, p["id"]), timeout=5)
        r = s.post("/v1/events", {"type": "view", "product_id": p["id"]}, token=buyer.token)
        assert r.status == 202, (what, r)
    assert not found(s, old, p["id"])
