"""HTTP hardening (issue #17): every request gets an answer (or a close)
quickly, bytes a client sent are quoted back as valid UTF-8, an encoded NUL
cannot cut a path parameter or a query value, and waits on slow or silent
clients are bounded by configuration (SHOPD_HTTP_*_TIMEOUT).

The raw-socket tests speak to shopd itself (server.port), never through a
validating proxy: they send what no well-behaved client sends."""
import json
import os
import re
import socket
import time

import pytest
import yaml

from conftest import ROOT, assert_problem, uid
from shop_fixtures import ADDRESS, Shop


@pytest.fixture(scope="module")
def shop(server):
    return Shop(server)


def raw_exchange(port, data, timeout=10.0, drip=None):
    """Sends `data` on a fresh connection (a byte every `drip` seconds when
    given) and reads until the server closes or `timeout` passes. Returns
    (bytes received, seconds until the close or None if still open)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    t0 = time.time()
    got = b""
    try:
        if drip:
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                time.sleep(drip)
        else:
            s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                return got, time.time() - t0
            got += b
    except socket.timeout:
        return got, None
    except (ConnectionResetError, BrokenPipeError):
        return got, time.time() - t0
    finally:
        s.close()


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m[1]) if m else None


def body_of(raw):
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def access_log_lines(server):
    time.sleep(0.5)  # the access log is flushed every 200 ms
    with open(os.path.join(server.dir, "access.log"), "rb") as f:
        return f.read().splitlines()


# ---- invalid UTF-8 in a path ----------------------------------------------------

def id_routes():
    """Every (method, path template) of the document with a path parameter."""
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    out = []
    for path, item in spec["paths"].items():
        if "{" in path:
            out += [(m.upper(), path) for m in item if m in ("get", "post", "put", "patch", "delete")]
    return out


def test_invalid_utf8_in_every_id_route_gets_a_problem(server, shop):
    """Before the fix the raw path went into the problem's detail, the JSON
    encoder refused it and the connection closed with no answer."""
    routes = id_routes()
    assert len(routes) > 20
    for method, template in routes:
        path = re.sub(r"\{[^}]+\}", "%ff%fe", template)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        r = server.request(method, path, body=body, token=shop.admin, check=False)
        assert 400 <= r.status < 500, (method, path, r)
        assert_problem(r, r.status)
        assert "\ufffd" in r["detail"] or r.status != 404, (method, path, r)
    # a path that matches no route quotes it too
    r = server.get("/v1/nothing-here/%ff%c0%80", check=False)
    assert_problem(r, 404)
    assert r["detail"] == "no resource at /v1/nothing-here/\ufffd\ufffd\ufffd"


def test_access_log_stays_valid_json_and_utf8(server):
    marker = uid()
    r = server.get(f"/v1/products/%ff{marker}%fe%c3%a9", check=False)
    assert_problem(r, 404)
    lines = [ln for ln in access_log_lines(server) if marker.encode() in ln]
    assert len(lines) == 1, lines
    entry = json.loads(lines[0].decode("utf-8"))  # raises on invalid UTF-8
    assert entry["path"] == f"/v1/products/\\xff{marker}\\xfe\u00e9"
    assert entry["status"] == 404
    for ln in access_log_lines(server):
        json.loads(ln.decode("utf-8"))


def test_query_parameter_not_utf8_is_a_422_naming_it(server):
    """Search checked its own `q`; the other routes passed such bytes on."""
    for q, field in (("/v1/search?q=%ff", "q"), ("/v1/products?category_id=%c0%80", "category_id"),
                     ("/v1/products?brand=%ed%a0%80", "brand"), ("/v1/search?%fe=1", "\ufffd")):
        assert_problem(server.get(q, check=False), 422, field)


# ---- encoded NUL ----------------------------------------------------------------------

def test_encoded_nul_in_an_id_changes_nothing(server, shop):
    tok, _ = server.user()
    a = server.post("/v1/me/addresses", ADDRESS, token=tok)
    assert a.status == 201, a
    aid = a["id"]
    r = server.delete(f"/v1/me/addresses/{aid}%00junk", token=tok, check=False)
    assert_problem(r, 400)
    assert "NUL" in r["detail"]
    assert [x["id"] for x in server.get("/v1/me/addresses", token=tok)["data"]] == [aid], \
        "the address must still be there"

    p = shop.product(price=700, stock=20)
    cart = server.post("/v1/cart/lines", {"variant_id": p["variants"][0]["id"], "quantity": 2},
                       token=tok)
    assert cart.status == 201, cart
    line = cart["lines"][0]
    r = server.patch(f"/v1/cart/lines/{line['id']}%00junk", {"quantity": 5}, token=tok, check=False)
    assert_problem(r, 400)
    r = server.get("/v1/cart", token=tok)
    assert [(x["id"], x["quantity"]) for x in r["lines"]] == [(line["id"], 2)]

    # lower case, in a query value, and at the very end
    assert_problem(server.delete(f"/v1/me/addresses/{aid}%00", token=tok, check=False), 400)
    assert_problem(server.get("/v1/products?limit=5%00x", check=False), 400)
    assert_problem(server.get("/v1/search?q=a%00b", check=False), 400)
    assert len(server.get("/v1/me/addresses", token=tok)["data"]) == 1


def test_ids_are_all_digits(server, shop):
    tok, _ = server.user()
    aid = server.post("/v1/me/addresses", ADDRESS, token=tok)["id"]
    for bad in (f"{aid}junk", f"+{aid}", f"{aid}.0", f"%20{aid}", f"{aid}%20", "0", "-1",
                "99999999999999999999", f"0x{aid:x}"):
        r = server.delete(f"/v1/me/addresses/{bad}", token=tok, check=False)
        assert r.status in (400, 404), (bad, r)
        assert_problem(r, r.status)
    assert len(server.get("/v1/me/addresses", token=tok)["data"]) == 1


# ---- malformed framing and slow clients ---------------------------------------

def test_transfer_encoding_other_than_chunked_is_a_400_at_once(server):
    """libmicrohttpd 0.9.75 reads a body of unknown framing until the client
    closes: without the check this waited for the 60 s connection timeout."""
    for te in (b"bogus", b"gzip", b"chunked, gzip"):
        req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: " + te + b"\r\n\r\n{}")
        got, closed = raw_exchange(server.port, req, timeout=10)
        assert status_of(got) == 400, (te, got)
        assert closed is not None and closed < 3, (te, closed)
        assert "Transfer-Encoding" in body_of(got)["detail"]


def test_transfer_encoding_and_content_length_together_is_a_400(server):
    req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    got, closed = raw_exchange(server.port, req, timeout=10)
    assert status_of(got) == 400, got
    assert closed is not None and closed < 3


def test_content_length_fields_that_disagree_are_a_400_and_run_nothing(server):
    """Found from outside: with two Content-Length fields libmicrohttpd took
    the first, stored an address, and ran the bytes after it as a second
    request; a proxy taking the last one would not have (request smuggling)."""
    tok, _ = server.user()
    body = json.dumps(ADDRESS).encode()
    smuggled = (b"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok.encode()
                + b"\r\nX-Request-Id: smuggled\r\n\r\n")
    req = (b"POST /v1/me/addresses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok.encode()
           + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d"
           b"\r\n\r\n" % (len(body), len(body) + len(smuggled)) + body + smuggled)
    got, closed = raw_exchange(server.port, req, timeout=10)
    assert status_of(got) == 400, got
    assert "Content-Length" in body_of(got)["detail"]
    assert b"smuggled" not in got and closed is not None and closed < 3
    assert server.get("/v1/me/addresses", token=tok)["data"] == []
    # The same value twice is one length (RFC 9112 §6.3 allows folding it).
    req = (b"POST /v1/me/addresses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok.encode()
           + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d"
           b"\r\nConnection: close\r\n\r\n" % (len(body), len(body)) + body)
    got, _ = raw_exchange(server.port, req, timeout=10)
    assert status_of(got) == 201, got


def test_http_1_1_without_host_is_a_400(server):
    got, _ = raw_exchange(server.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status_of(got) == 400 and "Host" in body_of(got)["detail"], got
    got, _ = raw_exchange(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status_of(got) == 200, got  # HTTP/1.0 has no Host to require


def test_an_unknown_method_is_a_405_with_allow(server, shop):
    """Found from outside: FOO, TRACE or PROPFIND got a 405 without Allow."""
    for method in (b"FOO", b"TRACE", b"PROPFIND"):
        got, _ = raw_exchange(server.port, method + b" /v1/products HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n")
        assert status_of(got) == 405, got
        assert re.search(rb"(?im)^allow: GET, POST\r$", got), got
    got, _ = raw_exchange(server.port, b"FOO /nowhere HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
    assert status_of(got) == 404, got


def test_chunked_body_still_works(server):
    body = json.dumps({"email": "nobody-" + uid() + "@example.com", "password": "x" * 12}).encode()
    req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    got, closed = raw_exchange(server.port, req, timeout=10)
    assert status_of(got) == 401, got


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\xff\xfe garbage \x80\x81\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello's start
    b"GET /v1/products HTTP/1.1\r\nHost: x\r\n",  # a head that never ends
])
def test_garbage_is_closed_within_the_header_timeout(make_server, garbage):
    s = make_server({"SHOPD_HTTP_HEADER_TIMEOUT": "1"})
    got, closed = raw_exchange(s.port, garbage, timeout=10)
    assert closed is not None and closed < 3.5, (garbage, closed, got)
    assert got == b"" or status_of(got) in (400, 408, 431), got
    assert s.get("/healthz").status == 200


def test_default_header_timeout_is_a_few_seconds(server):
    """Before: 60 s of silence on a connection that said nothing useful."""
    got, closed = raw_exchange(server.port, b"\x00\x01\xff\xfe garbage\r\n\r\n", timeout=15)
    assert closed is not None and closed < 8, closed


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(make_server):
    s = make_server({"SHOPD_HTTP_IDLE_TIMEOUT": "2", "SHOPD_HTTP_HEADER_TIMEOUT": "10"})
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.settimeout(10)
    t0 = time.time()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while True:
        b = sock.recv(65536)
        if not b:
            break
        got += b
    took = time.time() - t0
    sock.close()
    assert status_of(got) == 200
    assert 1.5 < took < 5, took


def test_a_body_trickling_in_is_cut_off_after_the_body_timeout(make_server):
    s = make_server({"SHOPD_HTTP_BODY_TIMEOUT": "2"})
    body = b'{"email": "a@example.com", "password": "0123456789012345678901234567890"}'
    head = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.settimeout(10)
    sock.sendall(head)
    t0 = time.time()
    closed = None
    try:
        for i in range(len(body)):
            sock.sendall(body[i:i + 1])
            time.sleep(0.25)
        closed = None
    except (BrokenPipeError, ConnectionResetError):
        closed = time.time() - t0
    if closed is None:
        try:
            closed = time.time() - t0 if sock.recv(65536) == b"" else None
        except ConnectionResetError:
            closed = time.time() - t0
    sock.close()
    assert closed is not None and closed < 5, closed
    assert s.get("/healthz").status == 200
