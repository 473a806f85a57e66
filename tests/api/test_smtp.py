"""Real email (NTF-1): the SMTP provider against a real SMTP server on
loopback (Debian's python3-aiosmtpd): a multipart text+HTML message per
notification with List-Unsubscribe; a server that refuses (5xx: a dead
letter at once) and one that is down (retried until it is back: nothing
lost, nothing sent twice)."""
import email
import email.policy
import socket

import pytest

from conftest import free_port, uid, wait_for
from shop_fixtures import Shop

aiosmtpd = pytest.importorskip("aiosmtpd.controller")

FAST = {"SHOPD_NOTIFY_SCAN_MS": "50", "SHOPD_NOTIFY_BACKOFF_MS": "100",
        "SHOPD_NOTIFY_BACKOFF_MAX_MS": "300", "SHOPD_NOTIFY_PROVIDER_EMAIL": "smtp",
        "SHOPD_SMTP_FROM": "shop@example.com", "SHOPD_SMTP_TIMEOUT_MS": "3000"}


class Inbox:
    """An aiosmtpd handler: keeps every message; refuses recipients whose
    address starts with "refuse"."""

    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos[:],
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 Message accepted"


def start_smtp(port):
    inbox = Inbox()
    c = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=port)
    c.start()
    return c, inbox


def fanout(s, shop, users, key, title="Ünïcode sale", body="Go <look> & buy."):
    p = shop.product(stock=None)
    for tok in users:
        assert s.put(f"/v1/me/wishlist/{p['id']}", token=tok).status == 201
    r = s.post("/v1/admin/notifications/fanout",
               {"product_id": p["id"], "key": key, "title": title, "body": body}, token=shop.admin)
    assert r.status == 202, r


def test_messages_are_multipart_with_unsubscribe(make_server):
    port = free_port()
    c, inbox = start_smtp(port)
    try:
        s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}"})
        shop = Shop(s)
        toks = [s.user() for _ in range(3)]
        fanout(s, shop, [t for t, _ in toks], "smtp-" + uid())
        wait_for("three emails", lambda: len(inbox.messages) >= 3)
        got = sorted(r[0] for r, _ in inbox.messages)
        assert got == sorted(u["email"] for _, u in toks)
        for rcpt, m in inbox.messages:
            assert m["From"] == "shop@example.com" and m["Subject"] == "Ünïcode sale"
            assert m["List-Unsubscribe"].startswith("<mailto:shop@example.com")
            assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert m["Message-ID"].startswith("<notification-")
            assert m.get_content_type() == "multipart/alternative"
            text = m.get_body(("plain",)).get_content()
            html = m.get_body(("html",)).get_content()
            assert "Go <look> & buy." in text and "Go &lt;look&gt; &amp; buy." in html
        ids = [m["Message-ID"] for _, m in inbox.messages]
        assert len(set(ids)) == len(ids)
    finally:
        c.stop()


def test_refused_recipient_is_a_dead_letter(make_server):
    port = free_port()
    c, inbox = start_smtp(port)
    try:
        s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}"})
        shop = Shop(s)
        good, _ = s.user()
        bad, bad_user = s.user(email=f"refuse-{uid()}@example.com")
        key = "refuse-" + uid()
        fanout(s, shop, [good, bad], key)
        letters = wait_for("a dead letter", lambda: [
            d for d in s.get("/v1/admin/notifications/dead-letters", token=shop.admin)["data"]
            if d["user_id"] == bad_user["id"]])
        assert "550" in letters[0]["last_error"] and letters[0]["attempts"] == 1
        wait_for("the good email", lambda: len(inbox.messages) == 1)
    finally:
        c.stop()


def test_server_down_then_back_loses_nothing(make_server):
    port = free_port()
    s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}",
                     "SHOPD_NOTIFY_MAX_ATTEMPTS": "50"})
    shop = Shop(s)
    toks = [s.user() for _ in range(4)]
    fanout(s, shop, [t for t, _ in toks], "down-" + uid())
    db = s.database()
    wait_for("failed attempts while the server is down", lambda: db.scalar(
        "SELECT count(*) FROM notifications WHERE channel = 1 AND attempts >= 2") == 4)
    c, inbox = start_smtp(port)
    try:
        wait_for("every email once the server is back", lambda: len(inbox.messages) >= 4)
        wait_for("every row sent", lambda: db.scalar(
            "SELECT count(*) FROM notifications WHERE channel = 1 AND state = 1") == 4)
        assert sorted(r[0] for r, _ in inbox.messages) == sorted(u["email"] for _, u in toks)
    finally:
        c.stop()
