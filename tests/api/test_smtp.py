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


# ---- AUTH and STARTTLS ---------------------------------------------------------------------

USER, PASSWORD = "shop-relay", "s3cret pass"


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 made here with openssl: the shop is told to
    trust it through SHOPD_SMTP_CA_FILE."""
    import subprocess
    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class AuthInbox(Inbox):
    """Records, with each message, whether its session was authenticated, how,
    and whether it was over TLS."""

    def __init__(self):
        super().__init__()
        self.sessions = []
        self.mechanisms = []

    async def handle_DATA(self, server, session, envelope):
        self.sessions.append({"authenticated": session.authenticated,
                              "tls": session.ssl is not None})
        return await super().handle_DATA(server, session, envelope)


def start_relay(port, cert=None, require_tls=False, auth=True, exclude=()):
    from aiosmtpd.smtp import AuthResult
    import ssl
    inbox = AuthInbox()

    def authenticator(server, session, envelope, mechanism, data):
        inbox.mechanisms.append(mechanism)
        ok = data.login == USER.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    kw = {"hostname": "127.0.0.1", "port": port}
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        kw.update(tls_context=ctx, require_starttls=require_tls)
    if auth:
        kw.update(authenticator=authenticator, auth_required=True,
                  auth_require_tls=cert is not None, auth_exclude_mechanism=list(exclude))
    c = aiosmtpd.Controller(inbox, **kw)
    c.start()
    return c, inbox


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_and_auth(make_server, tmp_path, mechanism):
    cert = self_signed(tmp_path)
    port = free_port()
    c, inbox = start_relay(port, cert, require_tls=True,
                           exclude=["LOGIN"] if mechanism == "PLAIN" else ["PLAIN"])
    try:
        s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}",
                         "SHOPD_SMTP_USER": USER, "SHOPD_SMTP_PASSWORD": PASSWORD,
                         "SHOPD_SMTP_CA_FILE": str(cert[0])})
        shop = Shop(s)
        toks = [s.user() for _ in range(3)]
        fanout(s, shop, [t for t, _ in toks], "tls-" + uid())
        wait_for("three emails", lambda: len(inbox.messages) >= 3)
        assert sorted(r[0] for r, _ in inbox.messages) == sorted(u["email"] for _, u in toks)
        assert all(x == {"authenticated": True, "tls": True} for x in inbox.sessions)
        assert set(inbox.mechanisms) == {mechanism}
    finally:
        c.stop()


def dead_letters(s, shop, user_ids):
    return [d for d in s.get("/v1/admin/notifications/dead-letters", token=shop.admin)["data"]
            if d["user_id"] in user_ids]


def test_wrong_password_is_retried_then_dead_lettered_never_sent(make_server, tmp_path):
    cert = self_signed(tmp_path)
    port = free_port()
    c, inbox = start_relay(port, cert, require_tls=True)
    try:
        s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}",
                         "SHOPD_SMTP_USER": USER, "SHOPD_SMTP_PASSWORD": "wrong",
                         "SHOPD_SMTP_CA_FILE": str(cert[0]), "SHOPD_NOTIFY_MAX_ATTEMPTS": "3"})
        shop = Shop(s)
        toks = [s.user() for _ in range(2)]
        fanout(s, shop, [t for t, _ in toks], "badpw-" + uid())
        ids = {u["id"] for _, u in toks}
        letters = wait_for("two dead letters", lambda: (lambda d: d if len(d) == 2 else None)(
            dead_letters(s, shop, ids)))
        for d in letters:
            assert d["attempts"] == 3, d  # retried, not refused at once
            assert "535" in d["last_error"] or "ogin denied" in d["last_error"], d
        assert inbox.messages == [] and inbox.mechanisms  # it tried, nothing went through
    finally:
        c.stop()


def test_relay_without_auth_gets_nothing_from_a_shop_with_credentials(make_server):
    """A relay that offers no AUTH (libcurl would go on without it): the shop
    aborts before DATA and retries; nothing is delivered unauthenticated."""
    port = free_port()
    c, inbox = start_relay(port, auth=False)
    try:
        s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}",
                         "SHOPD_SMTP_USER": USER, "SHOPD_SMTP_PASSWORD": PASSWORD,
                         "SHOPD_SMTP_TLS": "try", "SHOPD_NOTIFY_MAX_ATTEMPTS": "2"})
        shop = Shop(s)
        tok, user = s.user()
        fanout(s, shop, [tok], "noauth-" + uid())
        d = wait_for("a dead letter", lambda: dead_letters(s, shop, {user["id"]}))[0]
        assert d["attempts"] == 2 and "did not authenticate" in d["last_error"], d
        assert inbox.messages == []
    finally:
        c.stop()


def test_tls_required_but_not_offered_or_not_trusted_sends_nothing(make_server, tmp_path):
    cert = self_signed(tmp_path)
    plain_port, tls_port = free_port(), free_port()
    plain, plain_inbox = start_relay(plain_port)             # no STARTTLS at all
    tls, tls_inbox = start_relay(tls_port, cert, require_tls=True)
    try:
        for port, extra in ((plain_port, {}),                 # default with a user: require
                            (tls_port, {})):                  # certificate not trusted (no CA file)
            s = make_server({**FAST, "SHOPD_SMTP_URL": f"smtp://127.0.0.1:{port}",
                             "SHOPD_SMTP_USER": USER, "SHOPD_SMTP_PASSWORD": PASSWORD,
                             "SHOPD_NOTIFY_MAX_ATTEMPTS": "2", **extra})
            shop = Shop(s)
            tok, user = s.user()
            fanout(s, shop, [tok], "notls-" + uid())
            d = wait_for("a dead letter", lambda: dead_letters(s, shop, {user["id"]}))[0]
            assert d["attempts"] == 2, d
        assert plain_inbox.messages == [] and tls_inbox.messages == []
        assert plain_inbox.mechanisms == [] and tls_inbox.mechanisms == []  # no password sent
    finally:
        plain.stop()
        tls.stop()
