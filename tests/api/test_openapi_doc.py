"""docs/openapi.yaml against the server (issue #17): what Prism and redocly
found, and the checkers themselves (a check that cannot fail is worse than
none)."""
import pytest

from conftest import assert_problem, prism_violations
import openapi_check


def test_store_credit_reason_is_the_admins_free_text(server):
    """The document's enum forbade the reason an admin gives a grant."""
    admin, _ = server.user("admin")
    tok, me = server.user()
    r = server.post(f"/v1/admin/users/{me['id']}/store-credit",
                    {"amount_cents": 500, "reason": "goodwill"}, token=admin)
    assert r.status in (200, 201), r
    r = server.get("/v1/me/store-credit", token=tok)
    assert r.status == 200 and [e["reason"] for e in r["entries"]] == ["goodwill"], r


def test_unsupported_media_type_is_documented_where_a_body_is_read(server):
    tok, _ = server.user()
    r = server.post("/v1/me/addresses", raw=b"name=x", token=tok,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(r, 415)
    # the document lists it for this operation (not only the generic note)
    spec, _ = openapi_check._load()
    assert "415" in spec["paths"]["/v1/me/addresses"]["post"]["responses"]


def test_405_and_options_carry_allow(server):
    # direct: no operation describes these methods, so Prism has no route for them
    r = server.request("DELETE", "/v1/me", direct=True)  # checked against MethodNotAllowed
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
    r = server.request("OPTIONS", "/v1/me/addresses/1", direct=True)
    assert r.status == 204 and set(r.headers["allow"].split(", ")) == {"PATCH", "DELETE"}


def test_every_operation_has_an_operation_id_and_security():
    spec, _ = openapi_check._load()
    ids = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert "security" in op, (method, path)
                ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


def test_checkers_fail_when_they_should():
    with pytest.raises(openapi_check.OpenAPIMismatch):
        openapi_check.check("DELETE", "/v1/me", 405, {"content-type": "application/problem+json"},
                            {"type": "x", "title": "x", "status": 405, "detail": "x", "errors": []})
    with pytest.raises(openapi_check.OpenAPIMismatch):
        openapi_check.check("GET", "/v1/me/store-credit", 200, {"content-type": "application/json"},
                            {"balance_cents": 1, "currency": "USD",
                             "entries": [{"id": 1, "amount_cents": 1}]})
    v = ('[{"location":["response","body"],"severity":"Error","code":"type",'
         '"message":"must be integer"}]')
    with pytest.raises(openapi_check.OpenAPIMismatch):
        prism_violations("GET", "/v1/me", 200, {"sl-violations": v})
    req = v.replace('"response"', '"request"')
    with pytest.raises(openapi_check.OpenAPIMismatch):
        prism_violations("POST", "/v1/me/addresses", 201, {"sl-violations": req})
    prism_violations("POST", "/v1/me/addresses", 422, {"sl-violations": req})  # expected: bad input


def test_operations_endpoints_answer_as_documented(server):
    """So the Prism run sees every operation (make api-prism)."""
    assert server.get("/readyz").status == 200
    r = server.get("/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
