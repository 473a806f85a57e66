"""Accounts: register, login, logout, guests, throttling, address book."""
import time

from conftest import PASSWORD, assert_problem, uid


def register(server, email=None, password=PASSWORD, name="Ann"):
    return server.post("/v1/auth/register", {"email": email or f"u-{uid()}@example.com",
                                             "password": password, "name": name})


def test_register_login_me_logout(server):
    email = f"Mixed-{uid()}@Example.com"
    r = register(server, email)
    assert r.status == 201
    assert r["user"]["email"] == email.lower() and r["user"]["role"] == "customer"
    assert len(r["token"]) == 43
    assert "set-cookie" not in r.headers, "a bearer client gets no cookie (cookie: true asks for one)"

    r2 = server.post("/v1/auth/login", {"email": email, "password": PASSWORD})
    assert r2.status == 200 and r2["token"] != r["token"], "login issues a new token"
    me = server.get("/v1/me", token=r2["token"])
    assert me.status == 200 and me["id"] == r["user"]["id"]

    assert server.post("/v1/auth/logout", token=r2["token"]).status == 204
    assert_problem(server.get("/v1/me", token=r2["token"]), 401)
    # the first session is still valid: logout ends one session only
    assert server.get("/v1/me", token=r["token"]).status == 200


def test_register_bad_input_changes_nothing(server):
    email = f"dup-{uid()}@example.com"
    assert register(server, email).status == 201
    assert_problem(register(server, email), 409, "email")
    assert_problem(register(server, "not-an-email"), 422, "email")
    assert_problem(register(server, password="short"), 422, "password")
    assert_problem(register(server, password="x" * 129), 422, "password")
    assert_problem(register(server, name=""), 422, "name")
    r = register(server, name="   ")
    assert_problem(r, 422, "name")
    assert "blank" in r["detail"], r
    assert_problem(register(server, name="n" * 101), 422, "name")
    assert_problem(server.post("/v1/auth/register", {"email": 5, "password": [], "name": None}),
                   422, "email")
    assert_problem(server.post("/v1/auth/register", raw=b"{nope", headers={
        "Content-Type": "application/json"}), 400)
    assert_problem(server.post("/v1/auth/register", raw=b"[1,2]", headers={
        "Content-Type": "application/json"}), 400)
    assert_problem(server.post("/v1/auth/register", raw=b"email=a", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 415)
    deep = b"[" * 100 + b"]" * 100
    assert_problem(server.post("/v1/auth/register", raw=b'{"a":' + deep + b"}", headers={
        "Content-Type": "application/json"}), 400)
    # none of the bad attempts created an account
    r = server.post("/v1/auth/login", {"email": "not-an-email", "password": PASSWORD})
    assert_problem(r, 401)


def test_body_limit(server):
    big = b'{"email":"' + b"a" * (1024 * 1024 + 10) + b'"}'
    r = server.post("/v1/auth/register", raw=big, headers={"Content-Type": "application/json"})
    assert_problem(r, 413)


def test_unknown_path_and_method(server):
    assert_problem(server.get("/v1/nothing-here", check=False), 404)
    r = server.request("DELETE", "/v1/me", check=False)
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


def test_request_id_echoed_and_generated(server):
    r = server.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = server.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 16


def test_bad_tokens_refused(server):
    assert_problem(server.get("/v1/me"), 401)
    assert_problem(server.get("/v1/me", token="x" * 43), 401)
    assert_problem(server.get("/v1/me", token="garbage"), 401)
    assert_problem(server.get("/v1/me", headers={"Authorization": "Basic abc"}), 401)


def test_login_throttle_per_account(server):
    email = f"t-{uid()}@example.com"
    assert register(server, email).status == 201
    for _ in range(5):
        assert_problem(server.post("/v1/auth/login", {"email": email, "password": "wrong-pass"}), 401)
    r = server.post("/v1/auth/login", {"email": email, "password": PASSWORD})
    assert_problem(r, 429)
    assert 0 < int(r.headers["retry-after"]) <= 900
    # another account from the same address is unaffected
    other = f"o-{uid()}@example.com"
    assert register(server, other).status == 201
    assert server.post("/v1/auth/login", {"email": other, "password": PASSWORD}).status == 200


def test_login_throttle_exact_under_concurrency(server):
    """Twenty wrong passwords at once: never more than five reach the check."""
    from concurrent.futures import ThreadPoolExecutor
    email = f"c-{uid()}@example.com"
    assert register(server, email).status == 201

    def attempt(_):
        from conftest import Server  # noqa: F401 (one connection per thread)
        return server.post("/v1/auth/login", {"email": email, "password": "wrong-pass"}).status

    with ThreadPoolExecutor(20) as ex:
        codes = list(ex.map(attempt, range(20)))
    assert codes.count(401) == 5 and codes.count(429) == 15, codes


def test_unknown_email_same_answer(server):
    r = server.post("/v1/auth/login", {"email": f"nobody-{uid()}@example.com", "password": PASSWORD})
    assert_problem(r, 401)
    assert r["detail"] == "wrong email or password"


def test_expired_session_refused(make_server):
    s = make_server({"SHOPD_SESSION_TTL": "1"})
    tok, _ = s.user()
    assert s.get("/v1/me", token=tok).status == 200
    time.sleep(1.3)
    r = s.get("/v1/me", token=tok)
    assert_problem(r, 401)
    assert "expired" in r["detail"]


def test_guest_token(server):
    r = server.post("/v1/guest")
    assert r.status == 201 and len(r["guest_token"]) == 43
    # a guest token is not a login
    assert_problem(server.get("/v1/me", guest=r["guest_token"]), 401)


def test_cli_roles(server):
    tok, u = server.user("admin")
    assert u["role"] == "admin"
    tok, u = server.user("seller", trusted=True)
    assert u["role"] == "seller" and u["trusted"] is True
    r = server.cli("user", "create", "--email", "x@y.com", "--password", "pw", "--role", "king",
                   check=False)
    assert r.returncode != 0 and "role" in r.stderr


ADDR = {"name": "Ann Lee", "line1": "1 Main St", "city": "Seattle", "region": "WA",
        "postal_code": "98101", "country": "US", "phone": "+1 206 555 0100"}


def test_address_book(server):
    tok, _ = server.user()
    a1 = server.post("/v1/me/addresses", ADDR, token=tok)
    assert a1.status == 201 and a1["is_default"] is True, "the first address is the default"
    a2 = server.post("/v1/me/addresses", dict(ADDR, line1="2 Side St", is_default=True), token=tok)
    assert a2.status == 201 and a2["is_default"]
    lst = server.get("/v1/me/addresses", token=tok)
    assert [a["id"] for a in lst["data"]] == [a2["id"], a1["id"]]
    assert [a["is_default"] for a in lst["data"]] == [True, False]

    r = server.patch(f"/v1/me/addresses/{a1['id']}", {"city": "Tacoma"}, token=tok)
    assert r.status == 200 and r["city"] == "Tacoma" and r["line1"] == "1 Main St"
    assert server.delete(f"/v1/me/addresses/{a2['id']}", token=tok).status == 204
    lst = server.get("/v1/me/addresses", token=tok)
    assert len(lst["data"]) == 1 and lst["data"][0]["is_default"], "the remaining one is default"


def test_address_book_pages(server):
    """Found from outside: ?limit= was ignored (every address, next_cursor
    null). Pages follow the list's order and lose nothing when an address
    on the last page read is deleted between pages."""
    tok, _ = server.user()
    ids = [server.post("/v1/me/addresses", dict(ADDR, line1=f"{i} Main St"), token=tok)["id"]
           for i in range(5)]
    whole = [a["id"] for a in server.get("/v1/me/addresses", token=tok)["data"]]
    assert whole == [ids[0]] + ids[:0:-1], "the default first, then newest first"
    first = server.get("/v1/me/addresses?limit=2", token=tok)
    assert [a["id"] for a in first["data"]] == whole[:2] and first["next_cursor"]
    assert server.delete(f"/v1/me/addresses/{whole[1]}", token=tok).status == 204
    rest = server.get(f"/v1/me/addresses?limit=2&cursor={first['next_cursor']}", token=tok)
    assert [a["id"] for a in rest["data"]] == whole[2:4] and rest["next_cursor"]
    last = server.get(f"/v1/me/addresses?limit=2&cursor={rest['next_cursor']}", token=tok)
    assert [a["id"] for a in last["data"]] == whole[4:] and last["next_cursor"] is None
    for q in ("limit=0", "limit=101", "limit=x", "cursor=abc", "cursor=0"):
        assert_problem(server.get(f"/v1/me/addresses?{q}", token=tok), 422, q.split("=")[0])


def test_address_validation(server):
    tok, _ = server.user()
    for country, good, bad in [("US", "98101-1234", "9810"), ("CA", "K1A 0B1", "12345"),
                               ("GB", "SW1A 1AA", "12345"), ("DE", "10115", "1011"),
                               ("IN", "110001", "11000"), ("FR", "75001", "7500A"),
                               ("AU", "2000", "20000"), ("JP", "100-0001", "1000-001")]:
        assert server.post("/v1/me/addresses", dict(ADDR, country=country, postal_code=good),
                           token=tok).status == 201, country
        assert_problem(server.post("/v1/me/addresses", dict(ADDR, country=country, postal_code=bad),
                                   token=tok), 422, "postal_code")
    before = len(server.get("/v1/me/addresses", token=tok)["data"])
    assert_problem(server.post("/v1/me/addresses", dict(ADDR, country="XX"), token=tok), 422, "country")
    missing = dict(ADDR)
    del missing["line1"], missing["city"]
    r = server.post("/v1/me/addresses", missing, token=tok)
    assert_problem(r, 422, "line1")
    assert_problem(r, 422, "city")
    assert_problem(server.post("/v1/me/addresses", dict(ADDR, name="n" * 101), token=tok), 422, "name")
    assert_problem(server.post("/v1/me/addresses", dict(ADDR, phone="call me"), token=tok), 422, "phone")
    assert_problem(server.patch("/v1/me/addresses/999999", {"country": "US"}, token=tok), 404)
    assert len(server.get("/v1/me/addresses", token=tok)["data"]) == before


def test_address_blank_required_fields_are_missing(server):
    """Found from outside: a required field of nothing but white space
    ("   " for name, " " for line1, a tab for city) was saved as if it were
    an address (ACC-3). It is missing: 422 naming it, nothing saved, on
    create, on PATCH and inline at checkout alike."""
    tok, _ = server.user()
    for field, value in (("name", "   "), ("line1", " "), ("city", "\t"), ("postal_code", " \n"),
                         ("country", "  ")):
        r = server.post("/v1/me/addresses", dict(ADDR, **{field: value}), token=tok)
        assert_problem(r, 422, field)
        assert r["errors"][0]["message"] == "is required", r
    assert server.get("/v1/me/addresses", token=tok)["data"] == []
    a = server.post("/v1/me/addresses", ADDR, token=tok).body
    assert_problem(server.patch(f"/v1/me/addresses/{a['id']}", {"line1": "  "}, token=tok), 422,
                   "line1")
    assert server.get("/v1/me/addresses", token=tok)["data"][0]["line1"] == ADDR["line1"]
    r = server.post("/v1/orders", {"shipping_address": dict(ADDR, name=" "),
                                   "payments": [{"store_credit": True}]},
                    token=tok, headers={"Idempotency-Key": "k-" + uid()})
    assert_problem(r, 422, "shipping_address.name")


def test_address_patch_null_clears_an_optional_field(server):
    """A PATCH with null clears line2, region and phone (they answered 200
    and kept their old values); null for a required field is refused,
    naming it, and changes nothing."""
    tok, _ = server.user()
    a = server.post("/v1/me/addresses", dict(ADDR, line2="Apt 4", region="WA", phone="+1 206 555 0100"),
                    token=tok).body
    r = server.patch(f"/v1/me/addresses/{a['id']}", {"line2": None, "region": None, "phone": None},
                     token=tok)
    assert r.status == 200 and (r["line2"], r["region"], r["phone"]) == (None, None, None), r
    assert r["line1"] == a["line1"] and r["city"] == a["city"]
    for field in ("name", "line1", "city", "postal_code", "country"):
        assert_problem(server.patch(f"/v1/me/addresses/{a['id']}", {field: None, "line2": "Apt 5"},
                                    token=tok), 422, field)
    now = server.get("/v1/me/addresses", token=tok)["data"][0]
    assert now == dict(r.body), "a refused PATCH changes nothing"


def test_cards_and_devices_lists_are_paged(server):
    """Found from outside: GET /v1/me/payment-methods and /v1/me/devices
    ignored ?limit= and ?cursor= (every item, next_cursor null). Pages now
    follow the list's order, newest first, with no repeats or gaps."""
    tok, _ = server.user()
    cards = [server.post("/v1/me/payment-methods", {"type": "card", "number": "4242424242424242",
                                                    "exp_month": 12, "exp_year": 2031, "cvc": "123"},
                         token=tok)["id"] for _ in range(5)]
    devices = [server.post("/v1/me/devices", {"platform": "web", "token": f"tok-{uid()}"},
                           token=tok)["id"] for _ in range(5)]
    for path, ids in (("/v1/me/payment-methods", cards), ("/v1/me/devices", devices)):
        whole = server.get(path, token=tok)
        assert [x["id"] for x in whole["data"]] == ids[::-1] and whole["next_cursor"] is None
        seen, cursor = [], None
        for _ in range(5):
            page = server.get(f"{path}?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=tok)
            assert page.status == 200 and len(page["data"]) <= 2, page
            seen += [x["id"] for x in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == ids[::-1], (path, seen)
        for q in ("limit=0", "limit=101", "limit=x", "cursor=abc"):
            assert_problem(server.get(f"{path}?{q}", token=tok), 422, q.split("=")[0])


def test_addresses_are_private(server):
    tok1, _ = server.user()
    tok2, _ = server.user()
    a = server.post("/v1/me/addresses", ADDR, token=tok1)
    assert_problem(server.patch(f"/v1/me/addresses/{a['id']}", {"city": "X"}, token=tok2), 404)
    assert_problem(server.delete(f"/v1/me/addresses/{a['id']}", token=tok2), 404)
    assert server.get("/v1/me/addresses", token=tok2)["data"] == []
    assert_problem(server.delete("/v1/me/addresses/abc", token=tok1), 404)


def test_sigterm_is_clean(make_server):
    s = make_server()
    s.user()
    assert s.stop() == 0


def test_logout_reaches_other_processes(make_server):
    """Two shopd processes on one database: a token revoked through one is
    refused by the other within a second (its session cache follows the
    change feed)."""
    from conftest import Server
    a = make_server()
    b = Server(db=a.db).start()
    try:
        tok, _ = a.user()
        assert b.get("/v1/me", token=tok).status == 200  # now cached in b
        assert a.post("/v1/auth/logout", token=tok).status == 204
        deadline = time.time() + 1.0
        while time.time() < deadline and b.get("/v1/me", token=tok).status == 200:
            time.sleep(0.05)
        assert_problem(b.get("/v1/me", token=tok), 401)
    finally:
        b.stop()
