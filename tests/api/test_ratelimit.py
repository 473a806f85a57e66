"""Rate limiting (OPS-3): 429 with Retry-After and the draft RateLimit
headers, recovery once the bucket refills, per-user buckets that leave
other users alone, and the switch that turns it off."""
import re
import time

from conftest import assert_problem


def policy(resp):
    """{scope: (q, w)} from RateLimit-Policy, {scope: (r, t)} from RateLimit."""
    def parse(value, a, b):
        out = {}
        for item in value.split(","):
            m = re.fullmatch(rf'\s*"(\w+)";{a}=(\d+);{b}=(\d+)\s*', item)
            assert m, value
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return out
    return (parse(resp.headers["ratelimit-policy"], "q", "w"),
            parse(resp.headers["ratelimit"], "r", "t"))


def test_address_bucket_answers_429_and_recovers(make_server):
    # One token every 2 s, bursts of 3: slow enough that a loaded machine
    # cannot earn a token back between the requests.
    s = make_server({"SHOPD_RATE_READ_IP": "0.5/3"})
    got = [s.get("/v1/categories") for _ in range(4)]
    assert [r.status for r in got] == [200, 200, 200, 429]
    pol, state = policy(got[0])
    assert pol == {"ip": (3, 6)} and state["ip"][0] == 2
    assert [policy(r)[1]["ip"][0] for r in got[:3]] == [2, 1, 0]
    refused = got[3]
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) == 2
    assert policy(refused)[1]["ip"][0] == 0 and 5 <= policy(refused)[1]["ip"][1] <= 6
    assert "read" in refused["detail"]
    time.sleep(2.05)
    again = s.get("/v1/categories")  # one token has come back
    assert again.status == 200 and policy(again)[1]["ip"][0] == 0
    # Unlimited routes carry no headers; the refusals are counted.
    health = s.get("/healthz")
    assert "ratelimit" not in health.headers
    assert 'shopd_ratelimit_refused_total{class="read",scope="ip"} 1' in s.get("/metrics").body


def test_one_user_limited_while_another_is_not(make_server):
    s = make_server({"SHOPD_RATE_READ_USER": "0.2/2"})  # one token every 5 s
    a, _ = s.user()
    b, _ = s.user()
    assert [s.get("/v1/me", token=a).status for _ in range(3)] == [200, 200, 429]
    r = s.get("/v1/me", token=b)
    assert r.status == 200
    pol, state = policy(r)
    assert pol["user"] == (2, 10) and state["user"][0] == 1 and "ip" in pol
    refused = s.get("/v1/me", token=a)
    assert_problem(refused, 429)
    assert "account" in refused["detail"] and 1 <= int(refused.headers["retry-after"]) <= 5
    # Anonymous reads of the same class are not the user's bucket.
    assert s.get("/v1/categories").status == 200


def test_default_policies(make_server):
    """The defaults limit no ordinary test or benchmark (reads: 200,000/s
    per address), but a script hammering one account's writes is stopped
    (1,000/s, bursts of 2,000)."""
    s = make_server()
    tok, _ = s.user()
    r = s.get("/v1/me/wishlist", token=tok)
    pol, _ = policy(r)
    assert pol["ip"] == (400000, 2)
    r = s.put("/v1/me/wishlist/12345", token=tok)
    pol, _ = policy(r)
    assert pol["user"] == (2000, 2) and pol["ip"] == (40000, 2)


def test_switched_off(make_server):
    s = make_server({"SHOPD_RATE_LIMIT": "off", "SHOPD_RATE_READ_IP": "1/1"})
    assert [s.get("/v1/categories").status for _ in range(5)] == [200] * 5
    assert "ratelimit" not in s.get("/v1/categories").headers


def test_bad_override_is_ignored(make_server):
    s = make_server({"SHOPD_RATE_READ_IP": "fast"})
    r = s.get("/v1/categories")
    assert r.status == 200 and policy(r)[0]["ip"] == (400000, 2)
