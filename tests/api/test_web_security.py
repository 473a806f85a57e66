"""WEB security (API.md, Web): browser sessions are an HttpOnly cookie whose
writes need the CSRF token and a same-origin Origin; the pages are served
from the binary with a CSP, strong ETags and precompressed gzip."""
import gzip
import re

import pytest

from conftest import PASSWORD, assert_problem, uid


class Direct:
    """The server without Prism in between: Prism knows bearer tokens only
    (the cookie is no security scheme of the JSON API) and re-encodes
    bodies, and these tests are about the cookie and the bytes."""

    def __init__(self, s):
        self.s = s
        self.port = s.port

    def request(self, *a, **kw):
        kw["direct"] = True
        return self.s.request(*a, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def database(self):
        return self.s.database()


@pytest.fixture
def web(server):
    return Direct(server)


def cookie_login(server, role="customer"):
    """Registers a customer asking for a browser session; returns
    (cookie header value, csrf token, the answer)."""
    email = f"web-{uid()}@example.com"
    r = server.post("/v1/auth/register", {"email": email, "password": PASSWORD, "name": "Web",
                                          "cookie": True})
    assert r.status == 201, r
    set_cookie = r.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie, "plain HTTP from a client that is no trusted proxy"
    assert "token" not in r.body, "a page's script never sees the session token"
    m = re.match(r"shopd_session=([^;]+)", set_cookie)
    return f"shopd_session={m[1]}", r["csrf_token"], r


ADDR = {"name": "Ann", "line1": "1 Pike St", "city": "Seattle", "postal_code": "98101",
        "country": "US"}


def test_cookie_session_reads_and_writes_with_the_csrf_token(web):
    cookie, csrf, reg = cookie_login(web)
    me = web.get("/v1/me", headers={"Cookie": cookie})
    assert me.status == 200 and me["id"] == reg["user"]["id"]
    assert me["csrf_token"] == csrf, "a reloaded page learns its token again"
    r = web.post("/v1/me/addresses", ADDR, headers={"Cookie": cookie, "X-CSRF-Token": csrf,
                                                       "Origin": f"http://127.0.0.1:{web.port}"},
                    direct=True)
    assert r.status == 201, r
    # A bearer login asks for no cookie and gets none (and no csrf_token).
    r = web.post("/v1/auth/login", {"email": reg["user"]["email"], "password": PASSWORD})
    assert r.status == 200 and "set-cookie" not in r.headers and "csrf_token" not in r.body


def test_a_cookie_write_without_the_token_or_from_another_origin_is_refused(web):
    cookie, csrf, _ = cookie_login(web)
    db = web.database()
    before = db.scalar("SELECT count(*) FROM addresses")
    for headers in ({"Cookie": cookie},
                    {"Cookie": cookie, "X-CSRF-Token": "x" * 43},
                    {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": "http://evil.example"},
                    {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": "null"},
                    {"Cookie": cookie, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}):
        r = web.post("/v1/me/addresses", ADDR, headers=headers)
        assert_problem(r, 403)
    assert db.scalar("SELECT count(*) FROM addresses") == before, "nothing changed"
    # A cross-site form post (no JSON, no token) on an admin route: 403 before anything else.
    r = web.request("POST", "/v1/admin/promotions", raw=b"name=x&type=fixed",
                       headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                                "Origin": "http://evil.example"})
    assert_problem(r, 403)
    # Reads need no token; a bearer token needs none either.
    assert web.get("/v1/me/addresses", headers={"Cookie": cookie}).status == 200


def test_logout_by_cookie_clears_it(web):
    cookie, csrf, _ = cookie_login(web)
    r = web.post("/v1/auth/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert r.status == 204
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert web.get("/v1/me", headers={"Cookie": cookie}).status == 401


def test_secure_cookie_behind_a_tls_proxy(make_server):
    s = Direct(make_server({"SHOPD_TRUSTED_PROXIES": "127.0.0.1"}))
    r = s.post("/v1/auth/register", {"email": f"tls-{uid()}@example.com", "password": PASSWORD,
                                      "name": "T", "cookie": True},
               headers={"X-Forwarded-Proto": "https"})
    assert r.status == 201 and "; Secure" in r.headers["set-cookie"]


def test_pages_carry_csp_etag_and_gzip(web):
    r = web.get("/", headers={"Accept": "text/html"})
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]
    assert "<script" in r.body and not re.search(r"<script(?![^>]*\bsrc=)", r.body), "no inline script"
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag), etag
    assert web.get("/", headers={"If-None-Match": etag}).status == 304
    asset = re.search(r'src="(/assets/[0-9a-f]+/store\.js)"', r.body)[1]
    a = web.get(asset, headers={"Accept-Encoding": "gzip, br"})
    assert a.status == 200 and a.headers["content-encoding"] == "gzip"
    assert "immutable" in a.headers["cache-control"] and "max-age=31536000" in a.headers["cache-control"]
    assert b"import" in gzip.decompress(a.raw)
    plain = web.get(asset, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in plain.headers and plain.raw == gzip.decompress(a.raw)
    assert plain.headers["etag"] != a.headers["etag"], "each representation has its own strong ETag"
    assert web.get(asset, headers={"If-None-Match": plain.headers["etag"]}).status == 304
    old = web.get(asset.replace(asset.split("/")[2], "000000000000"))
    assert old.status == 200 and old.headers["cache-control"] == "no-cache"
    assert_problem(web.get(asset.rsplit("/", 1)[0] + "/nope.js"), 404)
    admin = web.get("/admin/")
    assert admin.status == 200 and "admin.js" in admin.body
    assert web.get("/admin").status == 308
